"""Plugins installed as distributions: discovered through entry points, listed, looked up, removed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

LISTING_KEYS = {"kind", "name", "distribution", "version", "source", "status", "error"}

# A plugin implementing every registration hook and a CLI command; the targets are classes.
KITCHEN_SINK = {
    "cbt_sink/plugin.py": """\
        import cooperbench


        class SinkBackend:
            name = "sink"

            def __init__(self, **options):
                self.options = options


        class SinkConnector:
            pass


        class SinkEvaluator:
            pass


        @cooperbench.hookimpl
        def cooperbench_register_backends(register):
            register("sink", SinkBackend, description="a backend of the kitchen sink")


        @cooperbench.hookimpl
        def cooperbench_register_connectors(register):
            register("sinkbus", SinkConnector, aliases=("sinkbus2",))


        @cooperbench.hookimpl
        def cooperbench_register_evaluators(register):
            register("sinkeval", "cbt_sink.plugin:SinkEvaluator")


        @cooperbench.hookimpl
        def cooperbench_register_commands(app):
            @app.command("sink-hello")
            def sink_hello(who: str = "world"):
                \"\"\"Say hello from the kitchen-sink plugin.\"\"\"
                print(f"hello {who} from the sink")
        """
}


@pytest.fixture(scope="module")
def sink(venv: Any, make_dist: Any) -> Iterator[None]:
    """The kitchen-sink distribution, installed for this module's tests."""
    venv.install(*make_dist.wheels(make_dist("cbt-sink", KITCHEN_SINK, version="0.4.0")))
    yield
    venv.uninstall("cbt-sink")


def test_hook_cooperbench_register_agents_plugin_appears_after_pip_install_and_disappears_after_uninstall(
    venv: Any, hello_dist: Path, install: Any, row: Callable[..., dict[str, Any]]
) -> None:
    assert "hello" not in [r["name"] for r in venv.plugins()]

    install(hello_dist)

    hello = row(venv.plugins(), "agent", "hello")
    assert hello.keys() >= LISTING_KEYS
    assert hello["distribution"] == "cbt-agent-hello"
    assert hello["version"] == "1.2.3"
    assert hello["source"] == "entry point"
    assert (hello["status"], hello["error"]) == ("ok", None)
    found = venv.python_json(
        """
        import json
        from cooperbench.agents import get_runner, list_agents
        runner = get_runner("hello")
        print(json.dumps([type(runner).__name__, runner.run("task", "image").patch, list_agents()]))
        """
    )
    assert found == ["Runner", "from hello", ["hello", "nop", "oracle"]]

    install.uninstall("cbt-agent-hello")

    assert "hello" not in [r["name"] for r in venv.plugins()]
    gone = venv.python_json(
        """
        import json
        from cooperbench.agents import get_runner
        from cooperbench.errors import UnknownPluginError
        try:
            get_runner("hello")
        except UnknownPluginError as exc:
            print(json.dumps(str(exc)))
        """
    )
    assert "Unknown agent 'hello'" in gone
    assert "nop, oracle" in gone


def test_table_shows_each_plugin_with_distribution_version_source_and_status(
    venv: Any, hello_dist: Path, install: Callable[..., None]
) -> None:
    install(hello_dist)

    proc = venv.cli("plugins")

    assert proc.returncode == 0, proc.stderr
    header = next(line for line in proc.stdout.splitlines() if "kind" in line)
    for column in ("kind", "name", "distribution", "version", "source", "status"):
        assert column in header
    hello = next(line for line in proc.stdout.splitlines() if " hello " in line)
    for cell in ("agent", "cbt-agent-hello", "1.2.3", "entry point", "ok"):
        assert cell in hello
    local = next(line for line in proc.stdout.splitlines() if " local " in line)
    assert "backend" in local and "cooperbench" in local


def test_core_builtins_come_from_the_core_distribution_through_its_entry_point(
    venv: Any, row: Callable[..., dict[str, Any]]
) -> None:
    rows = venv.plugins()

    for kind, name in (("backend", "local"), ("agent", "oracle"), ("agent", "nop")):
        builtin = row(rows, kind, name)
        assert (builtin["distribution"], builtin["source"], builtin["status"]) == ("cooperbench", "entry point", "ok")


