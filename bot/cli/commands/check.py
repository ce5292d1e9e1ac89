"""``paperbot check FILE|-``: does the cited paper support each sentence of your text?"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from bot.cli.app import JsonOpt, app, bot_from_env, out, print_json, run_or_exit
from bot.errors import InputError

__all__ = ["check"]

_STYLE = {"supported": "green", "contradicted": "bold red", "unsupported": "yellow"}


def _read(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        raise InputError(f"{source}: no such file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text (byte {exc.start})") from exc


@app.command()
def check(
    source: Annotated[str, typer.Argument(help="A text file, or - for standard input.")],
    paper: Annotated[
        str | None,
        typer.Option(
            "--paper", help="Check every sentence against this paper (id, arXiv id or title)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check each sentence of a text against the paper it cites.

    A sentence cites a paper with a [paper-id] marker (a stored id or an arXiv id); --paper
    sets one paper for the whole text; otherwise each sentence is checked against the
    best-matching papers in the library. Each sentence is shown as supported, contradicted
    or unsupported, with the exact source text it was checked against.
    """
    text = run_or_exit(lambda: _read(source))
    bot = bot_from_env()
    report = run_or_exit(lambda: bot.check(text, paper))
    if as_json:
        print_json(report.to_dict())
        return
    for i, s in enumerate(report.sentences, 1):
        style = _STYLE[s.status]
        out.print(f"{i}. [{style}]{s.status}[/] {escape(s.text)}")
        if s.quote is not None:
            label = "evidence" if s.status != "unsupported" else "closest"
            out.print(f"   {label}: {escape(s.title or '')} ({escape(s.paper_id or '')})")
            out.print(f'   "{escape(s.quote)}" [dim](score {s.score:.2f})[/]')
        if s.note:
            out.print(f"   [dim]{escape(s.note)}[/]")
    counts = report.counts()
    out.print(
        f"\n{counts['supported']} supported, {counts['contradicted']} contradicted, "
        f"{counts['unsupported']} unsupported (checked by {escape(report.verifier)})"
    )
