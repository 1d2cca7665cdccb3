"""The plugin host: discovers plugins, calls their hooks one by one, and keeps provenance."""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
import threading
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from cooperbench import hookspecs
from cooperbench.errors import BrokenPluginError, DuplicatePluginError, UnknownPluginError

KINDS = ("agent", "backend", "connector", "evaluator")
_HOOK_OF_KIND = {
    "agent": "cooperbench_register_agents",
    "backend": "cooperbench_register_backends",
    "connector": "cooperbench_register_connectors",
    "evaluator": "cooperbench_register_evaluators",
}
ENTRY_POINT_GROUP = "cooperbench"
EXTERNAL_AGENTS_VAR = "COOPERBENCH_EXTERNAL_AGENTS"
STRICT_VAR = "COOPERBENCH_STRICT_PLUGINS"

SOURCE_ENTRY_POINT = "entry point"
SOURCE_ENV_MODULE = "env var module"
SOURCE_DECORATOR = "decorator"

#: Names we ship in distributions of their own, so an unknown name can say what to install.
KNOWN_DISTRIBUTIONS: dict[tuple[str, str], str] = {
    ("agent", "mini_swe_agent"): "cooperbench-agent-miniswe",
    ("agent", "mini_swe_agent_v2"): "cooperbench-agent-miniswe",
    ("agent", "openhands"): "cooperbench-agent-openhands",
    ("agent", "claude_code"): "cooperbench-agent-claude-code",
    ("agent", "example"): "cooperbench-agent-example",
    ("backend", "docker"): "cooperbench-backend-docker",
    ("backend", "modal"): "cooperbench-backend-modal",
    ("backend", "gcp"): "cooperbench-backend-gcp",
}

#: Names upstream CooperBench documents that no distribution on PyPI provides, with what to do instead.
NOT_ON_PYPI: dict[tuple[str, str], str] = {
    ("agent", "swe_agent"): (
        "Agent 'swe_agent' (named in upstream CooperBench's docs) is not installable from PyPI: the `swe-agent` "
        "name there holds a 0.0.1 placeholder, not SWE-agent. To run SWE-agent, wrap it as an agent plugin and "
        "publish it as a distribution of its own; docs/plugins-agents.md shows how."
    ),
}


@dataclass
class Registration:
    """One named plugin object (an agent, backend, connector or evaluator) and where it came from."""

    kind: str
    name: str
    target: Any
    plugin: str
    distribution: str | None = None
    version: str | None = None
    source: str = SOURCE_ENTRY_POINT
    aliases: tuple[str, ...] = ()
    description: str | None = None
    error: str | None = None
    _loaded: Any = field(default=None, repr=False)

    @property
    def status(self) -> str:
        return "ok" if self.error is None else "error"

    @property
    def origin(self) -> str:
        """The distribution, or the module for code that is not installed as one."""
        return self.distribution or self.plugin

    def load(self) -> Any:
        """Return the registered object, importing a lazy ``"module:attr"`` target on first use.

        Raises:
            BrokenPluginError: the plugin is broken or its target cannot be imported.
        """
        if self.error is not None:
            raise BrokenPluginError(f"{self.kind} {self.name!r} from {self.origin} is broken: {self.error}")
        if self._loaded is None:
            if isinstance(self.target, str):
                module_name, _, attr = self.target.partition(":")
                try:
                    obj: Any = importlib.import_module(module_name)
                    for part in attr.split(".") if attr else ():
                        obj = getattr(obj, part)
                except Exception as exc:
                    raise BrokenPluginError(
                        f"{self.kind} {self.name!r} from {self.origin}: cannot import {self.target!r}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                self._loaded = obj
            else:
                self._loaded = self.target
        return self._loaded

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "source": self.source,
            "status": self.status,
            "error": self.error,
            "plugin": self.plugin,
            "aliases": list(self.aliases),
            "description": self.description,
        }


# Registrations made with the ``@register`` decorator live outside any host: a class may be
# decorated before or after the host is first built, and both must be seen.
_decorated: list[Registration] = []
_decorated_lock = threading.Lock()
_current_source: contextvars.ContextVar[str] = contextvars.ContextVar("cooperbench_source", default=SOURCE_DECORATOR)


def _distribution_of_module(module_name: str) -> tuple[str | None, str | None]:
    top = module_name.split(".")[0]
    if top in ("__main__", ""):
        return None, None
    dists = _packages_distributions().get(top) or []
    if not dists:
        return None, None
    name = dists[0]
    try:
        return name, metadata.version(name)
    except metadata.PackageNotFoundError:
        return name, None


