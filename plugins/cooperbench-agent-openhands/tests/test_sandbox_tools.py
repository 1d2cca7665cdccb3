"""The terminal and file editor semantics, against a real ``local`` sandbox (no model involved)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cooperbench_agent_openhands.editor import SandboxFileEditor
from cooperbench_agent_openhands.session import SandboxSession

from cooperbench.backends._context import ActiveRun
from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.dataset import Task
from cooperbench.errors import SandboxError

CASE = "/workspace/repo/textkit/case.py"


@pytest.fixture
def session(bound: ActiveRun, task: Task) -> Iterator[SandboxSession]:
    env = SandboxEnvironment(task.image_name(), env={"FROM_CONFIG": "yes"})
    try:
        yield SandboxSession(env=env, agent_id="t", command_timeout=20)
    finally:
        env.cleanup()


def test_shell_keeps_directory_and_exports_but_not_plain_variables(session: SandboxSession):
    first = session.shell("cd textkit && export KEPT=1 && LOST=1 && echo ok")
    assert (first.output.strip(), first.exit_code, first.cwd) == ("ok", 0, "/workspace/repo/textkit")
    second = session.shell('echo "$PWD kept=$KEPT lost=$LOST config=$FROM_CONFIG"')
    assert second.output.strip() == "/workspace/repo/textkit kept=1 lost= config=yes"
    session.reset_shell()
    assert session.shell("pwd; echo kept=$KEPT").output.split() == ["/workspace/repo", "kept="]


def test_shell_reports_exit_code_and_output_of_failing_commands(session: SandboxSession):
    result = session.shell("echo partial; ls /no/such/dir; exit 3")
    assert result.exit_code == 3
    assert "partial" in result.output and "No such file" in result.output
    assert "__COOPERBENCH_CWD" not in result.output


def test_shell_kills_a_command_at_its_timeout(session: SandboxSession):
    result = session.shell("echo started; sleep 30", timeout=1)
    assert result.timed_out
    assert "started" in result.output


def test_editor_str_replace_insert_and_undo(session: SandboxSession):
    editor = SandboxFileEditor(session)
    done = editor("str_replace", CASE, old_str='return "_".join', new_str='return "__".join')
    assert not done.is_error, done.text
    assert 'return "__".join' in done.text and "cat -n" in done.text
    assert session.read_file(CASE).decode().count('"__".join') == 1

    inserted = editor("insert", "textkit/case.py", insert_line=0, new_str="# header")
    assert not inserted.is_error and inserted.path == CASE
    assert session.read_file(CASE).decode().startswith("# header\n")

    editor("undo_edit", CASE)
    editor("undo_edit", CASE)
    assert session.read_file(CASE).decode() == done.old_content


def test_editor_refuses_ambiguous_missing_and_existing_targets(session: SandboxSession):
    editor = SandboxFileEditor(session)
    ambiguous = editor("str_replace", CASE, old_str="def ", new_str="def  ")
    assert ambiguous.is_error and "Multiple occurrences" in ambiguous.text
    absent = editor("str_replace", CASE, old_str="not in the file", new_str="x")
    assert absent.is_error and "did not appear verbatim" in absent.text
    missing = editor("view", "/workspace/repo/nope.py")
    assert missing.is_error and "does not exist" in missing.text
    exists = editor("create", CASE, file_text="x")
    assert exists.is_error and "already exists" in exists.text
    assert editor("undo_edit", CASE).is_error


def test_editor_views_ranges_and_directories(session: SandboxSession):
    editor = SandboxFileEditor(session)
    lines = editor("view", CASE, view_range=[1, 1]).text.splitlines()
    assert lines[1] == '     1\t"""Conversions between identifier naming styles."""'
    assert len(lines) == 2
    assert editor("view", CASE, view_range=[5, 1]).is_error
    listing = editor("view", "/workspace/repo").text
    assert "/workspace/repo/textkit/case.py" in listing and "/.git" not in listing


def test_editor_keeps_the_mode_of_an_edited_file(session: SandboxSession):
    session.execute("printf '#!/bin/sh\\necho one\\n' > run.sh && chmod 755 run.sh")
    SandboxFileEditor(session)("str_replace", "/workspace/repo/run.sh", old_str="one", new_str="two")
    assert session.shell("stat -c %a run.sh && ./run.sh").output.split() == ["755", "two"]


def test_a_dead_sandbox_is_remembered_as_the_runs_failure(session: SandboxSession):
    session.env.cleanup()
    with pytest.raises(SandboxError):
        session.shell("true")
    assert isinstance(session.failure, SandboxError)
