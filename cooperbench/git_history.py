"""A task repository's history cut at its base commit: what an agent may see of the project's past.

A task's repository is cloned from upstream, whose later commits hold the real implementation
of the very features agents are asked to write. Before any agent sees the repository, its
``.git`` is rebuilt to hold the base commit and its ancestors only: HEAD detached at the base,
no branch, tag, remote, reflog, stash, replace ref or alternate object store, and no object
unreachable from the base (so ``git log --all``, ``git rev-list --all`` and
``git cat-file --batch-all-objects`` show nothing newer). The working tree is left as it is.

The rebuild is a fresh ``git init`` that fetches the base commit from the old repository:
``git fetch`` sends only the objects reachable from what it is asked for, which is safer than
deleting refs and pruning (alternates, kept packs, replace refs and the like keep objects alive).

Every backend uses the same shell script (:func:`scrub_script`), so a template built on the host
(:func:`scrub_repository`) and an image built by a container engine (a ``RUN`` step, or an exec
in a build container) get exactly the same treatment. :func:`leak_probe_script` is the matching
check, runnable inside a sandbox; :func:`history_leaks` runs it on a host path.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from cooperbench.errors import SandboxError

__all__ = ["history_leaks", "leak_probe_script", "scrub_repository", "scrub_script"]

# Run as `sh -c SCRIPT scrub <repo> <base>`. POSIX sh plus git (>= 2.29 for --no-write-fetch-head).
_SCRUB = r"""
set -eu
repo=$1 base=$2
cd "$repo"
repo=$(pwd -P)
commit=$(git rev-parse --verify --quiet "$base^{commit}") || {
    echo "scrub: $base is not a commit of the repository in $repo" >&2; exit 3; }
fresh="$repo/.cooperbench-scrub.$$"
trap 'rm -rf "$fresh"' EXIT
rm -rf "$fresh"
git -c init.defaultBranch=main init -q "$fresh"
git update-ref --no-deref refs/cooperbench-scrub/base "$commit"
git -C "$fresh" -c core.logAllRefUpdates=false -c fetch.writeCommitGraph=false \
    fetch -q --no-tags --no-write-fetch-head --no-recurse-submodules "$repo" \
    refs/cooperbench-scrub/base:refs/cooperbench-scrub/base
git -C "$fresh" -c core.logAllRefUpdates=false update-ref --no-deref HEAD "$commit"
git -C "$fresh" -c core.logAllRefUpdates=false update-ref -d refs/cooperbench-scrub/base
rm -rf "$fresh/.git/logs" "$fresh/.git/hooks" "$fresh/.git/FETCH_HEAD" "$fresh/.git/ORIG_HEAD"
rm -rf "$repo/.git"
mv "$fresh/.git" "$repo/.git"
git read-tree HEAD
git update-index -q --refresh >/dev/null || true
"""

# Run as `sh -c SCRIPT probe <repo> <base>`: one line per leak on stdout, exit 0 either way
# (exit 2: the check itself could not run).
_PROBE = r"""
set -u
repo=$1 base=$2
cd "$repo" 2>/dev/null || { echo "probe: cannot enter $repo" >&2; exit 2; }
commit=$(git rev-parse --verify --quiet "$base^{commit}") || { echo "base commit $base is missing"; exit 0; }
gitdir=$(git rev-parse --absolute-git-dir) || exit 2
head=$(git rev-parse --verify --quiet HEAD || true)
[ "$head" = "$commit" ] || echo "HEAD is ${head:-unborn}, not the base commit $commit"
git for-each-ref --format='ref %(refname) -> %(objectname)'
git remote | sed 's/^/remote /'
git stash list 2>/dev/null | sed 's/^/stash /'
[ -s "$gitdir/objects/info/alternates" ] && echo "alternate object store: $(cat "$gitdir/objects/info/alternates")"
[ -s "$gitdir/info/grafts" ] && echo "grafts file $gitdir/info/grafts"
if [ -d "$gitdir/logs" ] && [ -n "$(find "$gitdir/logs" -type f -size +0 2>/dev/null | head -n 1)" ]; then
    echo "reflog entries under $gitdir/logs"
