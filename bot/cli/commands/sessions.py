"""``paperbot sessions``: list chat sessions, or show one."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bot.cli.app import JsonOpt, app, escape, out, print_json, run_or_exit

__all__ = ["sessions"]


@app.command()
def sessions(
    session_id: Annotated[
        str | None, typer.Argument(help="Show this session's turns instead of the list.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many sessions to list.", min=1)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List chat sessions (most recent first), or show one session's questions and answers.

    Resume one with: paperbot chat --session ID
    """
    from bot.api import PaperBot
    from bot.settings import load_settings

    # Sessions live in SQLite: no need to open the vector store or load models.
    bot = run_or_exit(lambda: PaperBot(load_settings(), llm=None))
    if session_id is not None:
        session = run_or_exit(lambda: bot.sessions.get(session_id))
        if as_json:
            print_json(session.to_dict())
            return
        out.print(
            f"[bold]{escape(session.title)}[/]  [dim]{session.id}, {session.n_turns} turns[/]"
        )
        for turn in session.turns:
            out.print(f"\n[bold cyan]you>[/] {escape(turn.question)}")
            if turn.standalone_question != turn.question:
                out.print(f"[dim](searched as: {escape(turn.standalone_question)})[/]")
            out.print(escape(str(turn.answer.get("answer", ""))))
            for c in turn.answer.get("citations", []):
                out.print(f" [dim][{c['n']}] {escape(c['title'])}[/]")
        return
    items = run_or_exit(lambda: bot.sessions.list(limit))
    if as_json:
        print_json({"sessions": [s.to_dict(with_turns=False) for s in items]})
        return
    if not items:
        out.print("no chat sessions yet (start one with: paperbot chat)")
        return
    table = Table("id", "title", "turns", "model", "updated")
    for s in items:
        table.add_row(
            s.id, escape(s.title), str(s.n_turns), escape(f"{s.mode}/{s.model}"), s.updated_at
        )
    out.print(table)
