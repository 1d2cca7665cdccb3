"""Preparing an agent's patch for evaluation: sanitize it, then drop the test files it touches.

Both steps are pure functions of the patch text and follow upstream CooperBench, so a
patch is graded the same here as there:

- :func:`sanitize_patch` undoes what capturing a patch through a shell or a Windows tool
  does to it (``'\\''`` quoting, CRLF line endings, a missing final newline).
- :func:`filter_test_files` drops every ``diff --git`` block whose a/ or b/ path is a test
  by the scoring policy's rule: an agent's own tests would collide with the hidden
  ``tests.patch`` and make ``git apply`` reject the feature's tests. Two rules exist:
  :func:`is_test_path` (upstream 0.0.14, the ``paper`` policy: Python-only substrings) and
  :func:`is_test_path_any_language` (upstream 0.0.16+, the ``upstream`` policy).
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "TEST_PATH_MARKERS",
    "TestPathRule",
    "diff_blocks",
    "filter_test_files",
    "header_paths",
    "is_test_path",
    "is_test_path_any_language",
    "prepare_patch",
    "sanitize_patch",
]

#: A test-file rule: ``rule(path)`` is true when the repository-relative ``path`` is a test.
TestPathRule = Callable[[str], bool]

#: Upstream's rule: a path is a test when, seen as ``/<path>`` (as it appears after ``a`` or
#: ``b`` in the header), it contains one of these substrings. Substrings, not path segments:
#: ``src/test/helpers.go`` is a test (``/test/``), ``pkg/testing/util.go`` and ``src/test.py``
#: are not, and upstream's quirk ``contests.py`` (contains ``tests.py``) is one. Keep it that
#: way: changing it would grade patches differently from upstream's published results.
TEST_PATH_MARKERS: tuple[str, ...] = ("/test_", "/tests/", "_test.py", "/test/", "tests.py")

_HEADER = "diff --git "
_C_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "r": "\r", "v": "\v"}
_OCTAL = re.compile(r"\\([0-7]{3})")


def _unquote(quoted: str) -> str:
    """Decode a git C-quoted path (``"a/caf\\303\\251.py"``) into text."""
    body = quoted[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            octal = _OCTAL.match(body, i)
            if octal:
                out.append(int(octal.group(1), 8))
                i += 4
                continue
            out.extend(_C_ESCAPES.get(body[i + 1], body[i + 1]).encode())
            i += 2
            continue
        out.extend(ch.encode("utf-8", "surrogateescape"))
        i += 1
    return out.decode("utf-8", "replace")


def _strip_prefix(path: str) -> str:
    return path[2:] if path[:2] in ("a/", "b/") else path


def header_paths(header: str) -> tuple[str, ...]:
    """The old and new paths named by a ``diff --git a/<old> b/<new>`` line, without ``a/``/``b/``.

    Handles paths with spaces (unquoted by git), C-quoted paths, renames and CRLF endings.
    A line that cannot be split is returned whole, so a caller matching markers still sees it.

    Args:
        header: one line starting with ``diff --git ``.

    Returns:
        One or two paths.
    """
    rest = header[len(_HEADER) :] if header.startswith(_HEADER) else header
    rest = rest.rstrip("\r\n")
    if rest.startswith('"'):
        end = rest.find('" ', 1)
        while end != -1 and rest[end - 1] == "\\":
            end = rest.find('" ', end + 1)
        if end != -1:
            first, second = rest[: end + 1], rest[end + 2 :]
            second = _unquote(second) if second.startswith('"') else second
            paths = (_strip_prefix(_unquote(first)), _strip_prefix(second))
            return paths[:1] if paths[0] == paths[1] else paths
    if rest.endswith('"') and ' "' in rest:
        first, second = rest.rsplit(' "', 1)
        paths = (_strip_prefix(first), _strip_prefix(_unquote('"' + second)))
        return paths[:1] if paths[0] == paths[1] else paths
    # Unquoted: the same path twice is the common case and the only unambiguous split
    # when the path itself contains " b/".
    half = (len(rest) - 1) // 2
    if len(rest) % 2 == 1 and rest[half] == " " and rest[2:half] == rest[half + 3 :]:
        return (_strip_prefix(rest[:half]),)
    if " b/" in rest:
        first, second = rest.split(" b/", 1)
        return (_strip_prefix(first), second)
    return (rest,)


def is_test_path(path: str) -> bool:
    """Whether ``path`` (relative to the repository root) is a test file by upstream 0.0.14's rule (``paper``)."""
    probe = "/" + path
    return any(marker in probe for marker in TEST_PATH_MARKERS)