def test_hook_cooperbench_register_backends_target_is_instantiated_with_options(venv: Any, sink: None) -> None:
    backend = venv.python_json(
        """
        import json
        from cooperbench.backends import get_backend, list_backends
        backend = get_backend("sink", region="eu", size=2)
        print(json.dumps([type(backend).__name__, backend.options, list_backends()]))
        """
    )

    assert backend == ["SinkBackend", {"region": "eu", "size": 2}, ["local", "sink"]]


def test_hook_cooperbench_register_connectors_registers_names_and_aliases(
    venv: Any, sink: None, row: Callable[..., dict[str, Any]]
) -> None:
    connector = row(venv.plugins("--kind", "connector"), "connector", "sinkbus")
    assert (connector["distribution"], connector["aliases"], connector["status"]) == ("cbt-sink", ["sinkbus2"], "ok")

    names = venv.python_json(
        """
        import json
        from cooperbench.plugins import get_plugin
        print(json.dumps([get_plugin("connector", n).__name__ for n in ("sinkbus", "sinkbus2")]))
        """
    )
    assert names == ["SinkConnector", "SinkConnector"]


def test_hook_cooperbench_register_evaluators_lazy_target_resolves_on_lookup(
    venv: Any, sink: None, row: Callable[..., dict[str, Any]]
) -> None:
    evaluator = row(venv.plugins("--kind", "evaluator"), "evaluator", "sinkeval")
    assert (evaluator["distribution"], evaluator["version"], evaluator["status"]) == ("cbt-sink", "0.4.0", "ok")

    name = venv.python_json(
        """
        import json
        from cooperbench.plugins import get_plugin
        print(json.dumps(get_plugin("evaluator", "sinkeval").__name__))
        """
    )
    assert name == "SinkEvaluator"


def test_hook_cooperbench_register_commands_adds_a_cli_sub_command(venv: Any, sink: None) -> None:
    help_text = venv.cli("--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "sink-hello" in help_text.stdout

    ran = venv.cli("sink-hello", "--who", "tester")
    assert ran.returncode == 0, ran.stderr
    assert "hello tester from the sink" in ran.stdout


def test_kind_option_lists_only_that_kind(venv: Any, sink: None) -> None:
    backends = venv.plugins("--kind", "backend")
    assert {r["kind"] for r in backends} == {"backend"}
    assert {r["name"] for r in backends} == {"local", "sink"}

    agents = venv.cli("plugins", "--kind", "agent")
    assert agents.returncode == 0, agents.stderr
    assert " oracle " in agents.stdout and " sink " not in agents.stdout

    bogus = venv.cli("plugins", "--kind", "agents")
    assert bogus.returncode == 2
    assert "unknown kind 'agents'" in bogus.stderr
    assert "agent, backend, connector, evaluator" in bogus.stderr


LAZY = {
    "cbt_lazy/plugin.py": """\
        import cooperbench


        @cooperbench.hookimpl
        def cooperbench_register_agents(register):
            register("lazy", "cbt_lazy.runner:Runner", description="needs a heavy SDK")
        """,
    # Importing the target leaves a marker and fails, as a missing heavy SDK would.
    "cbt_lazy/runner.py": """\
        import os
        from pathlib import Path

        Path(os.environ["CBT_MARKER"]).write_text("imported")
        raise ImportError("the heavy SDK is not installed")
        """,
}


def test_lazy_target_is_imported_only_when_the_plugin_is_used(
    venv: Any,
    make_dist: Callable[..., Path],
    install: Callable[..., None],
    tmp_path: Path,
    row: Callable[..., dict[str, Any]],
) -> None:
    install(make_dist("cbt-agent-lazy", LAZY))
    marker = tmp_path / "imported"
    env = {"CBT_MARKER": str(marker)}

    lazy = row(venv.plugins(env=env), "agent", "lazy")
    assert (lazy["status"], lazy["description"]) == ("ok", "needs a heavy SDK")
    assert venv.cli("plugins", env=env).returncode == 0
    assert venv.cli("--help", env=env).returncode == 0
    assert not marker.exists(), "listing plugins or --help imported a lazy target"

    error = venv.python_json(
        """
        import json
        from cooperbench.agents import get_runner
        from cooperbench.errors import BrokenPluginError
        try:
            get_runner("lazy")
        except BrokenPluginError as exc:
            print(json.dumps(str(exc)))
        """,
        env=env,
    )
    assert marker.exists()
    assert "cbt-agent-lazy" in error
    assert "cbt_lazy.runner:Runner" in error
    assert "the heavy SDK is not installed" in error
