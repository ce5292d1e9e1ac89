"""``paperbot summarize PAPER``: a plain-language summary with citations and a reading level."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bot.cli.app import (
    JsonOpt,
    app,
    bot_from_env,
    err,
    escape,
    out,
    print_json,
    print_mode_hint,
    run_or_exit,
)
from bot.retrieve.lookup import AmbiguousPaperError
from bot.types import LaySummary, Paper

__all__ = ["find_or_list", "print_candidates", "summarize"]

AudienceOpt = Annotated[
    str | None,
    typer.Option(
        "--audience",
        "-a",
        help="general | student | expert (default: PAPERBOT_SUMMARY_AUDIENCE, 'general').",
    ),
]
GradeOpt = Annotated[
    float | None,
    typer.Option(
        "--grade",
        help="Target Flesch-Kincaid grade (default: general 8, student 12, expert 16).",
        min=0,
        max=30,
    ),
]
WordsOpt = Annotated[
    int | None,
    typer.Option("--words", help="Word budget (default: PAPERBOT_SUMMARY_WORDS, 120).", min=10),
]
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Regenerate instead of using the cached result.")
]


def print_candidates(exc: AmbiguousPaperError) -> None:
    """The ambiguity error as one line, then one candidate per line; exit code 1."""
    err.print(
        f"[bold red]error:[/] '{escape(exc.ref)}' matches {len(exc.candidates)} papers; "
        "give an id or a longer title:"
    )
    for paper in exc.candidates:
        err.print(f"  {escape(paper.id)}  {escape(paper.title)}")
    raise typer.Exit(1)


def find_or_list(bot: Any, ref: str) -> Paper:
    """``bot.find_paper(ref)``; an ambiguous title prints its candidates and exits 1."""
    try:
        return bot.find_paper(ref)  # type: ignore[no-any-return]
    except AmbiguousPaperError as exc:
        print_candidates(exc)
        raise  # unreachable: print_candidates exits


def _print_summary(result: LaySummary) -> None:
    out.print(f"[bold]{escape(result.title)}[/]  [dim]{escape(result.link)}[/]\n")
    out.print(escape(result.summary) + "\n")
    if result.glossary:
        out.print("[bold]Glossary[/]")
        for g in result.glossary:
            out.print(f"  [bold]{escape(g.term)}[/]: {escape(g.meaning)}")
        out.print("")
    if result.citations:
        out.print("[bold]Sources (abstract sentences)[/]")
        for c in result.citations:
            out.print(f' [{c.n}] "{escape(c.display)}"')
    met = "met" if result.met else "missed"
    fallback = f", fallback from {result.fallback_from}" if result.fallback_from else ""
    cached = "; cached" if result.cached else ""
    if result.mode == "extractive":  # say what was done: quoted, or written by which model
        how = f"quoted from the abstract, LaTeX removed (mode extractive{fallback})"
    else:
        how = (
            f"written by {escape(result.model)} (mode {result.mode}); {result.supported}/"
            f"{result.total} sentences kept after checking them against the abstract"
        )
    out.print(
        f"\n[dim]reading level FKGL {result.fkgl:.1f} (target {result.target:g}, {met}); "
        f"{result.audience} audience; {how}{cached}[/]"
    )
    for note in result.notes:
        out.print(f"[dim]note: {escape(note)}[/]")
    for removed in result.removed:
        out.print(f"[dim]removed: {escape(removed)}[/]")


@app.command()
def summarize(
    paper: Annotated[str, typer.Argument(help="A paper id, an arXiv id, or a title (fuzzy).")],
    audience: AudienceOpt = None,
    grade: GradeOpt = None,
    words: WordsOpt = None,
    no_cache: NoCacheOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Summarise PAPER in plain language, every sentence cited to its abstract.

    Prints the summary, a short glossary, the quoted abstract sentences, and the measured
    reading level (Flesch-Kincaid grade). Sentences a model writes that fail verification
    (numbers, names or claims not in the abstract) are removed; without a model the key
    abstract sentences are shown, lightly cleaned. An ambiguous title lists the candidates
    and exits 1.
    """
    bot = run_or_exit(bot_from_env)
    found = run_or_exit(lambda: find_or_list(bot, paper))
    result = run_or_exit(
        lambda: bot.summarize(
            found, audience=audience, grade=grade, words=words, use_cache=not no_cache
        )
    )
    if as_json:
        print_json(result.to_dict())
    else:
        _print_summary(result)
        print_mode_hint(bot)
