"""The core commands: ingest, search, ask, papers, stats (loaded first, so they lead the help)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from bot.cli.app import (
    AuthorOpt,
    CategoryOpt,
    JsonOpt,
    KOpt,
    SinceOpt,
    UntilOpt,
    app,
    bot_from_env,
    err,
    escape,
    how_answered,
    out,
    print_ingest_report,
    print_json,
    print_mode_hint,
    progress_bar,
    run_or_exit,
)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to ingest.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="Read every file as this format (listing, json, jsonl, arxiv, bibtex, csv, "
            "tsv, pdf) instead of detecting it from the file suffix.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest papers from files or directories: .txt/.md listings, .json/.jsonl records
    (arXiv snapshot too), arXiv API Atom .xml, BibTeX .bib, .csv/.tsv tables, PDF full text.

    Unreadable files and records are reported with path and line; everything else is
    ingested. Exit code 1 if anything failed.
    """
    bot = run_or_exit(bot_from_env)
    with progress_bar(not as_json and err.is_terminal) as progress:
        report = run_or_exit(lambda: bot.ingest(paths, progress=progress, fmt=fmt))
    if as_json:
        print_json(report.to_dict())
    else:
        print_ingest_report(report)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: KOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    category: CategoryOpt = None,
    author: AuthorOpt = None,
    mode: Annotated[
        str | None, typer.Option("--retriever", help="hybrid (default), dense or bm25.")
    ] = None,
    diverse: Annotated[
        bool, typer.Option("--diverse", help="Re-rank for diversity (MMR).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Retrieve the papers that best match QUERY (no language model)."""
    bot = run_or_exit(bot_from_env)
    hits = run_or_exit(
        lambda: bot.search(
            query,
            k=k,
            since=since,
            until=until,
            categories=category,
            authors=author,
            mode=mode,
            diverse=diverse,
        )
    )
    notes = run_or_exit(lambda: bot.filter_notes(since, until, category, author))
    if as_json:
        print_json({"results": [h.to_dict() for h in hits], "notes": notes})
        return
    for note in notes:
        err.print(f"[yellow]note:[/] {escape(note)}")
    for i, hit in enumerate(hits, 1):
        out.print(
            f"[bold]{i}. {escape(hit.paper.title)}[/]  [dim]{hit.paper.id}  "
            f"score {hit.score:.3f}[/]"
        )
        out.print(f"   {escape(hit.text)}\n")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    k: KOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    category: CategoryOpt = None,
    author: AuthorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer QUESTION from the ingested papers, with verified citations."""
    bot = run_or_exit(bot_from_env)

    def go() -> Any:
        return bot.ask(question, k=k, since=since, until=until, categories=category, authors=author)

    if as_json or not err.is_terminal:
        answer = run_or_exit(go)
    else:
        with err.status("Retrieving, generating and verifying..."):
            answer = run_or_exit(go)
    if as_json:
        print_json(answer.to_dict())
        return
    out.print(f"[bold]Q:[/] {escape(answer.question)}\n")
    out.print(escape(answer.answer) + "\n")
    if answer.citations:
        out.print("[bold]Sources[/]")
        for c in answer.citations:
            page = f", p. {c.page}" if c.page is not None else ""
            out.print(f" [{c.n}] [bold]{escape(c.title)}[/] [dim]({escape(c.paper_id)}{page})[/]")
            out.print(f'     "{escape(c.display)}"')
    out.print(f"\n[dim]{escape(how_answered(answer.to_dict()))}[/]")
    for note in answer.notes:
        out.print(f"[dim]note: {escape(note)}[/]")
    print_mode_hint(bot)


@app.command()
def papers(as_json: JsonOpt = False) -> None:
    """List the stored papers."""
    bot = run_or_exit(bot_from_env)
    items = run_or_exit(bot.papers)
    if as_json:
        print_json({"papers": [p.to_dict(full=False) for p in items]})
        return
    table = Table("id", "title", "published", show_lines=False)
    for p in items:
        table.add_row(escape(p.id), escape(p.title), escape(p.published or ""))
    out.print(table)
    out.print(f"{len(items)} papers")


@app.command()
def stats(as_json: JsonOpt = False) -> None:
    """Paper and chunk counts, embedding model, store location, generation mode."""
    bot = run_or_exit(bot_from_env)
    data = run_or_exit(bot.stats)
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        out.print(f"{key:16} {escape(str(value))}")
