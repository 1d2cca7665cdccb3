"""GitConnector against a real bare repository, driven through a plain local shell environment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cooperbench.errors import ConfigError
from cooperbench.git_collab import GitCollabError, GitConnector

AGENTS = ["agent1", "agent2"]


class ShellEnvironment:
    """Test stand-in for a sandbox: runs commands with bash in a local clone, with its own empty git config."""

    def __init__(self, cwd: Path, home: Path) -> None:
        self.cwd = cwd
        self.env = {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
        for var in (
            "GIT_AUTHOR_NAME",
            "GIT_AUTHOR_EMAIL",
            "GIT_COMMITTER_NAME",
            "GIT_COMMITTER_EMAIL",
            "EMAIL",
            "GIT_CONFIG_GLOBAL",
            "XDG_CONFIG_HOME",
        ):
            self.env.pop(var, None)
        self.commands: list[str] = []

    def execute(self, command: str, timeout: float | None = None) -> dict[str, Any]:
        self.commands.append(command)
        proc = subprocess.run(
            ["bash", "-c", command],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        return {"output": proc.stdout, "returncode": proc.returncode}

    def ok(self, command: str) -> str:
        result = self.execute(command)
        assert result["returncode"] == 0, result["output"]
        return str(result["output"]).strip()


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def base_repo(tmp_path: Path) -> Path:
    """A task repository at its base commit."""
    repo = tmp_path / "upstream"
    repo.mkdir()
    _git("init", "-q", "-b", "main", cwd=repo)
    (repo / "app.py").write_text("print('base')\n")
    _git("add", "-A", cwd=repo)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base", cwd=repo)
    return repo


@pytest.fixture
def server(tmp_path: Path) -> Path:
    """The run's shared git server: an empty bare repository."""
    bare = tmp_path / "team.git"
    _git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    return bare


def _sandbox(tmp_path: Path, base_repo: Path, agent_id: str) -> ShellEnvironment:
    clone = tmp_path / agent_id / "repo"
    clone.parent.mkdir()
    _git("clone", "-q", str(base_repo), str(clone), cwd=tmp_path)
    home = tmp_path / agent_id / "home"
    home.mkdir()
    return ShellEnvironment(clone, home)


def test_setup_adds_team_remote_checks_out_agent_branch_and_pushes_it(
    tmp_path: Path, base_repo: Path, server: Path
) -> None:
    env = _sandbox(tmp_path, base_repo, "agent1")
    git = GitConnector(agent_id="agent1", agents=AGENTS, server_url=str(server))
    git.setup(env)
    assert git.is_initialized
    assert env.ok("git remote get-url team") == str(server)
    assert env.ok("git rev-parse --abbrev-ref HEAD") == "agent1"
    assert _git("rev-parse", "refs/heads/agent1", cwd=server) == env.ok("git rev-parse HEAD")
    # A repository without an identity gets one, so the agent can commit.
    assert env.ok("git config user.name") == "agent1"
    assert env.ok("git config user.email") == "agent1@cooperbench.local"


def test_teammates_share_work_with_the_commands_the_instructions_give(
    tmp_path: Path, base_repo: Path, server: Path
) -> None:
    env1, env2 = _sandbox(tmp_path, base_repo, "agent1"), _sandbox(tmp_path, base_repo, "agent2")
    git1 = GitConnector("agent1", AGENTS, str(server))
    git2 = GitConnector("agent2", AGENTS, str(server))
    git1.setup(env1)
    git2.setup(env2)

    env1.ok("echo 'def feature_a(): pass' > a.py && git add -A && git commit -q -m 'feature a'")
    env1.ok("git push -q team agent1")
    instructions = git2.instructions()
    assert "git fetch team" in instructions and "git merge team/agent1" in instructions
    assert "git push team agent2" in instructions
    env2.ok("git fetch -q team && git merge -q --no-edit team/agent1")
    assert (env2.cwd / "a.py").read_text() == "def feature_a(): pass\n"
    assert sorted(_git("for-each-ref", "--format=%(refname:short)", "refs/heads", cwd=server).split()) == AGENTS


def test_an_existing_identity_and_team_remote_are_tolerated(tmp_path: Path, base_repo: Path, server: Path) -> None:
    env = _sandbox(tmp_path, base_repo, "agent1")
    env.ok("git config user.name 'Keep Me' && git config user.email keep@me && git remote add team /nowhere")
    GitConnector("agent1", AGENTS, str(server)).setup(env)
    assert env.ok("git remote get-url team") == str(server)
    assert env.ok("git config user.name") == "Keep Me"
    assert env.ok("git config user.email") == "keep@me"


def test_setup_twice_keeps_the_agents_work(tmp_path: Path, base_repo: Path, server: Path) -> None:
    env = _sandbox(tmp_path, base_repo, "agent1")
    git = GitConnector("agent1", AGENTS, str(server))
    git.setup(env)
    env.ok("echo more >> app.py && git commit -q -am 'work'")
    work = env.ok("git rev-parse HEAD")
    git.setup(env)
    assert env.ok("git rev-parse HEAD") == work
    assert _git("rev-parse", "refs/heads/agent1", cwd=server) == work


def test_an_unreachable_server_is_a_git_collab_error_naming_it_and_the_command(tmp_path: Path, base_repo: Path) -> None:
    env = _sandbox(tmp_path, base_repo, "agent1")
    missing = tmp_path / "no-such-server.git"
    with pytest.raises(GitCollabError) as caught:
        GitConnector("agent1", AGENTS, str(missing)).setup(env)
    message = str(caught.value)
    assert str(missing) in message and "git push team HEAD:refs/heads/agent1" in message


def test_setup_outside_a_git_repository_says_so(tmp_path: Path, server: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    env = ShellEnvironment(plain, tmp_path)
    with pytest.raises(GitCollabError, match="not a git repository"):
        GitConnector("agent1", AGENTS, str(server)).setup(env)


@pytest.mark.parametrize("agent_id", ["agent 1", "-rf", "a;b", ""])
def test_agent_ids_that_cannot_be_branch_names_are_config_errors(agent_id: str) -> None:
    with pytest.raises(ConfigError, match="branch"):
        GitConnector(agent_id, [agent_id, "agent2"], "git://server/repo")


def test_an_empty_server_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="server_url"):
        GitConnector("agent1", AGENTS, "")
