"""Splitting ``send_message`` out of the shell commands a model writes.

Messages go through the harness's messaging connector, not through the sandbox (which
cannot reach it), so a command such as::

    git diff --stat && send_message agent2 <<'MSG'
    I renamed parse() to parse_config(); please update your call in cli.py.
    MSG
    python -m pytest -q

becomes one message for ``agent2`` and the shell command ``git diff --stat && :`` +
``python -m pytest -q`` for the sandbox. The syntax::

    send_message [--wait] [--timeout SECONDS] RECIPIENT[,RECIPIENT...]|all <<'MSG'
    text
    MSG
    send_message [--wait] RECIPIENT "text as arguments"
    send_message --wait [--timeout SECONDS]          # only wait for a message

``send_message`` must start a command of its own (at the start of a line or after ``&&``,
``||``, ``;``, ``|``, ``&``); a heredoc body is taken literally. The messages are sent
before the rest of the command runs. Heredocs of other commands (``cat <<'EOF' > f.py``) are
passed through untouched, whatever they contain.

This module is pure text processing and imports nothing heavy.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

__all__ = ["SEND_MESSAGE", "MessageCommand", "SplitCommand", "split_command"]

SEND_MESSAGE = "send_message"
_WORD_END = " \t\n;&|)<>"
_BOUNDARIES = ("&&", "||", ";", "|", "&", "\n", "(", "{", "!")
_HEREDOC = re.compile(r"<<(-?)[ \t]*(?:'([^'\n]*)'|\"([^\"\n]*)\"|\\?([^\s;&|<>()'\"]+))")
_USAGE = (
    "usage: send_message [--wait] [--timeout SECONDS] RECIPIENT|all <<'MSG' (newline) text (newline) MSG, "
    'or send_message RECIPIENT "text", or send_message --wait to wait for a message'
)


@dataclass
class MessageCommand:
    """One ``send_message`` found in a command.

    Attributes:
        recipients: the agents to send to (empty for a broadcast or a wait-only command).
        broadcast: send to every teammate (``all``).
        text: the message; ``None`` when the command only waits.
        wait: block until a message arrives (or the timeout passes) after sending.
        timeout: the wait's limit in seconds; ``None`` uses the agent's default.
        source: the ``send_message`` statement as written (without its heredoc body).
    """

    recipients: list[str] = field(default_factory=list)
    broadcast: bool = False
    text: str | None = None
    wait: bool = False
    timeout: float | None = None
    source: str = ""


@dataclass
class SplitCommand:
    """A command split into its messages and the shell that is left.

    Attributes:
        shell: what to run in the sandbox; each ``send_message`` replaced by ``:`` (a no-op, so
            ``a && send_message ... && b`` still chains). Empty when only messages were left.
        messages: the ``send_message`` commands, in order.
        errors: usage errors, one per malformed ``send_message``.
    """

    shell: str
    messages: list[MessageCommand] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _skip_quoted(text: str, i: int) -> int:
    """Index just past the quoted string or escape starting at ``text[i]``."""
    c = text[i]
    if c == "\\":
        return min(i + 2, len(text))
    if c == "'":
        j = text.find("'", i + 1)
        return len(text) if j < 0 else j + 1
    j = i + 1  # double quotes: backslash escapes inside
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text[j] == '"':
            return j + 1
        else:
            j += 1
    return len(text)


def _statement_end(text: str, i: int) -> int:
    """Where the simple command starting at ``i`` ends (a boundary or the end of the line)."""
    j = i
    while j < len(text):
        c = text[j]
        if c in "\\'\"":
            j = _skip_quoted(text, j)
        elif c in "\n;&|)":
            return j
        else:
            j += 1
    return j


def _heredoc_at(text: str, i: int) -> tuple[str, bool, int] | None:
    """The heredoc operator at ``i``: (delimiter, strip leading tabs, end index), or ``None``."""
    if text.startswith("<<<", i):
        return None
    m = _HEREDOC.match(text, i)
    if not m:
        return None
    delimiter = next(g for g in m.groups()[1:] if g is not None)
    return delimiter, m.group(1) == "-", m.end()


def _parse_send(statement: str) -> tuple[MessageCommand | None, tuple[str, bool] | None, str | None]:
    """Parse one ``send_message`` statement: (message, heredoc delimiter, error)."""
    heredoc: tuple[str, bool] | None = None
    words_text = statement
    j = 0
    while j < len(statement):  # find an unquoted heredoc operator and cut it out of the argument words
        c = statement[j]
        if c in "\\'\"":
            j = _skip_quoted(statement, j)
            continue
        found = _heredoc_at(statement, j) if c == "<" else None
        if found:
            heredoc = (found[0], found[1])
            words_text = statement[:j] + " " + statement[found[2] :]
            break
        j += 1
    try:
        words = shlex.split(words_text)[1:]
    except ValueError as exc:
        return None, heredoc, f"send_message: cannot parse {statement.strip()!r} ({exc}); {_USAGE}"
    msg = MessageCommand(source=statement.strip())
    positional: list[str] = []
    k = 0
    while k < len(words):
        word = words[k]
        if positional:  # after the recipient every word is text, dashes included
            positional.extend(words[k:])
            break
        if word == "--":
            positional.extend(words[k + 1 :])
            break
        if word in ("--wait", "-w"):
            msg.wait = True
        elif word in ("--all", "-a"):
            msg.broadcast = True
        elif word in ("--timeout", "-t") or word.startswith("--timeout="):
            value = word.split("=", 1)[1] if "=" in word else (words[k + 1] if k + 1 < len(words) else "")
            k += 0 if "=" in word else 1
            try:
                msg.timeout = float(value)
            except ValueError:
                return None, heredoc, f"send_message: --timeout needs a number of seconds, got {value!r}; {_USAGE}"
        elif word.startswith("-") and len(word) > 1:
            return None, heredoc, f"send_message: unknown option {word!r}; {_USAGE}"
        else:
            positional.append(word)
        k += 1
    if positional and not msg.broadcast:
        target, positional = positional[0], positional[1:]
        names = [t for t in target.split(",") if t]
        if names in (["all"], ["*"]):
            msg.broadcast = True
        else:
            msg.recipients = names
    if positional and heredoc:
        return None, heredoc, f"send_message: give the text either as arguments or as a heredoc, not both; {_USAGE}"
    if positional:
        msg.text = " ".join(positional)
    elif heredoc:
        msg.text = ""  # filled from the heredoc body
    if not (msg.recipients or msg.broadcast) and (msg.text is not None or not msg.wait):
        return None, heredoc, f"send_message: no recipient; {_USAGE}"
    if (msg.recipients or msg.broadcast) and msg.text is None:
        return None, heredoc, f"send_message: no message text for {_to(msg)}; {_USAGE}"
    return msg, heredoc, None


def split_command(command: str) -> SplitCommand:
    """Take the ``send_message`` commands out of ``command``.

    Args:
        command: a shell command line as the model wrote it.

    Returns:
        The messages, the shell command left to run, and usage errors.
    """
    out: list[str] = []
    result = SplitCommand(shell="")
    pending: list[tuple[str, bool, MessageCommand | None]] = []  # heredocs whose body starts at the next newline
    i, n, at_start = 0, len(command), True
    while i < n:
        c = command[i]
        if at_start and c in " \t":
            out.append(c)
            i += 1
            continue
        if (
            at_start
            and command.startswith(SEND_MESSAGE, i)
            and (i + len(SEND_MESSAGE) == n or command[i + len(SEND_MESSAGE)] in _WORD_END)
        ):
            end = _statement_end(command, i)
            msg, heredoc, error = _parse_send(command[i:end])
            if error:
                result.errors.append(error)
            elif msg is not None:
                result.messages.append(msg)
            if heredoc:
                pending.append((heredoc[0], heredoc[1], msg if msg is not None else MessageCommand()))
            statement = command[i:end]
            out.append(":" + statement[len(statement.rstrip()) :])  # keep the spacing before `&&` and the like
            i, at_start = end, False
            continue
        at_start = False
        if c in "\\'\"":
            j = _skip_quoted(command, i)
            out.append(command[i:j])
            i = j
        elif c == "#" and (i == 0 or command[i - 1] in " \t\n;&|("):
            j = command.find("\n", i)
            j = n if j < 0 else j
            out.append(command[i:j])
            i = j
        elif c == "<" and (found := _heredoc_at(command, i)):
            pending.append((found[0], found[1], None))
            out.append(command[i : found[2]])
            i = found[2]
        elif c == "\n":
            out.append(c)
            i = _consume_heredocs(command, i + 1, pending, out)
            pending, at_start = [], True
        else:
            boundary = next((b for b in _BOUNDARIES if command.startswith(b, i)), None)
            out.append(boundary or c)
            i += len(boundary) if boundary else 1
            at_start = boundary is not None
    for msg in result.messages:
        if msg.text is not None and not msg.text.strip():
            result.errors.append(f"send_message: the message to {_to(msg)} is empty; {_USAGE}")
    result.messages = [m for m in result.messages if m.text is None or m.text.strip()]
    shell = "".join(out)
    result.shell = "" if re.fullmatch(r"[\s:;&|]*", shell) else shell
    return result


def _consume_heredocs(
    command: str, i: int, pending: list[tuple[str, bool, MessageCommand | None]], out: list[str]
) -> int:
    """Read the bodies of the pending heredocs from ``i``; message bodies are taken out, others kept."""
    for delimiter, strip_tabs, target in pending:
        body: list[str] = []
        while i < len(command):
            j = command.find("\n", i)
            line = command[i : (len(command) if j < 0 else j)]
            i = len(command) if j < 0 else j + 1
            done = (line.lstrip("\t") if strip_tabs else line) == delimiter
            if target is None:
                out.append(line + ("\n" if j >= 0 else ""))
            if done:
                break
            body.append(line.lstrip("\t") if strip_tabs else line)
        if target is not None:
            target.text = "\n".join(body)
    return i


def _to(msg: MessageCommand) -> str:
    return "all" if msg.broadcast else ",".join(msg.recipients) or "?"
