"""Test-file filtering and patch sanitizing, checked against real git on tricky patches."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cooperbench.evaluation.patch_filter import (
    TEST_PATH_MARKERS,
    diff_blocks,
    filter_test_files,
    header_paths,
    is_test_path,
    is_test_path_any_language,
    prepare_patch,
    sanitize_patch,
)

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "core.autocrlf=false"]


def git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run([*GIT, *args], cwd=repo, input=stdin, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def applies(repo: Path, patch: str | bytes) -> bool:
    data = patch.encode("utf-8", "surrogateescape") if isinstance(patch, str) else patch
    proc = subprocess.run([*GIT, "apply", "--check", "-"], cwd=repo, input=data, capture_output=True, check=False)
    return proc.returncode == 0


def changed_paths(patch: str) -> list[str]:
    return [p for block in diff_blocks(patch)[1] for p in header_paths(block.split("\n", 1)[0])]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose base commit has source, tests, a binary file, a CRLF file and a `test` source dir."""
    files = {
        "src/app.py": "def app():\n    return 1\n",
        "src/old.py": "OLD = True\n",
        "src/util.py": "def util():\n    return 2\n",
        "src/test.py": "NAME = 'a module named test.py is not a test'\n",
        "src/test/helpers.go": "package test\n",
        "pkg/testing/util.go": "package testing\n",
        "docs/contests.py": "CONTESTS = []\n",
        "tests/test_app.py": "def test_app():\n    assert True\n",
        "tests/test_old.py": "def test_old():\n    assert True\n",
        "no_newline.txt": "last line without newline",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "image.png").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "crlf.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    return tmp_path


def diff_of(repo: Path, change: Callable[[Path], object]) -> str:
    """The --binary diff a change makes, with the repository reset afterwards."""
    change(repo)
    git(repo, "add", "-A")
    patch = git(repo, "diff", "--cached", "--binary", "HEAD").decode("utf-8", "surrogateescape")
    git(repo, "reset", "-q", "--hard", "HEAD")
    git(repo, "clean", "-fdq")
    return patch


def test_renames_are_kept_for_source_and_dropped_when_either_side_is_a_test(repo: Path) -> None:
    def change(r: Path) -> None:
        git(r, "mv", "src/app.py", "src/main_app.py")
        git(r, "mv", "tests/test_app.py", "tests/test_main.py")
        git(r, "mv", "src/util.py", "tests/util.py")  # source moved into tests/: b path is a test

    patch = diff_of(repo, change)
    assert "rename from src/app.py" in patch
    filtered = filter_test_files(patch)
    assert changed_paths(filtered) == ["src/app.py", "src/main_app.py"]
    assert applies(repo, filtered)


def test_binary_hunks_survive_whole_and_still_apply(repo: Path) -> None:
    def change(r: Path) -> None:
        (r / "image.png").write_bytes(bytes(reversed(range(256))) * 4)
        (r / "tests" / "fixture.png").write_bytes(b"\x00\x01\x02" * 50)
        (r / "src" / "app.py").write_text("def app():\n    return 2\n")

    patch = diff_of(repo, change)
    assert "GIT binary patch" in patch
    filtered = filter_test_files(patch)
    assert changed_paths(filtered) == ["image.png", "src/app.py"]
    assert applies(repo, filtered)


def test_deleted_files_are_dropped_only_when_they_are_tests(repo: Path) -> None:
    def change(r: Path) -> None:
        (r / "tests" / "test_old.py").unlink()
        (r / "src" / "old.py").unlink()

    filtered = filter_test_files(diff_of(repo, change))
    assert changed_paths(filtered) == ["src/old.py"]
    assert "deleted file mode" in filtered
    assert applies(repo, filtered)


def test_a_source_directory_named_test_is_a_test_by_upstreams_rule(repo: Path) -> None:
    """Upstream matches `/test/` anywhere in the header, so `src/test/` is dropped (Java/Go test trees
    live there); `src/test.py`, `pkg/testing/` are kept; `contests.py` is dropped (it contains `tests.py`)."""

    def change(r: Path) -> None:
        for name in ("src/test/helpers.go", "pkg/testing/util.go", "src/test.py", "docs/contests.py"):
            (r / name).write_text((r / name).read_text() + "# changed\n")

    filtered = filter_test_files(diff_of(repo, change))
    assert changed_paths(filtered) == ["pkg/testing/util.go", "src/test.py"]
    assert applies(repo, filtered)


def test_a_patch_of_only_tests_is_empty(repo: Path) -> None:
    patch = diff_of(repo, lambda r: (r / "tests" / "test_app.py").write_text("def test_app():\n    assert 1\n"))
    assert filter_test_files(patch) == ""
    assert prepare_patch(patch.encode()) == ""


