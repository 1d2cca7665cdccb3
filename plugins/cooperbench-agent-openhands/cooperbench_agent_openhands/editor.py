"""The ``file_editor`` commands (view, create, str_replace, insert, undo_edit) on files in the sandbox.

The same commands and arguments as OpenHands' own file editor, so models trained on
OpenHands use it as they are used to; files are read and written through the sandbox.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from cooperbench_agent_openhands.session import SandboxSession

__all__ = ["EditResult", "SandboxFileEditor"]

_SNIPPET_CONTEXT = 4
_MAX_VIEW_CHARS = 64_000


@dataclass
class EditResult:
    """The outcome of one editor command.

    Attributes:
        text: what the model is shown.
        is_error: the command was refused; nothing changed.
        path: the absolute path acted on.
        prev_exist: whether the file existed before.
        old_content: the file before an edit.
        new_content: the file after an edit.
    """

    text: str
    is_error: bool = False
    path: str | None = None
    prev_exist: bool = True
    old_content: str | None = None
    new_content: str | None = None


def _numbered(text: str, start: int = 1) -> str:
    return "\n".join(f"{n:6}\t{line}" for n, line in enumerate(text.split("\n"), start))


@dataclass
class SandboxFileEditor:
    """Edits files in one agent's sandbox, with an undo history per file."""

    session: SandboxSession
    _history: dict[str, list[str]] = field(default_factory=dict)

    def __call__(
        self,
        command: str,
        path: str,
        *,
        file_text: str | None = None,
        old_str: str | None = None,
        new_str: str | None = None,
        insert_line: int | None = None,
        view_range: list[int] | None = None,
    ) -> EditResult:
        """Run one command.

        Raises:
            SandboxError: the sandbox is gone (a refused command is an ``EditResult`` with ``is_error``).
        """
        path = posixpath.normpath(path if path.startswith("/") else posixpath.join(self.session.repo_dir, path))
        if command == "view":
            return self._view(path, view_range)
        if command == "create":
            return self._create(path, file_text)
        if command == "str_replace":
            return self._str_replace(path, old_str, new_str)
        if command == "insert":
            return self._insert(path, insert_line, new_str)
        if command == "undo_edit":
            return self._undo(path)
        return EditResult(f"Unknown command {command!r}; use view, create, str_replace, insert or undo_edit.", True)

    # -- reading and writing -------------------------------------------------------------------

    def _read_text(self, path: str) -> str | EditResult:
        kind = self.session.path_kind(path)
        if kind == "missing":
            return EditResult(f"The path {path} does not exist. Please provide a valid path.", True, path)
        if kind == "dir":
            return EditResult(f"The path {path} is a directory; this command needs a file.", True, path)
        data = self.session.read_file(path)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return EditResult(f"{path} is not a UTF-8 text file; use the terminal for binary files.", True, path)

    def _write(self, path: str, old: str | None, new: str) -> None:
        self.session.write_file(path, new.encode("utf-8"), keep_mode_of_existing=old is not None)
        if old is not None:
            self._history.setdefault(path, []).append(old)

    def _snippet(self, path: str, content: str, first_line: int, n_lines: int) -> str:
        lines = content.split("\n")
        start = max(0, first_line - 1 - _SNIPPET_CONTEXT)
        end = min(len(lines), first_line - 1 + n_lines + _SNIPPET_CONTEXT)
        return (
            f"Here's the result of running `cat -n` on a snippet of {path}:\n"
            f"{_numbered(chr(10).join(lines[start:end]), start + 1)}\n"
            "Review the changes and make sure they are as expected. Edit the file again if necessary."
        )

    # -- commands ------------------------------------------------------------------------------

    def _view(self, path: str, view_range: list[int] | None) -> EditResult:
        if self.session.path_kind(path) == "dir":
            if view_range:
                return EditResult("`view_range` is not allowed when `path` is a directory.", True, path)
            listing = self.session.list_dir(path)
            return EditResult(
                f"Here's the files and directories up to 2 levels deep in {path}, excluding hidden items:\n"
                f"{path}\n{listing}",
                path=path,
            )
        content = self._read_text(path)
        if isinstance(content, EditResult):
            return content
        lines = content.split("\n")
        start, end = 1, len(lines)
        if view_range:
            if len(view_range) != 2 or not all(isinstance(n, int) for n in view_range):
                return EditResult("`view_range` must be two integers: [start_line, end_line].", True, path)
            start, end = view_range[0], view_range[1] if view_range[1] != -1 else len(lines)
            if not 1 <= start <= len(lines) or not start <= end <= len(lines):
                return EditResult(
                    f"Invalid `view_range` {view_range}: the file has {len(lines)} lines; "
                    f"use 1 <= start <= end <= {len(lines)} (end -1 means the last line).",
                    True,
                    path,
                )
        shown = _numbered("\n".join(lines[start - 1 : end]), start)
        if len(shown) > _MAX_VIEW_CHARS:
            shown = shown[:_MAX_VIEW_CHARS] + "\n<response clipped: view a smaller `view_range`>"
        return EditResult(f"Here's the result of running `cat -n` on {path}:\n{shown}", path=path)

    def _create(self, path: str, file_text: str | None) -> EditResult:
        if file_text is None:
            return EditResult("Parameter `file_text` is required for command: create.", True, path)
        if self.session.path_kind(path) != "missing":
            return EditResult(
                f"File already exists at: {path}. Cannot overwrite files using command `create`; "
                "use `str_replace` or the terminal.",
                True,
                path,
            )
        self._write(path, None, file_text)
        return EditResult(f"File created successfully at: {path}", path=path, prev_exist=False, new_content=file_text)

    def _str_replace(self, path: str, old_str: str | None, new_str: str | None) -> EditResult:
        if not old_str:
            return EditResult("Parameter `old_str` is required (and non-empty) for command: str_replace.", True, path)
        new_str = new_str or ""
        if old_str == new_str:
            return EditResult("`old_str` and `new_str` are the same; nothing to replace.", True, path)
        content = self._read_text(path)
        if isinstance(content, EditResult):
            return content
        count = content.count(old_str)
        if count == 0:
            return EditResult(
                f"No replacement was performed, old_str `{old_str}` did not appear verbatim in {path}.", True, path
            )
        if count > 1:
            lines, at = [], content.find(old_str)
            while at != -1:
                lines.append(content.count("\n", 0, at) + 1)
                at = content.find(old_str, at + 1)
            return EditResult(
                f"No replacement was performed. Multiple occurrences of old_str `{old_str}` in lines {lines}. "
                "Please ensure it is unique.",
                True,
                path,
            )
        updated = content.replace(old_str, new_str, 1)
        self._write(path, content, updated)
        first = content.count("\n", 0, content.find(old_str)) + 1
        snippet = self._snippet(path, updated, first, new_str.count("\n") + 1)
        return EditResult(
            f"The file {path} has been edited. {snippet}", path=path, old_content=content, new_content=updated
        )

    def _insert(self, path: str, insert_line: int | None, new_str: str | None) -> EditResult:
        if insert_line is None:
            return EditResult("Parameter `insert_line` is required for command: insert.", True, path)
        if new_str is None:
            return EditResult("Parameter `new_str` is required for command: insert.", True, path)
        content = self._read_text(path)
        if isinstance(content, EditResult):
            return content
        lines = content.split("\n")
        if content.endswith("\n"):
            lines = lines[:-1]
        if not 0 <= insert_line <= len(lines):
            return EditResult(
                f"Invalid `insert_line` {insert_line}: it should be within [0, {len(lines)}].", True, path
            )
        new_lines = new_str.split("\n")
        updated = "\n".join(lines[:insert_line] + new_lines + lines[insert_line:])
        if content.endswith("\n") or not content:
            updated += "\n"
        self._write(path, content, updated)
        snippet = self._snippet(path, updated, insert_line + 1, len(new_lines))
        return EditResult(
            f"The file {path} has been edited. {snippet}", path=path, old_content=content, new_content=updated
        )

    def _undo(self, path: str) -> EditResult:
        history = self._history.get(path)
        if not history:
            return EditResult(f"No edit history found for {path}.", True, path)
        previous = history.pop()
        current = self._read_text(path)
        self.session.write_file(path, previous.encode("utf-8"))
        shown = _numbered(previous)
        if len(shown) > _MAX_VIEW_CHARS:
            shown = shown[:_MAX_VIEW_CHARS] + "\n<response clipped>"
        return EditResult(
            f"Last edit to {path} undone successfully. Here's the result of running `cat -n` on {path}:\n{shown}",
            path=path,
            old_content=current if isinstance(current, str) else None,
            new_content=previous,
        )
