"""Messaging through a real redis-server (and the embedded bus), recorded in conversation.json."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from cooperbench.runner import run
from cooperbench.testing.redis_server import redis_server

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "examples" / "dataset"


@pytest.fixture(autouse=True)
def _agents():
    import cb_test_agents  # noqa: F401  (registers t_chatty)


def conversation(logs: Path, name: str, pair: str = "textkit_task/1/f1_f2") -> list[dict]:
    return json.loads((logs / name / "coop" / pair / "conversation.json").read_text())


def result(logs: Path, name: str, pair: str = "textkit_task/1/f1_f2") -> dict:
    return json.loads((logs / name / "coop" / pair / "result.json").read_text())


def chat(logs: Path, name: str, redis_url: str, **kw) -> None:
    run(
        name,
        agent="t_chatty",
        dataset_dir=DATASET,
        logs_dir=logs,
        repo="textkit_task",
        features=[1, 2],
        redis_url=redis_url,
        auto_eval=False,
        **kw,
    )


def assert_the_chat_is_recorded(ledger: list[dict]) -> None:
    messages = [m for m in ledger if m["kind"] == "message"]  # the ledger also holds notices and status changes
    assert [(m["from"], m["to"]) for m in messages] == [
        ("agent1", "agent2"),
        ("agent2", "agent1"),
        ("agent2", "agent1"),
    ]
    assert [m["id"] for m in ledger] == sorted(m["id"] for m in ledger)
    assert messages[0]["text"].startswith("hello from agent1 about: ")
    assert [m["text"] for m in messages[1:]] == ["hi agent1, got it", "second reply"]
    assert [m["sent_at"] for m in messages] == sorted(m["sent_at"] for m in messages)
    # agent1 sent at its step 1 before agent2 connected; agent2 received it at its step 3
    assert (messages[0]["sender_step"], messages[0]["receiver_step"]) == (1, 3)
    assert messages[0]["delivered_at"] is not None
    assert (messages[1]["sender_step"], messages[1]["receiver_step"]) == (3, 2)


def test_messages_through_redis_are_delivered_in_order_with_both_steps(tmp_path):
    with redis_server() as server:
        chat(tmp_path, "m", server.url)
    assert_the_chat_is_recorded(conversation(tmp_path, "m"))
    assert result(tmp_path, "m")["messages"] == 3


def test_two_concurrent_runs_never_see_each_others_messages(tmp_path):
    with redis_server() as server:
        threads = [threading.Thread(target=chat, args=(tmp_path, name, server.url)) for name in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    for name in ("a", "b"):
        assert_the_chat_is_recorded(conversation(tmp_path, name))


def test_embedded_bus_is_used_when_redis_does_not_answer(tmp_path, capsys):
    chat(tmp_path, "e", "redis://127.0.0.1:9/0")
    assert "messaging embedded" in capsys.readouterr().out
    assert_the_chat_is_recorded(conversation(tmp_path, "e"))


def test_redis_killed_mid_run_is_infra_error_and_a_rerun_completes(tmp_path, monkeypatch):
    with redis_server() as server:
        url = server.url
        monkeypatch.setenv("CB_TEST_REDIS_PID", str(server.process.pid))
        monkeypatch.setenv("CB_TEST_KILL_REDIS_ON_PAIR", "1,3")
        monkeypatch.setenv("CB_TEST_LATE_START", "0.3")
        run(
            "k",
            agent="t_chatty",
            dataset_dir=DATASET,
            logs_dir=tmp_path,
            repo="textkit_task",
            redis_url=url,
            auto_eval=False,
            concurrency=1,
        )
        first = result(tmp_path, "k")
        assert first["outcome"] != "infra_error"
        killed = result(tmp_path, "k", "textkit_task/1/f1_f3")
        assert killed["outcome"] == "infra_error"
        assert "Redis" in killed["error"]
        infra = [
            p
            for p in (tmp_path / "k" / "coop").glob("*/*/*/result.json")
            if json.loads(p.read_text())["outcome"] == "infra_error"
        ]
        assert len(infra) == 5  # f1_f3 and every later pair
    monkeypatch.delenv("CB_TEST_KILL_REDIS_ON_PAIR")
    with redis_server() as restarted:
        run(
            "k",
            agent="t_chatty",
            dataset_dir=DATASET,
            logs_dir=tmp_path,
            repo="textkit_task",
            redis_url=restarted.url,
            auto_eval=False,
            concurrency=1,
        )
    assert result(tmp_path, "k")["run_id"] == first["run_id"]  # the completed pair is untouched
    outcomes = [json.loads(p.read_text())["outcome"] for p in (tmp_path / "k" / "coop").glob("*/*/*/result.json")]
    assert len(outcomes) == 6 and "infra_error" not in outcomes
