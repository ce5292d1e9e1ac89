"""``paperbot chat``: a terminal conversation that keeps the thread.

Follow-up questions are rewritten into standalone questions for retrieval (see
:mod:`bot.generate.chat`), answers stream as the model writes them and are then replaced by the
verified answer, and every turn is stored so ``--session ID`` resumes a conversation.
"""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.text import Text

from bot.cli.app import (
    JsonOpt,
    KOpt,
    app,
    bot_from_env,
    err,
    error_text,
    escape,
    how_answered,
    out,
    print_mode_hint,
    run_or_exit,
)
from bot.errors import PaperbotError

__all__ = ["chat"]

HELP = (
    "Ask a question, then follow-ups. Commands: /sources (the last answer's sources), "
    "/summarize N (lay summary of source N), /new (new conversation), /session, /help, /quit"
)


DRAFT_LABEL = Text("draft, not verified yet: ", style="bold yellow")


class Repl:
    def __init__(self, bot: Any, session_id: str | None, k: int | None, as_json: bool) -> None:
        self.bot = bot
        self.session_id = session_id
        self.k = k
        self.as_json = as_json
        self.last: dict[str, Any] | None = None

    # --- input ------------------------------------------------------------------------
    def lines(self) -> Any:
        interactive = sys.stdin.isatty() and not self.as_json
        while True:
            try:
                if interactive:
                    line = out.input("[bold cyan]you>[/] ")
                else:
                    line = sys.stdin.readline()
                    if not line:
                        return
            except (EOFError, KeyboardInterrupt):
                if interactive:
                    out.print()
                return
            yield line.strip()

    def run(self) -> None:
        if not self.as_json:
            out.print(f"[dim]{HELP}[/]")
            print_mode_hint(self.bot)
        for line in self.lines():
            if not line:
                continue
            if line.startswith("/"):
                if not self.command(line):
                    return
                continue
            self.ask(line)

    # --- commands -----------------------------------------------------------------------
    def command(self, line: str) -> bool:
        name, _, arg = line.partition(" ")
        name = name.lower()
        if name in ("/quit", "/exit", "/q"):
            return False
        if name == "/new":
            self.session_id, self.last = None, None
            self.say("new conversation", {"event": "new_session"})
        elif name == "/session":
            self.say(f"session: {self.session_id or '(none yet)'}", {"session_id": self.session_id})
        elif name == "/sources":
            self.sources()
        elif name == "/summarize":
            self.summarize(arg.strip())
        elif name == "/help":
            self.say(HELP, {"help": HELP})
        else:
            self.fail(f"unknown command {name}; {HELP}")
        return True

    def say(self, text: str, data: dict[str, Any]) -> None:
        if self.as_json:
            sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            out.print(f"[dim]{escape(text)}[/]")

    def fail(self, message: str) -> None:
        if self.as_json:
            sys.stdout.write(json.dumps({"error": message}, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            err.print(f"[bold red]error:[/] {escape(message)}")

    def sources(self) -> None:
        citations = (self.last or {}).get("citations") or []
        if self.as_json:
            self.say("", {"citations": citations})
            return
        if not citations:
            out.print("[dim]no sources yet: ask a question first[/]")
            return
        print_sources(citations)

    def summarize(self, arg: str) -> None:
        citations = (self.last or {}).get("citations") or []
        if not arg.isdigit() or not 1 <= int(arg) <= len(citations):
            self.fail(
                f"use /summarize N with N between 1 and {len(citations)} (see /sources)"
                if citations
                else "no sources yet: ask a question first"
            )
            return
        citation = citations[int(arg) - 1]
        method = getattr(self.bot, "summarize", None)
        if method is None:
            self.fail("lay summaries are not available in this version of paperbot")
            return
        try:
            result = method(citation["paper_id"])
        except PaperbotError as exc:
            self.fail(error_text(exc))
            return
        data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
        if self.as_json:
            self.say("", data)
            return
        out.print(f"\n[bold]Lay summary: {escape(str(data.get('title', citation['title'])))}[/]")
        out.print(escape(str(data.get("summary", ""))))
        for c in data.get("citations", []):
            out.print(f' [dim][{c["n"]}] "{escape(c["quote"])}"[/]')
        for g in data.get("glossary", []):
            out.print(f" [italic]{escape(g['term'])}[/]: {escape(g['meaning'])}")
        grade = (data.get("readability") or {}).get("fkgl")
        if grade is not None:
            out.print(f"[dim]reading grade {grade:.1f}[/]")
        out.print()

    # --- a question ---------------------------------------------------------------------
    def ask(self, question: str) -> None:
        live: Live | None = None
        draft = Text()
        if not self.as_json and out.is_terminal:
            waiting = Text("searching the papers…", style="dim")
            live = Live(waiting, console=out, refresh_per_second=12, transient=True)
            live.start()

        def on_token(token: str) -> None:
            if live is not None:
                draft.append(token, style="dim")
                # the raw draft, labelled as such; replaced by the verified answer below
                live.update(Text.assemble(DRAFT_LABEL, draft))

        try:
            result = self.bot.chat(question, self.session_id, self.k, on_token=on_token)
        except PaperbotError as exc:
            self.fail(error_text(exc))
            return
        finally:
            if live is not None:
                live.stop()  # the draft disappears; the verified answer is printed below
        self.session_id = result.session_id
        self.last = result.to_dict()
        if self.as_json:
            self.say("", self.last)
            return
        print_answer(self.last)


def print_answer(data: dict[str, Any]) -> None:
    if data.get("standalone_question") and data["standalone_question"] != data["question"]:
        out.print(f"[dim](searched as: {escape(data['standalone_question'])})[/]")
    out.print(f"[bold green]paperbot>[/] {escape(data['answer'])}")
    if data.get("citations"):
        print_sources(data["citations"])
    out.print(
        f"[dim]{escape(how_answered(data))}; session {data['session_id']} turn {data['turn']}[/]"
    )
    for note in data.get("notes", []):
        out.print(f"[dim]note: {escape(note)}[/]")
    out.print()


def print_sources(citations: list[dict[str, Any]]) -> None:
    out.print("[bold]Sources[/]")
    for c in citations:
        page = f", p. {c['page']}" if c.get("page") is not None else ""
        out.print(
            f" [{c['n']}] [bold]{escape(c['title'])}[/] [dim]({escape(c['paper_id'])}{page})[/]"
        )
        out.print(f'     "{escape(c["quote"])}"')


@app.command()
def chat(
    session: Annotated[
        str | None,
        typer.Option("--session", "-s", help="Resume this session (see: paperbot sessions)."),
    ] = None,
    k: KOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Chat about the papers in the terminal: follow-up questions keep the thread.

    A model's answer streams as a labelled, unverified draft; the verified answer (with
    numbered sources) then replaces it. A follow-up that refers back ("they", "it") is
    answered from the papers the previous turn cited.
    Commands: /sources, /summarize N, /new, /session, /help, /quit. With --json, questions
    are read line by line from stdin and each turn prints one JSON object per line.
    """
    bot = run_or_exit(bot_from_env)
    found = None
    if session is not None:
        found = run_or_exit(lambda: bot.sessions.get(session))
        if not as_json:
            out.print(
                f"[dim]resuming session {found.id} ({found.n_turns} turns): "
                f"{escape(found.title)}[/]"
            )
    with err.status("loading the models…", spinner="dots") if err.is_terminal else nullcontext():
        run_or_exit(lambda: (bot.retriever, bot.verifier, bot.llm))
    repl = Repl(bot, session, k, as_json)
    if found is not None and found.turns:
        repl.last = found.turns[-1].answer
    repl.run()
