"""Messaging URLs: which transport, where, and which namespace.

``redis://host:6379/0#<namespace>`` (also ``rediss://``) is a Redis server; the fragment is
the namespace, as in earlier releases (``redis://localhost:6379#run:ab12cd34``).
``embedded://<namespace>`` is the in-process bus. User info in either (``redis://user:pw@host``,
``embedded://agent1:<token>@<namespace>``) is the credentials of one agent. Any other scheme names a ``connector``
plugin that gets the whole URL. A URL without a namespace uses ``default``.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cooperbench.errors import ConfigError, UnknownPluginError

if TYPE_CHECKING:
    from cooperbench.messaging.base import MessageBus

__all__ = ["DEFAULT_NAMESPACE", "BusAddress", "choose_url", "open_bus", "parse_url", "redact", "with_namespace"]

DEFAULT_NAMESPACE = "default"
EMBEDDED_SCHEME = "embedded"
REDIS_SCHEMES = ("redis", "rediss")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Namespaces end up in URL fragments and, between braces, in Redis keys.
_BAD_NAMESPACE = re.compile(r"[\s#{}]")
# An agent's own embedded URL: embedded://<agent>:<token>@<namespace>.
_EMBEDDED_CREDENTIALS = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9._-]*):([A-Za-z0-9_-]+)@")


@dataclass(frozen=True)
class BusAddress:
    """A parsed messaging URL.

    Attributes:
        url: the URL as given.
        scheme: ``redis``, ``embedded``, or a plugin's scheme.
        location: the URL without its namespace (what the transport connects to).
        namespace: the namespace (``default`` when the URL has none).
        username: the user the URL authenticates as, if any (an agent's own URL names the agent).
        password: its password or token.
    """

    url: str
    scheme: str
    location: str
    namespace: str
    username: str | None = None
    password: str | None = None


def parse_url(url: str) -> BusAddress:
    """Split a messaging URL into scheme, location and namespace.

    Raises:
        ConfigError: ``url`` has no ``scheme://`` or its namespace holds whitespace, ``#``, ``{`` or ``}``.
    """
    match = _SCHEME.match(url or "")
    if not match:
        raise ConfigError(
            f"messaging URL {url!r} has no scheme; use redis://host:port/db#<namespace> or embedded://<namespace>"
        )
    scheme = match.group(1).lower()
    username = password = None
    if scheme == EMBEDDED_SCHEME:
        location, namespace = f"{EMBEDDED_SCHEME}://", url[match.end() :]
        credentials = _EMBEDDED_CREDENTIALS.match(namespace)
        if credentials:
            username, password = credentials.group(1), credentials.group(2)
            namespace = namespace[credentials.end() :]
    else:
        location, _, namespace = url.partition("#")
        parts = urllib.parse.urlsplit(location)
        if parts.username is not None:
            username = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
    namespace = namespace or DEFAULT_NAMESPACE
    if _BAD_NAMESPACE.search(namespace):
        raise ConfigError(
            f"messaging URL {url!r}: namespace {namespace!r} must not contain whitespace, '#', '{' or '}'"
        )
    return BusAddress(
        url=url, scheme=scheme, location=location, namespace=namespace, username=username, password=password
    )


def with_namespace(url: str, namespace: str) -> str:
    """Return ``url`` pointing at ``namespace`` instead of its own (``redis://h:6379`` → ``redis://h:6379#ns``).

    Raises:
        ConfigError: ``url`` or ``namespace`` is malformed (see :func:`parse_url`).
    """
    address = parse_url(url)
    return parse_url(f"{address.location}{'' if address.scheme == EMBEDDED_SCHEME else '#'}{namespace}").url


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, for error messages and logs."""
    return re.sub(r"(://[^/@#]*?:)[^/@#]*@", r"\1***@", url)


def open_bus(url: str) -> MessageBus:
    """Open the bus a messaging URL names, through the ``connector`` plugin (or alias) named by its scheme.

    Raises:
        ConfigError: the URL is malformed.
        UnknownPluginError: no connector plugin handles the URL's scheme.
        MessagingError: the transport cannot be set up.
    """
    from cooperbench.plugins import get_plugin

    try:
        bus_class = get_plugin("connector", parse_url(url).scheme)
    except UnknownPluginError as exc:
        raise UnknownPluginError(f"messaging URL {redact(url)!r}: {exc}") from exc
    bus: MessageBus = bus_class(url)
    return bus


def choose_url(redis_url: str | None, namespace: str, *, embedded_allowed: bool, timeout: float = 0.5) -> str:
    """Pick the messaging URL of a namespace: the Redis at ``redis_url`` if it answers, else the embedded bus.

    The embedded bus only reaches agents in this process, so it is chosen only when
    ``embedded_allowed`` says every agent of the run lives in the harness process.

    Args:
        redis_url: the ``--redis`` URL (``None`` skips Redis).
        namespace: the pair's namespace.
        embedded_allowed: whether every agent runs in this process.
        timeout: seconds to wait for Redis to answer.

    Returns:
        ``redis_url`` with ``namespace``, or ``embedded://<namespace>``.

    Raises:
        MessagingError: nothing answers at ``redis_url`` and some agent runs in another process.
        ConfigError: a URL or the namespace is malformed.
    """
    from cooperbench.messaging.base import MessagingError

    if redis_url:
        from cooperbench.messaging.redis_bus import redis_available

        if redis_available(redis_url, timeout=timeout):
            return with_namespace(redis_url, namespace)
    if embedded_allowed:
        return with_namespace(f"{EMBEDDED_SCHEME}://", namespace)
    raise MessagingError(
        f"no Redis answers at {redact(redis_url or '(no --redis given)')} and some agents run outside the harness "
        f"process, so they cannot use the embedded bus; start redis-server there or pass --redis with a reachable URL"
    )