def test_missing_final_newline_is_added_and_no_newline_markers_are_kept(repo: Path) -> None:
    patch = diff_of(repo, lambda r: (r / "src" / "app.py").write_text("def app():\n    return 5\n"))
    cut = patch.rstrip("\n")
    assert not applies(repo, cut)  # git: corrupt patch at the last line
    assert sanitize_patch(cut) == patch
    assert applies(repo, sanitize_patch(cut))

    marker = diff_of(repo, lambda r: (r / "no_newline.txt").write_text("changed last line, still no newline"))
    assert "\\ No newline at end of file" in marker
    assert sanitize_patch(marker) == marker
    assert applies(repo, prepare_patch(marker.encode()))


def test_a_patch_converted_to_crlf_in_transit_applies_again(repo: Path) -> None:
    patch = diff_of(repo, lambda r: (r / "src" / "app.py").write_text("def app():\n    return 3\n"))
    mangled = patch.replace("\n", "\r\n")
    assert not applies(repo, mangled)
    assert sanitize_patch(mangled) == patch
    assert applies(repo, prepare_patch(mangled.encode()))


def test_a_patch_to_a_crlf_file_keeps_its_carriage_returns(repo: Path) -> None:
    patch = diff_of(repo, lambda r: (r / "crlf.txt").write_bytes(b"one\r\n2\r\nthree\r\n"))
    assert "\r\n" in patch
    assert sanitize_patch(patch) == patch
    assert applies(repo, prepare_patch(patch.encode()))


def test_shell_escaped_quotes_are_unescaped_like_upstream(repo: Path) -> None:
    patch = diff_of(repo, lambda r: (r / "src" / "app.py").write_text('def app():\n    return "won\'t"\n'))
    escaped = patch.replace("'", "'\\''")  # what `echo '<patch>'` capture leaves behind
    assert "won'\\''t" in escaped
    assert sanitize_patch(escaped) == patch
    git(repo, "apply", "-", stdin=sanitize_patch(escaped).encode())
    assert (repo / "src" / "app.py").read_text() == 'def app():\n    return "won\'t"\n'


def test_non_ascii_quoted_paths_are_decoded(repo: Path) -> None:
    def change(r: Path) -> None:
        (r / "tests" / "tést_café.py").write_text("x = 1\n")
        (r / "src" / "café.py").write_text("x = 1\n")

    patch = diff_of(repo, change)
    assert '"b/src/caf\\303\\251.py"' in patch  # git's default core.quotepath quotes non-ASCII
    filtered = filter_test_files(patch)
    assert changed_paths(filtered) == ["src/café.py"]
    assert applies(repo, filtered)


def test_non_utf8_bytes_survive_prepare(repo: Path) -> None:
    patch = diff_of(repo, lambda r: (r / "src" / "old.py").write_bytes(b"OLD = '\xe9t\xe9'\n"))
    raw = patch.encode("utf-8", "surrogateescape")
    assert b"\xe9" in raw
    assert prepare_patch(raw).encode("utf-8", "surrogateescape") == raw


def test_whitespace_only_is_no_patch() -> None:
    assert sanitize_patch(" \n\r\n\t") == "" and prepare_patch(None) == "" and prepare_patch(b"\n\n") == ""


# --- properties -------------------------------------------------------------------------------

_SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.-T0123456789 ", min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and s not in (".", "..")
)
_PATH = st.lists(
    st.one_of(_SEGMENT, st.sampled_from(["test", "tests", "test_x.py", "a_test.py", "tests.py"])),
    min_size=1,
    max_size=5,
).map("/".join)


def upstream_rule(header: str) -> bool:
    """Upstream CooperBench's filter, restated: a marker anywhere in the `diff --git` line."""
    return any(marker in header for marker in TEST_PATH_MARKERS)


@given(path=_PATH)
def test_is_test_path_agrees_with_upstreams_whole_line_rule(path: str) -> None:
    header = f"diff --git a/{path} b/{path}"
    assert header_paths(header) == (path,)
    assert is_test_path(path) == upstream_rule(header)


@given(old=_PATH, new=_PATH)
def test_renames_agree_with_upstream(old: str, new: str) -> None:
    header = f"diff --git a/{old} b/{new}"
    assert any(is_test_path(p) for p in header_paths(header)) == upstream_rule(header)


def block(path: str, body: str) -> str:
    head = f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n"
    return head + f"@@ -1 +1 @@\n-{body}\n+{body}!\n"


@given(
    paths=st.lists(_PATH, max_size=6),
    bodies=st.lists(st.text(alphabet="abc 'x\\", max_size=10), min_size=6, max_size=6),
)
def test_filter_keeps_every_non_test_block_byte_for_byte_and_is_idempotent(paths: list[str], bodies: list[str]) -> None:
    patch = "".join(block(p, b) for p, b in zip(paths, bodies, strict=False))
    filtered = filter_test_files(patch)
    assert filter_test_files(filtered) == filtered
    kept = [block(p, b) for p, b in zip(paths, bodies, strict=False) if not is_test_path(p)]
    assert filtered == "".join(kept)


