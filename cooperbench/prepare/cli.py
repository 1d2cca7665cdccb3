"""``cooperbench prepare``: get the dataset, or check it against its manifest."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated

import typer

from cooperbench.cli._app import app, fail
from cooperbench.errors import CooperBenchError
from cooperbench.prepare._hub import DEFAULT_REPO_ID

__all__ = ["prepare_command"]


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _summarize(dataset_dir: Path) -> None:
    """What a run would find in the dataset: tasks, features, pairs, and any dataset problem."""
    from cooperbench.dataset import discover_pairs, load_tasks

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            tasks = load_tasks(dataset_dir)
            pairs = discover_pairs(dataset_dir)
        except CooperBenchError as exc:
            typer.echo(f"warning: the dataset cannot be read as a CooperBench dataset: {exc}", err=True)
            return
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    features = sum(len(t.feature_ids) for t in tasks)
    typer.echo(f"{len(tasks)} task(s), {features} feature(s), {len(pairs)} pair(s).")
    broken = [p for p in pairs if p.problems]
    if broken:
        typer.echo(f"{len(broken)} pair(s) have dataset problems and would be recorded as dataset_error:", err=True)
        for pair in broken[:10]:
            typer.echo(f"  {pair.key}: {pair.dataset_error}", err=True)
        if len(broken) > 10:
            typer.echo(f"  ... and {len(broken) - 10} more", err=True)


@app.command("prepare")
def prepare_command(
    dataset_dir: Annotated[
        Path | None, typer.Option("--dataset-dir", help="Where the dataset goes (default: ./dataset).")
    ] = None,
    revision: Annotated[
        str | None,
        typer.Option(
            "--revision",
            help="Branch, tag or commit of the Hub repository (or of the git checkout given to --from); the "
            "commit is pinned in the manifest. Default: the manifest's pinned commit, else main (git: HEAD).",
        ),
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Import offline from a dataset folder, a tarball (.tar, .tar.gz, .tar.xz, .zip) or a git "
            "checkout instead of fetching from the Hub.",
        ),
    ] = None,
    repo_id: Annotated[str, typer.Option("--repo-id", help="The Hugging Face dataset repository.")] = DEFAULT_REPO_ID,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Verify the dataset against its manifest; name every changed, missing or extra file."
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty folder that `prepare` did not write.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --check: print the differences as one JSON object.")
    ] = False,
) -> None:
    """Get the dataset: fetch the public CooperBench dataset from the Hugging Face Hub, or import it offline.

    Writes <dataset-dir>/.cooperbench-manifest.json: the source, pinned to a commit, and the
    SHA-256 of every file. Running it again resumes an interrupted fetch and repairs files that
    differ. HF_ENDPOINT (a mirror) and HF_TOKEN are honoured as by huggingface_hub. With
    --check, nothing is fetched: exits 1 when a file differs from the manifest.
    """
    from cooperbench.settings import defaults

    target = dataset_dir or Path(defaults().dataset_dir)
    if check:
        if source is not None or revision is not None or force:
            raise fail("--check verifies the dataset as it is; it takes no --from, --revision or --force")
        _check(target, as_json=as_json)
        return
    if as_json:
        raise fail("--json goes with --check")

    from cooperbench.prepare._prepare import prepare_dataset

    if source is not None and repo_id != DEFAULT_REPO_ID:
        raise fail("--repo-id names a Hub repository; it does not apply to --from")
    try:
        result = prepare_dataset(
            target, source=source, revision=revision, repo_id=repo_id, force=force, progress=typer.echo
        )
    except CooperBenchError as exc:
        raise fail(str(exc)) from exc
    except KeyboardInterrupt:
        typer.echo("Interrupted: what was written is kept; run `cooperbench prepare` again to resume.", err=True)
        raise typer.Exit(130) from None
    manifest = result.manifest
    for note in result.notes:
        typer.echo(f"note: {note}")
    if result.skipped:
        typer.echo(f"note: left out {len(result.skipped)} archive member(s) that are not regular files: "
                   f"{', '.join(result.skipped[:5])}")  # fmt: skip
    if result.removed:
        typer.echo(f"Removed {len(result.removed)} file(s) the source no longer has: {', '.join(result.removed[:5])}")
    typer.echo(
        f"Prepared {target}: {len(manifest.files)} files ({_size(manifest.total_size)}), {result.written} written, "
        f"{result.reused} already in place; source {manifest.describe_source()}."
    )
    typer.echo(f"Manifest: {target / '.cooperbench-manifest.json'} (check it with `cooperbench prepare --check`).")
    _summarize(target)


def _check(target: Path, *, as_json: bool) -> None:
    from cooperbench.prepare._manifest import check_dataset

    try:
        report = check_dataset(target)
    except CooperBenchError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "dataset_dir": str(target),
                    "ok": report.ok,
                    "checked": report.checked,
                    "changed": report.changed,
                    "missing": report.missing,
                    "extra": report.extra,
                    "source": report.manifest.source,
                    "digest": report.manifest.digest,
                },
                indent=2,
            )
        )
        if not report.ok:
            raise typer.Exit(1)
        return
    for line in report.lines():
        typer.echo(line)
    source = report.manifest.describe_source()
    if report.ok:
        typer.echo(f"OK: {report.checked} files of {target} match the manifest ({source}).")
        return
    recorded = report.manifest.source
    again = (
        "`cooperbench prepare`"
        if recorded.get("kind") == "hub"
        else f"`cooperbench prepare --from {recorded.get('path')}`"
    )
    typer.echo(
        f"{target}: {len(report.changed)} changed, {len(report.missing)} missing, {len(report.extra)} extra "
        f"file(s) against the manifest ({source}). {again} restores the changed and missing ones.",
        err=True,
    )
    raise typer.Exit(1)