# Upstream 0.0.16+'s rule, for every language: a test directory anywhere in the path, or a file
# name of a test by its language's convention. Case matters (`FooTest.java`, not `Footest.java`),
# and the file-name part is matched on the last path segment only, so `contests.py` is not a test
# here (it is under the 0.0.14 substring rule).
_TEST_DIR = re.compile(r"/(?:tests?|__tests__|spec|testdata)/")
_TEST_FILE = re.compile(
    r"(?:^|/)(?:"
    r"test_[^/]+"  # test_foo.py
    r"|[^/]+_test\.[A-Za-z0-9]+"  # foo_test.go, foo_test.rs, foo_test.py
    r"|[^/]+\.(?:test|spec)\.[A-Za-z0-9]+"  # foo.test.ts, foo.spec.js
    r"|[^/]*Tests?\.(?:java|kt|cs|scala)"  # FooTest.java, FooTests.cs
    r"|tests?\.py"  # test.py, tests.py
    r")$"
)


def is_test_path_any_language(path: str) -> bool:
    """Whether ``path`` is a test file by upstream 0.0.16+'s rule for every language (``upstream``).

    A path is a test when it lies in a ``test/``, ``tests/``, ``__tests__/``, ``spec/`` or
    ``testdata/`` directory, or its file name is ``test_*``, ``*_test.<ext>``,
    ``*.test.<ext>``, ``*.spec.<ext>``, ``*Test.java`` (``.kt``, ``.cs``, ``.scala``; also
    ``*Tests.*``), ``test.py`` or ``tests.py``.
    """
    return bool(_TEST_DIR.search("/" + path) or _TEST_FILE.search(path))


def diff_blocks(patch: str) -> tuple[str, list[str]]:
    """Split a patch into its preamble and one block per ``diff --git`` header, bytes unchanged.

    Returns:
        ``(preamble, blocks)``; ``preamble + "".join(blocks) == patch``.
    """
    preamble: list[str] = []
    blocks: list[list[str]] = []
    for line in patch.splitlines(keepends=True):
        if line.startswith(_HEADER):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
        else:
            preamble.append(line)
    return "".join(preamble), ["".join(b) for b in blocks]


def filter_test_files(patch: str, rule: TestPathRule = is_test_path) -> str:
    """Drop the ``diff --git`` blocks of test files from a patch.

    Renames count as tests when either side is one; binary hunks, deletions and mode changes
    are dropped or kept whole with their block. Kept blocks are byte-identical.

    Args:
        patch: a unified git diff.
        rule: which paths are tests (default :func:`is_test_path`, the ``paper`` policy's).

    Returns:
        The patch without test files, or ``""`` when no ``diff --git`` block is left (a patch
        that only touched tests is no patch at all, not a corrupt one).
    """
    preamble, blocks = diff_blocks(patch)
    kept = [b for b in blocks if not any(rule(p) for p in header_paths(b.split("\n", 1)[0]))]
    if not kept:
        return ""
    text = preamble + "".join(kept)
    return text if text.endswith("\n") else text + "\n"


# Lines git itself writes; when every one of them ends in CR, the whole patch went through
# a CRLF conversion (a Windows editor, clipboard, a JSON string) rather than touching CRLF files.
_STRUCTURAL = ("diff --git ", "index ", "--- ", "+++ ", "@@ ")


def sanitize_patch(patch: str) -> str:
    """Repair what capturing a patch through a shell or another tool does to it.

    - ``'\\''`` (a single quote escaped for a single-quoted shell string) becomes ``'``, as upstream does.
      Like upstream, this also rewrites a literal ``'\\''`` that a patch to a shell script meant.
    - CRLF line endings are turned back into LF when every line git writes itself (headers,
      ``---``/``+++``, hunk headers) ends in CR. Patches that only touch CRLF files keep their CRs.
    - A patch that does not end with a newline gets one (``git apply`` calls it corrupt otherwise).
    - A patch of only whitespace becomes ``""``.

    Args:
        patch: the patch text.

    Returns:
        The repaired patch. Apply it once: each repair is a single pass (a doubled ``'\\''`` or a
        line ending in CR CR LF is repaired by one level), as upstream's.
    """
    if not patch.strip():
        return ""
    patch = patch.replace("'\\''", "'")
    if not patch.endswith("\n"):
        patch += "\n"
    structural = [ln for ln in patch.split("\n") if ln.startswith(_STRUCTURAL)]
    if structural and all(ln.endswith("\r") for ln in structural):
        patch = patch.replace("\r\n", "\n")
    return patch


def prepare_patch(raw: str | bytes | None, rule: TestPathRule = is_test_path) -> str:
    """An agent's patch as the evaluator applies it: decoded, sanitized, test files dropped.

    Bytes that are not UTF-8 survive the round trip (they are carried as surrogate escapes,
    so encode the result with :func:`cooperbench.patches.patch_bytes`).

    Args:
        raw: the patch file's content; ``None`` for a missing patch.
        rule: which paths are tests (the scoring policy's rule).

    Returns:
        The patch to apply, ``""`` when there is nothing to apply.
    """
    if raw is None:
        return ""
    text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
    return filter_test_files(sanitize_patch(text), rule)
