"""What every ``paperbot`` command shares: the Typer app, the consoles, common options and
helpers (printing, running a call with clean errors).

Command modules (:mod:`bot.cli.main` and :mod:`bot.cli.commands`) import from here;
:mod:`bot.cli.main` loads them all. This module imports no command, so any command module can
be imported on its own.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape as _escape

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
    "error_text",
    "escape",
    "flag_for",
    "how_answered",
    "out",
    "print_ingest_report",
    "print_json",
    "print_mode_hint",
    "progress_bar",
    "reflow_help",
    "run_or_exit",
]


def escape(text: str) -> str:
    """Text for rich: markup escaped, and terminal escape codes and control characters from
    papers (or anywhere) removed, so stored text can never drive the terminal."""
    from bot.text.sanitize import clean_text

    return _escape(clean_text(text))


def bot_from_env() -> Any:
    from bot.api import PaperBot

    return PaperBot()


#: Library parameter names as the command line spells them, where the flag is not simply
#: ``--`` plus the name with ``_`` as ``-``.
FLAGS = {"max_results": "--max", "from_file": "--from"}


def flag_for(param: str) -> str:
    """The command-line flag of a library parameter (``grade`` -> ``--grade``)."""
    return FLAGS.get(param, "--" + param.replace("_", "-"))


def error_text(exc: BaseException) -> str:
    """An error's message as the command line says it: the parameters an
    :class:`~bot.errors.InputError` names become flags (``grade must be ...`` -> ``--grade must
    be ...``). Only the names the error lists are replaced, each at its first whole-word use."""
    text = str(exc)
    for param in getattr(exc, "params", ()):
        text = re.sub(rf"(?<![\w-]){re.escape(param)}(?![\w-])", flag_for(param), text, count=1)
    return text


def run_or_exit(fn: Callable[[], T]) -> T:
    """Run ``fn``; a :class:`PaperbotError` becomes one clean line and exit code 1."""
    try:
        return fn()
    except PaperbotError as exc:
        err.print(f"[bold red]error:[/] {escape(error_text(exc))}")
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


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
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


def reflow_help(typer_app: typer.Typer) -> None:
    for command in typer_app.registered_commands:
        command.help = _reflow(command.help or (command.callback and command.callback.__doc__))
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)
