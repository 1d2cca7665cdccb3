"""Splitting ``send_message`` out of shell commands."""

from __future__ import annotations

import re

from cooperbench_agent_miniswe.commands import split_command
from hypothesis import given
from hypothesis import strategies as st


def test_mixed_command_yields_the_message_and_the_rest_of_the_shell() -> None:
    split = split_command(
        "git diff --stat && send_message agent2 <<'MSG'\nI renamed parse(); it's done\nMSG\npython -m pytest -q"
    )
    assert split.errors == []
    ((msg),) = split.messages
    assert (msg.recipients, msg.text, msg.wait, msg.broadcast) == (
        ["agent2"],
        "I renamed parse(); it's done",
        False,
        False,
    )
    assert split.shell == "git diff --stat && :\npython -m pytest -q"


def test_only_messages_leave_no_shell() -> None:
    split = split_command('send_message agent2 "hello there"; send_message all <<EOF\nto everyone\nEOF')
    assert split.shell == ""
    assert [(m.recipients, m.broadcast, m.text) for m in split.messages] == [
        (["agent2"], False, "hello there"),
        ([], True, "to everyone"),
    ]


def test_wait_options_and_several_recipients() -> None:
    wait_only, to_two, timed = split_command(
        "send_message --wait\nsend_message -w agent2,agent3 ping -v\nsend_message --timeout=2.5 --wait agent2 x"
    ).messages
    assert (wait_only.wait, wait_only.text, wait_only.recipients) == (True, None, [])
    assert (to_two.wait, to_two.recipients, to_two.text) == (True, ["agent2", "agent3"], "ping -v")
    assert (timed.timeout, timed.wait) == (2.5, True)


def test_heredocs_of_other_commands_pass_through_untouched() -> None:
    command = (
        "cat <<'EOF' > notes.py\nprint(\"it's a send_message agent2 x\")\nsend_message agent2 not-a-message\nEOF\n"
        "send_message agent2 <<-MSG\n\tindented\n\tMSG\necho done"
    )
    split = split_command(command)
    assert [m.text for m in split.messages] == ["indented"]
    assert split.shell.startswith(
        "cat <<'EOF' > notes.py\nprint(\"it's a send_message agent2 x\")\nsend_message agent2"
    )
    assert split.shell.endswith("EOF\n:\necho done")


def test_send_message_in_quotes_or_as_an_argument_is_not_a_message() -> None:
    for command in ('echo "send_message agent2 hi"', "grep -r send_message .", "# send_message agent2 hi"):
        split = split_command(command)
        assert split.messages == [] and split.shell == command


def test_usage_errors_say_how_to_use_it() -> None:
    cases = {
        "send_message": "no recipient",
        "send_message agent2": "no message text for agent2",
        "echo x | send_message agent2": "no message text",
        "send_message --loud agent2 hi": "unknown option '--loud'",
        "send_message --timeout soon agent2 hi": "--timeout needs a number",
        "send_message agent2 'unterminated": "cannot parse",
        "send_message agent2 hi <<'MSG'\nbody\nMSG": "either as arguments or as a heredoc",
        "send_message agent2 <<'MSG'\n   \nMSG": "is empty",
    }
    for command, expected in cases.items():
        split = split_command(command)
        assert len(split.errors) == 1 and expected in split.errors[0], (command, split.errors)
        assert "usage: send_message" in split.errors[0]


_SHELLISH = st.text(alphabet=st.sampled_from(list("abc xyz-_.'\"\\\n;&|<>$(){}#=*")), max_size=80)


@given(_SHELLISH)
def test_commands_without_send_message_are_left_alone(command: str) -> None:
    split = split_command(command)
    assert split.messages == [] and split.errors == []
    assert split.shell in (command, "")
    if split.shell == "":
        assert re.fullmatch(r"[\s:;&|]*", command)


_LINE = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"), max_size=40)


@given(st.lists(_LINE, min_size=1, max_size=6).filter(lambda lines: "MSG" not in lines and "".join(lines).strip()))
def test_heredoc_bodies_arrive_verbatim(lines: list[str]) -> None:
    body = "\n".join(lines)
    split = split_command(f"send_message agent2 <<'MSG'\n{body}\nMSG\necho after")
    assert [m.text for m in split.messages] == [body]
    assert split.shell == ":\necho after"
