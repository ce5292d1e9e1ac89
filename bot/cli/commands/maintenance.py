"""``paperbot export`` / ``import`` / ``doctor``: move a store, and check and repair it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.app import (
    JsonOpt,
    app,
    bot_from_env,
    err,
    escape,
    out,
    print_ingest_report,
    print_json,
    progress_bar,
    run_or_exit,
)

__all__ = ["doctor", "export", "import_"]

_STYLE = {"ok": "green", "warning": "yellow", "problem": "bold red"}


@app.command()
def export(
    out_file: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write to this file (default: standard output)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export every paper with its chunk metadata as JSON Lines (no vectors).

    Line 1 is a header (format version, embedding model, chunking, counts); then one line per
    paper: all its fields and its chunks' ids, indices and sentence/character ranges. Read it
    back with `paperbot import FILE`.
    """
    bot = run_or_exit(bot_from_env)
    if out_file is None:
        summary = run_or_exit(lambda: bot.export_papers(sys.stdout))
        if as_json:  # the data went to stdout: the summary goes to stderr
            err.print_json(data=summary.to_dict())
        return
    summary = run_or_exit(lambda: bot.export_papers(out_file))
    if as_json:
        print_json(summary.to_dict())
        return
    out.print(
        f"exported {summary.papers} papers, {summary.chunks} chunks to {escape(str(out_file))}"
    )
    if summary.skipped_chunks:
        err.print(
            f"[yellow]note:[/] {summary.skipped_chunks} inconsistent chunks left out "
            "(see `paperbot doctor`)"
        )


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A file written by `paperbot export`.")],
    as_json: JsonOpt = False,
) -> None:
    """Import a `paperbot export` file: papers are re-chunked as recorded and re-embedded.

    Unchanged papers are skipped, changed ones replaced. Bad lines are reported with their line
    number and the rest is imported; exit code 1 if any line failed.
    """
    bot = run_or_exit(bot_from_env)
    with progress_bar(not as_json and err.is_terminal) as progress:
        result = run_or_exit(lambda: bot.import_papers(path, progress=progress))
    report = result.report
    if as_json:
        print_json(result.to_dict())
    else:
        print_ingest_report(report, result.notes)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def doctor(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Fix what is wrong: delete orphan/stale chunks, re-embed papers with missing "
            "chunks from their stored records, rebuild the BM25 index; then check again.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check the store's consistency: paper records vs chunks vs the BM25 index.

    Prints one row per check (ok / warning / problem, with counts). Warnings heal by
    themselves (the BM25 index is rebuilt on the next search, an interrupted write on the next
    ingest). Exit code 1 when problems remain.
    """
    bot = run_or_exit(bot_from_env)
    report = run_or_exit(lambda: bot.doctor(repair=repair))
    if as_json:
        print_json(report.to_dict())
    else:
        if report.repair is not None:
            r = report.repair
            out.print(
                f"repaired: {r['chunks_deleted']} chunks deleted, {r['papers_reembedded']} "
                f"papers re-embedded, BM25 index rebuilt ({r['problems_before']} problems, "
                f"{r['warnings_before']} warnings before)"
            )
        table = Table("check", "status", "count", "detail")
        for c in report.checks:
            style = _STYLE[c.status]
            detail = c.detail + (f" (e.g. {', '.join(c.ids[:3])})" if c.ids else "")
            table.add_row(c.name, f"[{style}]{c.status}[/]", str(c.count), escape(detail))
        out.print(table)
        verdict = "consistent" if report.ok else "problems found (run `paperbot doctor --repair`)"
        out.print(f"{report.papers} papers, {report.chunks} chunks: {verdict}")
    if not report.ok:
        raise typer.Exit(1)