fi
tmp=${TMPDIR:-/tmp}/cooperbench-probe.$$
trap 'rm -f "$tmp".*' EXIT
git rev-list --objects "$commit" | cut -d' ' -f1 | sort -u > "$tmp.reachable" || exit 2
for f in FETCH_HEAD ORIG_HEAD MERGE_HEAD CHERRY_PICK_HEAD REVERT_HEAD AUTO_MERGE packed-refs; do
    [ -s "$gitdir/$f" ] || continue
    grep -o '[0-9a-f]\{40,64\}' "$gitdir/$f" | sort -u | comm -23 - "$tmp.reachable" \
        | sed "s/^/$f names an object not reachable from the base: /"
done
git cat-file --batch-all-objects --batch-check='%(objectname) %(objecttype)' | sort -u > "$tmp.all" || exit 2
cut -d' ' -f1 "$tmp.all" | comm -23 - "$tmp.reachable" | head -n 20 | sed 's/^/object not reachable from the base: /'
git rev-list --all 2>/dev/null | sort -u | comm -23 - "$tmp.reachable" | head -n 20 \
    | sed 's/^/commit not an ancestor of the base: /'
exit 0
"""


def scrub_script(repo_dir: str, base: str) -> str:
    """A shell command that cuts the repository at ``repo_dir`` down to ``base`` and its ancestors.

    For container builds (a Dockerfile ``RUN`` step, or an exec in a build container). Needs
    ``sh`` and ``git`` >= 2.29; writes only inside ``repo_dir``; fails (non-zero) when ``base``
    is not a commit of the repository.
    """
    return f"sh -c {shlex.quote(_SCRUB)} scrub {shlex.quote(repo_dir)} {shlex.quote(base)}"


def leak_probe_script(repo_dir: str, base: str) -> str:
    """A shell command printing one line per way the repository at ``repo_dir`` shows more than ``base``.

    Empty output means the history is cut at the base: what an isolation probe runs inside a
    sandbox. Exit status 2 when the check could not run (no repository there, git missing).
    """
    return f"sh -c {shlex.quote(_PROBE)} probe {shlex.quote(repo_dir)} {shlex.quote(base)}"


def _sh(script: str, name: str, path: Path, base: str, what: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["sh", "-c", script, name, str(path), base],
            capture_output=True,
            text=True,
            check=False,
            env=_git_env(),
        )
    except OSError as exc:
        raise SandboxError(f"cannot run sh/git to {what} {path}: {exc}. Install git") from exc


def scrub_repository(path: Path, base: str) -> None:
    """Cut the repository at ``path`` (on this host) down to ``base`` and its ancestors; see the module doc.

    Raises:
        SandboxError: ``base`` is not a commit of the repository, or git fails (the message has git's error).
    """
    done = _sh(_SCRUB, "scrub", path, base, "scrub the history of")
    if done.returncode != 0:
        raise SandboxError(
            f"cannot cut the history of {path} at {base}: {(done.stderr or done.stdout).strip() or done.returncode}"
        )


def history_leaks(path: Path, base: str) -> list[str]:
    """What the repository at ``path`` shows beyond ``base`` and its ancestors (empty: nothing).

    Raises:
        SandboxError: the check cannot run.
    """
    done = _sh(_PROBE, "probe", path, base, "check the history of")
    if done.returncode != 0:
        raise SandboxError(f"cannot check the history of {path}: {done.stderr.strip() or done.returncode}")
    return [line for line in done.stdout.splitlines() if line.strip()]


def _git_env() -> dict[str, str]:
    # The user's hooks and templates must not run or add files; their mirrors do not matter here.
    env = dict(os.environ)
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    env["GIT_TEMPLATE_DIR"] = ""
    return env
