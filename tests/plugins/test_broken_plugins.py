"""A broken plugin is listed with its reason and never takes the rest of CooperBench down with it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BROKEN_IMPORT = {
    "cbt_badimport/plugin.py": """\
        raise RuntimeError("boom while importing the plugin")
        """
}

# The agents hook fails; the backends hook of the same plugin is fine.
BROKEN_HOOK = {
    "cbt_badhook/plugin.py": """\
        import cooperbench


        class Backend:
            name = "halfway"


        @cooperbench.hookimpl
        def cooperbench_register_agents(register):
            raise ValueError("OPENAI_API_KEY is not set")


        @cooperbench.hookimpl
        def cooperbench_register_backends(register):
            register("halfway", Backend)
        """
}

SYS_EXIT = {
    "cbt_exits/plugin.py": """\
        import sys

        sys.exit("this plugin calls sys.exit() at import")
        """
}

BROKEN_COMMANDS = {
    "cbt_badcmd/plugin.py": """\
        import cooperbench


        @cooperbench.hookimpl
        def cooperbench_register_commands(app):
            raise KeyError("no such command group")
        """
}

MISSPELT_HOOK = {
    "cbt_typo/plugin.py": """\
        import cooperbench


        @cooperbench.hookimpl
        def cooperbench_register_agent(register):
            register("typo", object)
        """
}

BAD_REGISTER_CALLS = {
    "cbt_badnames/plugin.py": """\
        import cooperbench


        @cooperbench.hookimpl
        def cooperbench_register_agents(register):
            register(42, object)


        @cooperbench.hookimpl
        def cooperbench_register_backends(register):
            register("nocolon", "cbt_badnames.backend")


        @cooperbench.hookimpl
        def cooperbench_register_connectors(register):
            register("bus", object, aliases="bus2")
        """
}


@pytest.fixture(scope="module")
def bad_import_dist(make_dist: Callable[..., Path]) -> Path:
    return make_dist("cbt-agent-badimport", BROKEN_IMPORT)


def test_plugin_that_fails_to_import_is_listed_as_broken_and_every_other_plugin_still_works(
    venv: Any,
    make_dist: Callable[..., Path],
    bad_import_dist: Path,
    hello_dist: Path,
    install: Callable[..., None],
    row: Callable[..., dict[str, Any]],
) -> None:
    install(bad_import_dist, hello_dist)

    rows = venv.plugins()
    broken = row(rows, "agent", "agent-badimport")
    assert (broken["status"], broken["distribution"]) == ("error", "cbt-agent-badimport")
    assert broken["error"] == "RuntimeError: boom while importing the plugin"
    assert row(rows, "agent", "hello")["status"] == "ok"
    patch = venv.python_json(
        """
        import json
        from cooperbench.agents import get_runner
        print(json.dumps(get_runner("hello").run("t", "i").patch))
        """
    )
    assert patch == "from hello"

    table = venv.cli("plugins")
    assert table.returncode == 0, table.stderr
    assert "error" in next(line for line in table.stdout.splitlines() if "agent-badimport" in line)
    assert "boom while importing the plugin" in table.stdout  # the reason, in full, below the table

    help_text = venv.cli("--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "plugins" in help_text.stdout


def test_plugin_whose_hook_raises_is_broken_for_that_kind_only(
    venv: Any, make_dist: Callable[..., Path], install: Callable[..., None], row: Callable[..., dict[str, Any]]
) -> None:
    install(make_dist("cbt-badhook", BROKEN_HOOK))

    rows = venv.plugins()

    broken = row(rows, "agent", "badhook")
    assert (broken["status"], broken["distribution"]) == ("error", "cbt-badhook")
    assert broken["error"] == "ValueError: OPENAI_API_KEY is not set"
    assert row(rows, "backend", "halfway")["status"] == "ok"
    assert row(rows, "agent", "oracle")["status"] == "ok"


def test_unknown_name_error_mentions_broken_plugins(
    venv: Any, make_dist: Callable[..., Path], install: Callable[..., None]
) -> None:
    install(make_dist("cbt-badhook", BROKEN_HOOK))

    message = venv.python_json(
        """
        import json
        from cooperbench.agents import get_runner
        from cooperbench.errors import UnknownPluginError
        try:
            get_runner("what_badhook_would_have_registered")
        except UnknownPluginError as exc:
            print(json.dumps(str(exc)))
        """
    )

    assert "badhook (ValueError: OPENAI_API_KEY is not set)" in message
    assert "cooperbench plugins" in message


def test_plugin_calling_sys_exit_does_not_end_the_cli(
    venv: Any, make_dist: Callable[..., Path], install: Callable[..., None], row: Callable[..., dict[str, Any]]
) -> None:
    install(make_dist("cbt-agent-exits", SYS_EXIT))

    broken = row(venv.plugins(), "agent", "agent-exits")

    assert broken["status"] == "error"
    assert "this plugin calls sys.exit() at import" in broken["error"]
    assert venv.cli("--help").returncode == 0


def test_commands_hook_that_raises_leaves_the_rest_of_the_cli_working(
    venv: Any, make_dist: Callable[..., Path], install: Callable[..., None]
) -> None:
    install(make_dist("cbt-badcmd", BROKEN_COMMANDS))

    help_text = venv.cli("--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "plugins" in help_text.stdout

    listing = venv.cli("plugins")
    assert listing.returncode == 0, listing.stderr
    assert "badcmd" in listing.stdout
    assert "KeyError: 'no such command group'" in listing.stdout


def test_misspelt_hook_name_is_reported_instead_of_ignored(
    venv: Any, make_dist: Callable[..., Path], install: Callable[..., None], row: Callable[..., dict[str, Any]]
) -> None:
    install(make_dist("cbt-agent-typo", MISSPELT_HOOK))

    broken = row(venv.plugins(), "plugin", "agent-typo")

    assert broken["status"] == "error"
    assert "unknown hook 'cooperbench_register_agent'" in broken["error"]
    assert "cooperbench_register_agents" in broken["error"]


def test_register_called_with_bad_arguments_marks_the_plugin_broken_with_the_reason(
    venv: Any, make_dist: Callable[..., Path], install: Callable[..., None]
) -> None:
    install(make_dist("cbt-badnames", BAD_REGISTER_CALLS))

    errors = {r["kind"]: r["error"] for r in venv.plugins() if r["name"] == "badnames"}

    assert "the agent name must be a string, got 42" in errors["agent"]
    assert "'module:attr'" in errors["backend"] and "cbt_badnames.backend" in errors["backend"]
    assert "aliases must be a tuple" in errors["connector"]
    assert venv.cli("plugins").returncode == 0


def test_strict_mode_makes_a_broken_plugin_fatal_and_names_it(
    venv: Any, bad_import_dist: Path, install: Callable[..., None]
) -> None:
    install(bad_import_dist)
    strict = {"COOPERBENCH_STRICT_PLUGINS": "1"}

    listing = venv.cli("plugins", "--json", env=strict)
    assert listing.returncode != 0
    assert "agent-badimport" in listing.stderr and "cbt-agent-badimport" in listing.stderr
    assert "boom while importing the plugin" in listing.stderr
    assert "Traceback" not in listing.stderr.splitlines()[0]

    lookup = venv.python_json(
        """
        import json
        from cooperbench.agents import get_runner
        from cooperbench.errors import BrokenPluginError
        try:
            get_runner("oracle")
        except BrokenPluginError as exc:
            print(json.dumps(str(exc)))
        """,
        env=strict,
    )
    assert "Error importing plugin 'agent-badimport' (distribution cbt-agent-badimport)" in lookup

    assert venv.cli("plugins", "--json").returncode == 0  # without the variable: listed, not fatal


def test_two_distributions_registering_the_same_agent_name_is_an_error_naming_both(
    venv: Any, make_dist: Callable[..., Path], install: Callable[..., None], agent_plugin: Callable[..., dict[str, str]]
) -> None:
    install(
        make_dist("cbt-twin-a", agent_plugin("cbt_twin_a", "twin")),
        make_dist("cbt-twin-b", agent_plugin("cbt_twin_b", "twin")),
    )

    twins = [r for r in venv.plugins() if r["name"] == "twin"]
    assert sorted(r["distribution"] for r in twins) == ["cbt-twin-a", "cbt-twin-b"]
    for twin in twins:
        assert twin["status"] == "error"
        assert "cbt-twin-a" in twin["error"] and "cbt-twin-b" in twin["error"]

    lookup = venv.python_json(
        """
        import json
        from cooperbench.agents import get_runner, list_agents
        from cooperbench.errors import DuplicatePluginError
        try:
            get_runner("twin")
        except DuplicatePluginError as exc:
            print(json.dumps([str(exc), list_agents(), get_runner("oracle").__class__.__name__]))
        """
    )
    message, agents, oracle = lookup
    assert "duplicate agent name 'twin'" in message
    assert "cbt-twin-a and cbt-twin-b" in message
    assert "twin" not in agents
    assert oracle == "OracleAgent"


def test_two_distributions_with_the_same_entry_point_name_are_both_loaded_and_reported_as_duplicates(
    venv: Any, make_dist: Callable[..., Path], install: Callable[..., None], agent_plugin: Callable[..., dict[str, str]]
) -> None:
    # A fork of a plugin keeps the original's entry point name but ships another distribution.
    install(
        make_dist("cbt-fork-a", agent_plugin("cbt_fork_a", "fork"), entry_points={"agent-fork": "cbt_fork_a.plugin"}),
        make_dist("cbt-fork-b", agent_plugin("cbt_fork_b", "fork"), entry_points={"agent-fork": "cbt_fork_b.plugin"}),
    )

    forks = [r for r in venv.plugins() if r["name"] == "fork"]

    assert sorted(r["distribution"] for r in forks) == ["cbt-fork-a", "cbt-fork-b"]
    for fork in forks:
        assert "duplicate agent name 'fork'" in fork["error"]
        assert "cbt-fork-a and cbt-fork-b" in fork["error"]


def test_two_distributions_shipping_the_same_plugin_module_are_reported_naming_both(
    venv: Any, make_dist: Callable[..., Path], install: Callable[..., None], agent_plugin: Callable[..., dict[str, str]]
) -> None:
    # A renamed fork that kept the original's import package: the second install overwrote the first's files.
    files = agent_plugin("cbt_shared", "shared")
    install(make_dist("cbt-shared-a", files), make_dist("cbt-shared-b", files))

    errors = [r["error"] for r in venv.plugins() if r["status"] == "error"]

    assert len(errors) == 1
    assert "cbt_shared.plugin" in errors[0]
    assert "cbt-shared-a" in errors[0] and "cbt-shared-b" in errors[0]
    assert "uninstall one of them" in errors[0]
