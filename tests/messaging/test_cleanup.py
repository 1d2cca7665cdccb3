"""What killed runs leave on Redis (keys, ACL users) goes with the run's pairs, and with ``cooperbench cleanup``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cooperbench.messaging import MessagingConnector, RunMessaging, cleanup_messaging
from cooperbench.messaging.harness import RUNS_KEY
from cooperbench.testing.redis_server import RedisServer, redis_server

AGENTS = ["agent1", "agent2"]


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with redis_server(password="admin-pw") as s:
        yield s


def leave_behind(server: RedisServer, run_name: str, run_id: str, *, dead: bool) -> RunMessaging:
    """A run that chatted and then died without closing anything (as after kill -9)."""
    run = RunMessaging(server.url, run_name, run_id).open()
    pair = run.pair("repo/1/f1_f2", 1, AGENTS)
    with MessagingConnector("agent1", AGENTS, pair.agent_url("agent1")) as a1:
        a1.send("agent2", "left behind")
    if dead:
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        client = redis.Redis.from_url(server.url, decode_responses=True)
        record = json.loads(client.hget(RUNS_KEY, run_id))
        client.hset(RUNS_KEY, run_id, json.dumps({**record, "pid": gone.pid}))
        client.close()
    return run


def state(server: RedisServer) -> tuple[set[str], set[str], set[str]]:
    client = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        namespaces = {k.split("{")[1].split("}")[0] for k in client.keys("cooperbench:{*")}
        users = {u for u in client.acl_users() if u.startswith("cooperbench:")}
        return namespaces, users, set(client.hkeys(RUNS_KEY))
    finally:
        client.close()


def test_a_finished_pair_and_run_leave_nothing(server: RedisServer) -> None:
    run = RunMessaging(server.url, "tidy", "0123456789ab").open()
    pair = run.pair("repo/1/f1_f2", 1, AGENTS)
    with MessagingConnector("agent1", AGENTS, pair.agent_url("agent1")) as a1:
        a1.send("agent2", "hi")
    pair.close()
    run.close()
    assert state(server) == (set(), set(), set())


def test_cleanup_removes_dead_runs_only_unless_told_to_include_live_ones(server: RedisServer) -> None:
    leave_behind(server, "dead-run", "aaaaaaaaaaaa", dead=True)
    leave_behind(server, "live-run", "bbbbbbbbbbbb", dead=False)
    with MessagingConnector("agent1", AGENTS, server.url_for("someone:else")) as own:
        own.send("agent2", "not a run's namespace")
    removed = cleanup_messaging(server.url)
    assert removed == ["messages of run 'dead-run' pair repo/1/f1_f2 attempt 1 (4 keys, 2 users)"]
    namespaces, users, runs = state(server)
    assert namespaces == {"live-run:bbbbbbbbbbbb:repo/1/f1_f2:1", "someone:else"}
    assert users == {f"cooperbench:{{live-run:bbbbbbbbbbbb:repo/1/f1_f2:1}}:{a}" for a in AGENTS}
    assert runs == {"bbbbbbbbbbbb"}
    assert len(cleanup_messaging(server.url, run_name="live-run", stale_only=False)) == 1
    assert state(server) == ({"someone:else"}, set(), set())


def test_cleanup_command_removes_one_runs_messages(server: RedisServer, tmp_path: Path) -> None:
    leave_behind(server, "cli-run", "cccccccccccc", dead=True)
    leave_behind(server, "other-run", "dddddddddddd", dead=True)
    env = dict(os.environ, COOPERBENCH_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run(
        [sys.executable, "-m", "cooperbench", "cleanup", "--run", "cli-run", "--backend", "local",
         "--redis", server.url],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "redis: removed messages of run 'cli-run' pair repo/1/f1_f2 attempt 1" in out.stdout
    assert "admin-pw" not in out.stdout + out.stderr
    assert state(server)[0] == {"other-run:dddddddddddd:repo/1/f1_f2:1"}


def test_cleanup_command_with_an_unreachable_redis_says_so(tmp_path: Path) -> None:
    env = dict(os.environ, COOPERBENCH_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run(
        [sys.executable, "-m", "cooperbench", "cleanup", "--run", "x", "--backend", "local", "--redis",
         "redis://:pw@127.0.0.1:9/0"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode != 0
    assert "no Redis answers at redis://:***@127.0.0.1:9/0" in out.stderr
