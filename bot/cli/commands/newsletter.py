"""``paperbot newsletter``: a cited "trending papers" digest in Markdown, HTML or JSON."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.app import (
    JsonOpt,
    app,
    bot_from_env,
    err,
    escape,
    print_mode_hint,
    progress_bar,
    run_or_exit,
)
from bot.cli.commands.summarize import AudienceOpt, GradeOpt, NoCacheOpt, print_candidates
from bot.retrieve.lookup import AmbiguousPaperError

__all__ = ["newsletter"]


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(1)


def _split_ids(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    ids = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return ids or None


@app.command(context_settings={"allow_extra_args": True})
def newsletter(
    ctx: typer.Context,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Take the top papers for this query.")
    ] = None,
    ids: Annotated[
        list[str] | None,
        typer.Option(
            "--ids",
            help="Paper ids, arXiv ids or titles: --ids A B C, --ids A,B,C or --ids A --ids B.",
        ),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from", help="Every paper in this listing/JSON file (ingested first if new)."
        ),
    ] = None,
    top: Annotated[
        int | None,
        typer.Option("--top", "-n", help="How many papers (default for --query: 5).", min=1),
    ] = None,
    group: Annotated[
        bool, typer.Option("--group", help="Cluster the papers into themed sections.")
    ] = False,
    title: Annotated[str | None, typer.Option("--title", help="The digest's headline.")] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="md | html | json.", case_sensitive=False)
    ] = "md",
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
    audience: AudienceOpt = None,
    grade: GradeOpt = None,
    no_cache: NoCacheOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a newsletter digest: a headline, a two-sentence intro, then per paper its title,
    link or id, and a 2-3 sentence plain-language blurb whose every sentence cites the
    paper's abstract.

    Choose the papers with exactly one of --query, --ids or --from. --format html gives one
    self-contained, email-ready file (inline CSS, no scripts, all paper text escaped).
    Blurbs are cached: a re-run is instant, a changed prompt or model regenerates.
    """
    if ctx.args:  # `--ids A B C`: click hands B and C over as extra arguments
        if ids is None:
            _fail(f"unexpected extra argument '{ctx.args[0]}' (quote a query that has spaces)")
        ids = [*(ids or []), *ctx.args]
    fmt = "json" if as_json else fmt.lower()
    if fmt not in ("md", "html", "json"):
        _fail(f"unknown --format '{fmt}': use md, html or json")
    bot = run_or_exit(bot_from_env)
    with progress_bar(err.is_terminal) as progress:

        def make():  # type: ignore[no-untyped-def]
            try:
                return bot.newsletter(
                    query=query,
                    ids=_split_ids(ids),
                    from_file=from_file,
                    top=top,
                    group=group,
                    title=title,
                    audience=audience,
                    grade=grade,
                    use_cache=not no_cache,
                    progress=progress,
                )
            except AmbiguousPaperError as exc:
                print_candidates(exc)
                raise

        digest = run_or_exit(make)
    from bot.render import render_digest

    text = render_digest(digest, fmt)
    if fmt != "json":
        print_mode_hint(bot)
    if out_path is None:
        sys.stdout.write(text)
        return
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {out_path}: {exc.strerror or exc}")
    items = digest.items
    err.print(
        f"wrote {out_path} ({len(items)} papers, {sum(1 for i in items if i.cached)} from cache)"
    )