_pkg_dists_cache: dict[str, list[str]] | None = None


def _packages_distributions() -> dict[str, list[str]]:
    global _pkg_dists_cache
    if _pkg_dists_cache is None:
        _pkg_dists_cache = dict(metadata.packages_distributions())
    return _pkg_dists_cache


def add_decorated(
    kind: str, name: str, target: Any, *, aliases: tuple[str, ...] = (), description: str | None = None
) -> None:
    """Record a registration made by a decorator (``cooperbench.agents.registry.register``)."""
    aliases = check_registration(kind, name, target, aliases, description)
    module = getattr(target, "__module__", None) or "__main__"
    dist, version = _distribution_of_module(module)
    reg = Registration(
        kind=kind,
        name=name,
        target=target,
        plugin=module,
        distribution=dist,
        version=version,
        source=_current_source.get(),
        aliases=tuple(aliases),
        description=description,
    )
    with _decorated_lock:
        # Re-registering a name from the same module (a reload, a re-run cell) replaces it.
        _decorated[:] = [r for r in _decorated if not (r.kind == kind and r.name == name and r.plugin == module)]
        _decorated.append(reg)


def check_registration(
    kind: str, name: Any, target: Any, aliases: Any = (), description: Any = None
) -> tuple[str, ...]:
    """Validate the arguments of a ``register`` call and return the aliases as a tuple.

    A plugin that passes nonsense is marked broken here, with a message naming the bad
    argument, instead of breaking ``cooperbench plugins`` or a later lookup.

    Raises:
        TypeError: ``name``, ``target``, ``aliases`` or ``description`` has the wrong type.
        ValueError: ``name`` is empty or a lazy ``target`` is not ``"module:attr"``.
    """
    if not isinstance(name, str):
        raise TypeError(f"register(): the {kind} name must be a string, got {name!r}")
    if not name.strip():
        raise ValueError(f"register(): the {kind} name must not be empty")
    if isinstance(target, str):
        module_name, sep, attr = target.partition(":")
        if not (module_name and sep and attr):
            raise ValueError(
                f"register({name!r}, {target!r}): a lazy {kind} target must be a 'module:attr' string, "
                f"e.g. 'my_package.runner:MyRunner'"
            )
    elif not callable(target):
        raise TypeError(
            f"register({name!r}, ...): the target must be a class or a 'module:attr' string, got {target!r}"
        )
    if isinstance(aliases, str):
        raise TypeError(f"register({name!r}, ..., aliases={aliases!r}): aliases must be a tuple, e.g. ({aliases!r},)")
    aliases = tuple(aliases)
    if not all(isinstance(a, str) and a.strip() for a in aliases):
        raise TypeError(f"register({name!r}, ...): every alias must be a non-empty string, got {aliases!r}")
    if description is not None and not isinstance(description, str):
        raise TypeError(f"register({name!r}, ...): description must be a string, got {description!r}")
    return aliases


def _strict() -> bool:
    return os.environ.get(STRICT_VAR, "").strip().lower() in ("1", "true", "yes", "on")


def _entry_point_kind(ep_name: str) -> str:
    """Guess the kind of a plugin that failed before registering anything, from its entry point name."""
    head = ep_name.split("-", 1)[0]
    return head if head in KINDS else "plugin"


class _StrictModeFailure(BrokenPluginError):
    """A broken plugin under ``COOPERBENCH_STRICT_PLUGINS=1``: propagates instead of being recorded."""