_PIECES = st.sampled_from(["a", "'", "\r\n", "\n", "diff --git a/x b/x", "@@ -1 +1 @@", " "])


@given(text=st.lists(_PIECES, max_size=40).map("".join))
def test_sanitize_is_idempotent_and_ends_with_a_newline(text: str) -> None:
    # One pass by design: without backslashes (`'\\''\\''` becomes `'\\''`, as upstream's single
    # str.replace) and without lone CRs (a CRLF file's line mangled to CR CR LF loses one CR).
    once = sanitize_patch(text)
    assert sanitize_patch(once) == once
    assert once == "" or once.endswith("\n")


# --- the test-file rule of each scoring policy, on paths of every language ---------------------

# (path, test under `upstream` (0.0.16+), test under `paper` (0.0.14))
LANGUAGE_PATHS = [
    # Python
    ("tests/test_app.py", True, True),
    ("src/pkg/test_util.py", True, True),
    ("src/pkg/util_test.py", True, True),
    ("pkg/tests.py", True, True),
    ("pkg/test.py", True, False),  # 0.0.14 knew `tests.py`, not `test.py`
    ("docs/contests.py", False, True),  # 0.0.14's substring quirk
    ("src/pkg/testing.py", False, False),
    ("src/conftest.py", False, False),
    # Go
    ("pkg/server/handler_test.go", True, False),
    ("internal/testdata/golden.json", True, False),
    ("pkg/testing/util.go", False, False),
    ("cmd/main.go", False, False),
    # Rust
    ("src/parser_test.rs", True, False),
    ("tests/integration.rs", True, True),
    ("src/lib.rs", False, False),
    # TypeScript / JavaScript
    ("src/components/button.test.tsx", True, False),
    ("src/api/client.spec.ts", True, False),
    ("src/__tests__/util.ts", True, False),
    ("lib/index.test.js", True, False),
    ("spec/models/user_spec.rb", True, False),
    ("src/latest.ts", False, False),
    ("src/contest.ts", False, False),
    # JVM / .NET
    ("src/test/java/org/app/ParserTest.java", True, True),  # `/test/` under both
    ("app/src/main/kotlin/ServiceTest.kt", True, False),
    ("Lib/ParserTests.cs", True, False),
    ("src/main/scala/ParserTest.scala", True, False),
    ("src/main/java/org/app/Parser.java", False, False),
    ("src/main/java/org/app/Contest.java", False, False),
]


@pytest.mark.parametrize(("path", "upstream", "paper"), LANGUAGE_PATHS)
def test_each_policy_classifies_test_paths_of_every_language(path: str, upstream: bool, paper: bool) -> None:
    from cooperbench.evaluation.policy import POLICIES

    assert is_test_path_any_language(path) is upstream
    assert is_test_path(path) is paper
    assert POLICIES["upstream"].test_path(path) is upstream and POLICIES["paper"].test_path(path) is paper


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10)
_EXT = st.sampled_from(["py", "go", "rs", "ts", "tsx", "js", "java", "kt", "cs", "scala", "rb", "c"])
_DIRS = st.lists(_WORD.filter(lambda w: "test" not in w and "spec" not in w), max_size=4)


@given(dirs=_DIRS, name=_WORD, ext=_EXT, kind=st.sampled_from(["dir", "test_", "_test", ".test", ".spec", "Test"]))
def test_upstream_rule_finds_each_languages_test_convention(dirs: list[str], name: str, ext: str, kind: str) -> None:
    prefix = "/".join(dirs)
    prefix = prefix + "/" if prefix else ""
    path = {
        "dir": f"{prefix}__tests__/{name}.{ext}",
        "test_": f"{prefix}test_{name}.{ext}",
        "_test": f"{prefix}{name}_test.{ext}",
        ".test": f"{prefix}{name}.test.{ext}",
        ".spec": f"{prefix}{name}.spec.{ext}",
        "Test": f"{prefix}{name.capitalize()}Test.java",
    }[kind]
    assert is_test_path_any_language(path)


@given(dirs=_DIRS, name=_WORD.filter(lambda w: "test" not in w and "spec" not in w), ext=_EXT)
def test_neither_rule_drops_a_path_that_never_says_test(dirs: list[str], name: str, ext: str) -> None:
    path = "/".join([*dirs, f"{name}.{ext}"])
    assert not is_test_path_any_language(path) and not is_test_path(path)


@given(paths=st.lists(st.sampled_from([p for p, _, _ in LANGUAGE_PATHS]), max_size=8))
def test_filtering_under_the_upstream_rule_keeps_exactly_the_non_test_blocks(paths: list[str]) -> None:
    patch = "".join(block(p, "x") for p in paths)
    filtered = filter_test_files(patch, is_test_path_any_language)
    assert filtered == "".join(block(p, "x") for p in paths if not is_test_path_any_language(p))
    assert filter_test_files(filtered, is_test_path_any_language) == filtered
