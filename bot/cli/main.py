"""The ``paperbot`` command: parses arguments, calls :class:`bot.PaperBot`, prints.

Every command that prints data takes ``--json``. User errors print one line on stderr and
exit 1; nothing here holds pipeline logic.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape as _escape
from rich.table import Table

from bot.errors import PaperbotError

if TYPE_CHECKING:
    from bot.types import IngestReport

app = typer.Typer(
    name="paperbot",
    help="Ask questions about research papers and get answers with verified citations.\n\n"
    "Works offline by default: local embeddings, embedded Chroma, and answers quoted from the "
    "papers. Set OPENAI_BASE_URL (any OpenAI-compatible endpoint, Ollama included) for written "
    "answers. Settings come from the environment and .env (see .env.example).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # one error = one line

T = TypeVar("T")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since", help="Only papers published on/after this date (YYYY, YYYY-MM or YYYY-MM-DD)."
    ),
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Only papers published on/before this date.")
]
CategoryOpt = Annotated[
    list[str] | None,
    typer.Option("--category", help="Only papers in this category (repeatable: any of them)."),
]
AuthorOpt = Annotated[
    list[str] | None,
    typer.Option("--author", help="Only papers by this author (repeatable: any of them)."),
]
KOpt = Annotated[
    int | None, typer.Option("-k", "--top-k", help="How many papers to retrieve.", min=1)
]


__all__ = [
    "JsonOpt",
    "KOpt",
    "app",
    "bot_from_env",
    "err",
    "escape",
    "how_answered",
    "main",
    "out",
    "print_ingest_report",
    "print_json",
    "print_mode_hint",
    "progress_bar",
    "run_or_exit",
]


def escape(text: str) -> str:
    """Text for rich: markup escaped, and terminal escape codes and control characters from
    papers (or anywhere) removed, so stored text can never drive the terminal."""
    from bot.text.sanitize import clean_text

    return _escape(clean_text(text))


def _bot() -> Any:
    from bot.api import PaperBot

    return PaperBot()


def _run(fn: Callable[[], T]) -> T:
    """Run ``fn``; a :class:`PaperbotError` becomes one clean line and exit code 1."""
    try:
        return fn()
    except PaperbotError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None


def how_answered(data: dict[str, Any]) -> str:
    """What was done, as it was done: quoted (no model) or written by which model, checked."""
    fallback = data.get("fallback_from")
    verified = data.get("verified") or {}
    if data.get("abstained"):
        what = f"mode {data['mode']}; abstained"
    elif data["mode"] == "extractive":
        n = len(data.get("citations") or [])
        what = f"mode extractive: {n} sentence{'s' if n != 1 else ''} quoted from the papers"
        if fallback:
            what += f" (fallback from {fallback})"
        else:
            what += ", no language model"
    else:
        what = (
            f"mode {data['mode']}: written by {data['model']}; "
            f"{verified.get('supported', 0)}/{verified.get('total', 0)} cited sentences verified"
        )
    return what


def print_mode_hint(bot: Any) -> None:
    """Say once (on stderr) how to get written answers, when none are configured."""
    from bot.llm.providers import written_answers_hint

    hint = written_answers_hint(bot.settings)
    if hint:
        err.print(f"[dim]hint: {escape(hint)}[/]")


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    labels = {"read": "Reading files", "embed": "Embedding papers"}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=max(total, 1))
            bar.update(tasks[stage], completed=done, total=max(total, 1))

        yield update


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
    bot = _run(_bot)
    with _progress(not as_json and err.is_terminal) as progress:
        report = _run(lambda: bot.ingest(paths, progress=progress, fmt=fmt))
    if as_json:
        _print_json(report.to_dict())
    else:
        print_ingest_report(report)
    if report.failed:
        raise typer.Exit(1)


def print_ingest_report(report: IngestReport, notes: Sequence[str] = ()) -> None:
    """The human-readable ingest summary (stdout), notes and failures (stderr)."""
    out.print(
        f"added {report.added}, updated {report.updated}, merged {report.merged}, "
        f"unchanged {report.unchanged}, failed {len(report.failed)} "
        f"({report.chunks_written} chunks written in {report.seconds:.1f}s)"
    )
    for note in notes:
        err.print(f"[yellow]note:[/] {escape(note)}")
    for failure in report.failed:
        where = f"{failure.path}:{failure.line}" if failure.line else failure.path
        err.print(f"[red]failed:[/] {escape(where)}: {escape(failure.error)}")


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
    bot = _run(_bot)
    hits = _run(
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
    notes = _run(lambda: bot.filter_notes(since, until, category, author))
    if as_json:
        _print_json({"results": [h.to_dict() for h in hits], "notes": notes})
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
    bot = _run(_bot)

    def go() -> Any:
        return bot.ask(question, k=k, since=since, until=until, categories=category, authors=author)

    if as_json or not err.is_terminal:
        answer = _run(go)
    else:
        with err.status("Retrieving, generating and verifying..."):
            answer = _run(go)
    if as_json:
        _print_json(answer.to_dict())
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
    bot = _run(_bot)
    items = _run(bot.papers)
    if as_json:
        _print_json({"papers": [p.to_dict(full=False) for p in items]})
        return
    table = Table("id", "title", "published", show_lines=False)
    for p in items:
        table.add_row(escape(p.id), escape(p.title), escape(p.published or ""))
    out.print(table)
    out.print(f"{len(items)} papers")


@app.command()
def stats(as_json: JsonOpt = False) -> None:
    """Paper and chunk counts, embedding model, store location, generation mode."""
    bot = _run(_bot)
    data = _run(bot.stats)
    if as_json:
        _print_json(data)
        return
    for key, value in data.items():
        out.print(f"{key:16} {escape(str(value))}")


def main() -> None:  # pragma: no cover - console entry point
    app()


# Public names for command modules in bot/cli/commands/.
bot_from_env = _bot
run_or_exit = _run
print_json = _print_json
progress_bar = _progress

# Sub-commands that live in bot/cli/commands/ (one module per area) register themselves here.
from bot.cli.commands import load_all as _load_commands  # noqa: E402

_load_commands()


def _reflow(text: str | None) -> str | None:
    """Help text as written: the hard line breaks of a docstring joined within each paragraph
    (Typer keeps them, then wraps again to the terminal: ragged one-word lines), while blank
    lines, list items (``- x``) and indented lines stay where they are."""
    if not text:
        return text
    import inspect

    paragraphs = []
    for para in inspect.cleandoc(text).split("\n\n"):
        if para.startswith("\b"):
            paragraphs.append(para)
            continue
        lines: list[str] = []
        for line in para.split("\n"):
            keep = line.startswith((" ", "\t")) or line.lstrip().startswith(("- ", "* "))
            if lines and not keep:
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.rstrip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def _reflow_help(typer_app: typer.Typer) -> None:
    for command in typer_app.registered_commands:
        command.help = _reflow(command.help or (command.callback and command.callback.__doc__))
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _reflow_help(group.typer_instance)


_reflow_help(app)


if __name__ == "__main__":  # pragma: no cover
    # `python -m bot.cli.main` runs this file as __main__, a second copy of the module whose `app`
    # the command modules never see: run the real one (`python -m bot` works too).
    from bot.cli.main import main as _main

    _main()