class PluginHost:
    """Discovers plugins through entry points and holds what they registered.

    Build it with :func:`get_host`; it is created once per process.
    """

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._registered: list[Registration] = []
        self._broken: list[Registration] = []
        self._dists: dict[str, tuple[str | None, str | None]] = {}
        self._env_modules_seen: set[str] = set()
        self._lock = threading.RLock()
        if load_entry_points:
            self._load_entry_points()

    # -- discovery -------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            # Two distributions may use the same entry point name (a fork of a plugin); pluggy
            # needs unique names, and the duplicate check later names both distributions.
            name = ep.name if not self._pm.has_plugin(ep.name) else f"{ep.name} ({dist_name})"
            try:
                module = ep.load()
                if self._pm.is_registered(module):
                    # Two distributions ship the same import package: one overwrote the other's files.
                    other = self._pm.get_name(module) or "?"
                    other_dist = self._dists.get(other, (None, None))[0] or "unknown"
                    raise BrokenPluginError(
                        f"module {ep.value!r} is already registered as plugin {other!r} of distribution "
                        f"{other_dist}; both {other_dist} and {dist_name or 'unknown'} install it: "
                        "uninstall one of them"
                    )
                self.add_plugin(module, name=name, distribution=dist_name, version=version)
            except _StrictModeFailure:
                raise
            except (Exception, SystemExit) as exc:  # a plugin calling sys.exit() must not end the CLI
                self._mark_broken(name, dist_name, version, exc, kind=_entry_point_kind(ep.name))

    def add_plugin(
        self,
        module: Any,
        *,
        name: str,
        distribution: str | None = None,
        version: str | None = None,
        source: str = SOURCE_ENTRY_POINT,
    ) -> None:
        """Register a plugin module (or object) and call each of its registration hooks on its own."""
        with self._lock:
            self._pm.register(module, name=name)
            self._dists[name] = (distribution, version)
            # pluggy accepts hookimpls of unknown hooks silently; a misspelt hook must be visible.
            for caller in self._pm.get_hookcallers(module) or ():
                if caller.spec is None:
                    known = ", ".join(h for h in dir(hookspecs) if h.startswith(f"{hookspecs.PROJECT_NAME}_"))
                    unknown = ValueError(f"unknown hook {caller.name!r} (the hooks are: {known})")
                    self._mark_broken(name, distribution, version, unknown, kind="plugin")
            for kind, hook_name in _HOOK_OF_KIND.items():
                for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
                    if impl.plugin_name != name:
                        continue
                    collected: list[Registration] = []

                    def register(
                        reg_name: str,
                        target: Any,
                        *,
                        aliases: tuple[str, ...] | list[str] = (),
                        description: str | None = None,
                        _kind: str = kind,
                        _into: list[Registration] = collected,
                    ) -> None:
                        _into.append(
                            Registration(
                                kind=_kind,
                                name=reg_name,
                                target=target,
                                plugin=name,
                                distribution=distribution,
                                version=version,
                                source=source,
                                aliases=check_registration(_kind, reg_name, target, aliases, description),
                                description=description,
                            )
                        )

                    try:
                        impl.function(register)
                    except (Exception, SystemExit) as exc:
                        self._mark_broken(name, distribution, version, exc, kind=kind)
                        continue
                    self._registered.extend(collected)

    def _mark_broken(
        self, plugin: str, dist: str | None, version: str | None, exc: BaseException, *, kind: str
    ) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if _strict():
            raise _StrictModeFailure(
                f"Error importing plugin {plugin!r} (distribution {dist or 'unknown'}): {error}\n"
                + "".join(traceback.format_exception(exc))
            ) from exc
        self._broken.append(
            Registration(
                kind=kind, name=plugin, target=None, plugin=plugin, distribution=dist, version=version, error=error
            )
        )

    def load_external_agents(self) -> None:
        """Import the modules named in ``COOPERBENCH_EXTERNAL_AGENTS`` (each once per process).

        A module that fails to import is one warning naming it; the others still load.
        """
        raw = os.environ.get(EXTERNAL_AGENTS_VAR, "")
        with self._lock:  # runner threads look agents up at the same time; import each module once
            self._load_external_agents(raw)

    def _load_external_agents(self, raw: str) -> None:
        for module_name in (m.strip() for m in raw.split(",")):
            if not module_name or module_name in self._env_modules_seen:
                continue
            self._env_modules_seen.add(module_name)
            token = _current_source.set(SOURCE_ENV_MODULE)
            try:
                importlib.import_module(module_name)
            except (Exception, SystemExit) as exc:
                message = f"{EXTERNAL_AGENTS_VAR}: cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
                if _strict():
                    raise BrokenPluginError(message) from exc
                warnings.warn(message, stacklevel=4)
                self._broken.append(
                    Registration(
                        kind="agent",
                        name=module_name,
                        target=None,
                        plugin=module_name,
                        source=SOURCE_ENV_MODULE,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                )
            finally:
                _current_source.reset(token)

    # -- queries ---------------------------------------------------------------------

    def registrations(self, kind: str | None = None) -> list[Registration]:
        """Every registration (including broken plugins), sorted by kind and name."""
        if kind in (None, "agent"):
            self.load_external_agents()
        with _decorated_lock:
            decorated = list(_decorated)
        regs = [*self._registered, *decorated, *self._broken]
        if kind is not None:
            regs = [r for r in regs if r.kind == kind]
        conflicts = self._conflicts(regs)
        out = []
        for r in regs:
            others = conflicts.get((r.kind, r.name))
            if others and r.error is None:
                r = Registration(**{**r.__dict__, "error": self._duplicate_message(r.kind, r.name, others)})
            out.append(r)
        return sorted(out, key=lambda r: (KINDS.index(r.kind) if r.kind in KINDS else len(KINDS), r.name, r.origin))

    @staticmethod
    def _conflicts(regs: list[Registration]) -> dict[tuple[str, str], list[Registration]]:
        by_key: dict[tuple[str, str], dict[str, Registration]] = {}
        for r in regs:
            if r.error is not None:
                continue
            for n in (r.name, *r.aliases):
                by_key.setdefault((r.kind, n), {})[r.origin] = r
        return {key: list(v.values()) for key, v in by_key.items() if len(v) > 1}

    @staticmethod
    def _duplicate_message(kind: str, name: str, regs: list[Registration]) -> str:
        origins = " and ".join(sorted(r.origin for r in regs))
        return f"duplicate {kind} name {name!r}: registered by both {origins}; uninstall one of them"

    def names(self, kind: str) -> list[str]:
        """Names (without aliases) of the working plugins of ``kind``."""
        return sorted({r.name for r in self.registrations(kind) if r.kind == kind and r.error is None})

    def get(self, kind: str, name: str) -> Registration:
        """Look up a plugin by kind and name (or alias).

        Raises:
            UnknownPluginError: nothing of that kind is registered under ``name``.
            DuplicatePluginError: two distributions register ``name``.
            BrokenPluginError: the plugin that registers ``name`` failed to load.
        """
        # Broken plugins carry no target; a duplicate carries its error and is reported below.
        matches = [r for r in self.registrations(kind) if r.target is not None and name in (r.name, *r.aliases)]
        if not matches:
            raise UnknownPluginError(self.unknown_message(kind, name))
        origins = {r.origin for r in matches}
        if len(origins) > 1:
            raise DuplicatePluginError(self._duplicate_message(kind, name, matches))
        # The same origin may register a name twice (a decorator re-run): the last one wins.
        reg = matches[-1]
        # A conflict on one of its other names does not make this lookup ambiguous.
        return Registration(**{**reg.__dict__, "error": None}) if reg.error else reg

    def unknown_message(self, kind: str, name: str) -> str:
        installed = ", ".join(self.names(kind)) or "none"
        message = f"Unknown {kind} {name!r}. Installed {kind}s: {installed}."
        dist = KNOWN_DISTRIBUTIONS.get((kind, name))
        if dist:
            message += f" {kind.capitalize()} {name!r} is provided by {dist}: pip install {dist}"
        elif (kind, name) in NOT_ON_PYPI:
            message += " " + NOT_ON_PYPI[(kind, name)]
        broken = [r for r in self._broken if r.kind in (kind, "plugin")]
        if broken:
            message += " Broken plugins (see `cooperbench plugins`): " + ", ".join(
                f"{r.name} ({r.error})" for r in broken
            )
        return message

    def call_commands_hook(self, app: Any) -> None:
        """Let every plugin add CLI sub-commands; a failing plugin is marked broken."""
        for impl in self._pm.hook.cooperbench_register_commands.get_hookimpls():
            try:
                impl.function(app)
            except (Exception, SystemExit) as exc:
                dist, version = self._dists.get(impl.plugin_name, (None, None))
                self._mark_broken(impl.plugin_name, dist, version, exc, kind="plugin")


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host, built on first use."""
    global _host
    if _host is None:
        with _host_lock:
            if _host is None:
                _host = PluginHost()
    return _host


def reset_host() -> None:
    """Forget the plugin host so the next :func:`get_host` rediscovers entry points (after a pip install)."""
    global _host, _pkg_dists_cache
    with _host_lock:
        _host = None
        _pkg_dists_cache = None
    # importlib.metadata and the import system cache directory listings: see newly installed files.
    importlib.invalidate_caches()


@contextlib.contextmanager
def isolated_registry() -> Iterator[None]:
    """Run a block with its own decorator registrations and host (for tests and notebooks)."""
    global _host
    with _decorated_lock:
        saved = list(_decorated)
    saved_host = _host
    try:
        yield
    finally:
        with _decorated_lock:
            _decorated[:] = saved
        _host = saved_host
