"""``paperbot remove`` and ``paperbot fetch arxiv``: manage the paper library (bot.library,
bot.fetch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bot.cli.app import (
    JsonOpt,
    app,
    bot_from_env,
    err,
    out,
    print_ingest_report,
    print_json,
    progress_bar,
    run_or_exit,
)

__all__ = ["fetch_app", "fetch_arxiv", "remove"]


@app.command()
def remove(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Paper ids to remove (an id the paper also arrived under works too)."),
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="Remove every paper that came from this file (or from files under this folder).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove papers: their chunks, keyword-index entries, records and cached summaries.

    Give paper ids, or --source PATH for every paper that came from one file; a paper that
    other files brought in as well is kept and listed. Crash-safe like ingest: a removal killed
    half-way is finished by the next ingest, remove or doctor --repair. Exit code 1 if an id
    was not found or nothing matched.
    """
    if not ids and source is None:
        err.print("[bold red]error:[/] give paper ids or --source PATH")
        raise typer.Exit(1)
    bot = run_or_exit(bot_from_env)
    report = run_or_exit(lambda: bot.remove(ids or [], source=source))
    if as_json:
        print_json(report.to_dict())
    else:
        for paper in report.removed:
            out.print(f"removed {escape(paper['id'])}  {escape(paper['title'])}")
        for paper in report.kept:
            err.print(
                f"[yellow]kept:[/] {escape(paper['id'])}  {escape(paper['title'])} "
                f"(also from {escape(paper['also_from'])})"
            )
        for ref in report.not_found:
            err.print(f"[red]not found:[/] no paper with id '{escape(ref)}'")
        if source is not None and not (report.removed or report.kept):
            err.print(f"[red]not found:[/] no paper came from {escape(str(source))}")
        out.print(
            f"{len(report.removed)} papers removed ({report.chunks_deleted} chunks, "
            f"{report.cached_deleted} cached generations)"
        )
    if report.not_found or not (report.removed or report.kept):
        raise typer.Exit(1)


fetch_app = typer.Typer(
    help="Fetch papers from an online source and ingest them.", no_args_is_help=True
)
app.add_typer(fetch_app, name="fetch")


@fetch_app.command("arxiv")
def fetch_arxiv(
    query: Annotated[
        str,
        typer.Argument(
            help="Words that must all appear, or arXiv query syntax (ti:, au:, abs:, AND, OR)."
        ),
    ],
    category: Annotated[
        list[str] | None,
        typer.Option("--category", help="Only this arXiv category, e.g. cs.LG (repeatable)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only papers submitted on/after this date (YYYY[-MM[-DD]])."),
    ] = None,
    max_results: Annotated[
        int, typer.Option("--max", help="At most this many papers.", min=1, max=10000)
    ] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Query the arXiv API, page through the results (newest first) and ingest them.

    Waits PAPERBOT_ARXIV_DELAY seconds (3, as arXiv asks) between requests and retries
    failed ones politely (Retry-After honoured). The raw responses are saved under
    $PAPERBOT_HOME/sources/arxiv/ and read with the arXiv Atom reader; --json prints the same
    report as ingest --json. The API URL is PAPERBOT_ARXIV_API_URL. Exit code 1 if anything
    failed.
    """
    bot = run_or_exit(bot_from_env)
    with progress_bar(not as_json and err.is_terminal) as progress:
        fetched = run_or_exit(
            lambda: bot.fetch_arxiv(
                query,
                categories=category or [],
                since=since,
                max_results=max_results,
                progress=progress,
            )
        )
    if as_json:
        print_json(fetched.to_dict())
        for note in fetched.notes:
            err.print(f"[yellow]note:[/] {escape(note)}")
    else:
        print_ingest_report(fetched.report, fetched.notes)
    if fetched.report.failed:
        raise typer.Exit(1)
