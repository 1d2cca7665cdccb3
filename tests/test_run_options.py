"""Run options: generated names, the agent config file, defaults from the environment and a config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cooperbench.errors import ConfigError, UnknownPluginError
from cooperbench.messaging import MessageFaults
from cooperbench.runner import run
from cooperbench.runner._options import generate_run_name, load_agent_config
from cooperbench.settings import defaults

DATASET = Path(__file__).resolve().parents[1] / "examples" / "dataset"


def name(**changes):
    options = dict(setting="coop", agent="mini_swe_agent", model_name="openai/gpt-4o", subset=None, repo=None,
                   task_id=None, features=None, git_enabled=False, messaging_enabled=True, config={})  # fmt: skip
    options.update(changes)
    return generate_run_name(**options)


def test_generated_names_differ_for_every_option_that_changes_the_experiment():
    variants = [
        {},
        {"setting": "solo"},
        {"agent": "openhands"},
        {"model_name": "anthropic/gpt-4o"},
        {"subset": "lite"},
        {"repo": "textkit_task"},
        {"task_id": 0},
        {"features": [1, 2]},
        {"git_enabled": True},
        {"messaging_enabled": False},
        {"config": {"agent": {"temperature": 0.2}}},
        {"config": {"agent": {"temperature": 0.3}}},
        {"messaging_faults": MessageFaults(drop=0.2)},
        {"messaging_faults": MessageFaults(drop=0.2, seed=1)},
        {"policy": "paper"},
    ]
    names = [name(**v) for v in variants]
    assert len(set(names)) == len(names), names
    assert name() == name()  # the same experiment resumes in the same folder
    assert name(policy="upstream") == name()  # the default scoring policy adds nothing to the name
    assert all("/" not in n for n in names)


def test_agent_config_file_and_dict_merge_section_by_section(tmp_path):
    path = tmp_path / "agent.yaml"
    path.write_text("backend: docker\nagent:\n  step_limit: 10\n  temperature: 0.5\nmodel:\n  max_tokens: 100\n")
    merged = load_agent_config(str(path), {"agent": {"temperature": 0.1}})
    assert merged == {"backend": {"name": "docker"}, "agent": {"step_limit": 10, "temperature": 0.1},
                      "model": {"max_tokens": 100}}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("agent: [unclosed", "invalid YAML"),
        ("- a list\n", "must be a mapping"),
        ("agents:\n  step_limit: 3\n", "unknown top-level key 'agents'"),
        ("agent: 3\n", "`agent` must be a mapping"),
    ],
)
def test_a_bad_agent_config_names_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_agent_config(str(path), None)
    assert str(path) in str(err.value)


def test_defaults_come_from_the_environment_then_the_config_file(tmp_path, monkeypatch):
    from cooperbench import settings

    config = tmp_path / "cb.yaml"
    config.write_text("backend: docker\nmodel: openai/gpt-4o\n")
    monkeypatch.setenv("COOPERBENCH_CONFIG", str(config))
    monkeypatch.setenv("COOPERBENCH_MODEL", "anthropic/claude")
    settings._file_defaults.cache_clear()
    try:
        d = defaults()
        assert (d.backend, d.model, d.agent) == ("docker", "anthropic/claude", "mini_swe_agent")
        config.write_text("backnd: docker\n")
        settings._file_defaults.cache_clear()
        with pytest.raises(ConfigError, match=r"cb\.yaml.*backnd"):
            defaults()
    finally:
        settings._file_defaults.cache_clear()


def test_unknown_agent_or_backend_fails_before_anything_is_written(tmp_path):
    with pytest.raises(UnknownPluginError, match="Installed agents:"):
        run("x", agent="no_such_agent", dataset_dir=DATASET, logs_dir=tmp_path)
    with pytest.raises(UnknownPluginError, match="Installed backends:"):
        run("x", agent="oracle", backend="no_such_backend", dataset_dir=DATASET, logs_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
