"""``paperbot eval answers``: retrieval, citations and abstention over the current store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.app import JsonOpt, bot_from_env, err, out, print_json, progress_bar, run_or_exit
from bot.cli.commands.eval import eval_app

__all__ = ["eval_answers"]


@eval_app.command("answers")
def eval_answers(
    questions: Annotated[
        Path,
        typer.Option(
            "--questions",
            help='JSONL of {"q", "expect": [title substrings], "unanswerable": bool}.',
            dir_okay=False,
        ),
    ],
    k: Annotated[int, typer.Option("-k", help="Papers counted for hit@k.", min=1)] = 5,
    sweep: Annotated[
        bool,
        typer.Option("--sweep", help="Also show abstention rates for candidate thresholds."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Ask every question of FILE against the current store (nothing is ingested).

    Reports retrieval hit@k, answers citing an expected paper, abstention on unanswerable and
    wrong abstention on answerable questions, verified/total cited sentences, citations to
    non-retrieved papers, mean latency, and the mode/model that answered.
    """
    from bot.evaluation.answers import abstention_sweep, evaluate_answers, load_questions

    items = run_or_exit(lambda: load_questions(questions))
    bot: Any = run_or_exit(bot_from_env)
    with progress_bar(not as_json and err.is_terminal) as progress:
        report = run_or_exit(lambda: evaluate_answers(bot, items, k=k, progress=progress))
    data = report.to_dict()
    rows = []
    if sweep:
        _, rows = run_or_exit(lambda: abstention_sweep(bot, items))
        data["sweep"] = [r.to_dict() for r in rows]
        data["abstain_threshold"] = bot.settings.verification.abstain_threshold
    if as_json:
        print_json(data)
        return
    s = report.summary()
    out.print(
        f"{questions.name}: {s['questions']} questions ({s['answerable']} answerable, "
        f"{s['unanswerable']} unanswerable); {', '.join(s['modes'])}"
    )
    out.print(f"  retrieval hit@{k}            {s[f'hit@{k}']:.3f}")
    out.print(f"  answers citing expected     {s['cited_expected']:.3f}")
    out.print(f"  abstention on unanswerable  {s['abstention_unanswerable']:.3f}")
    out.print(f"  wrong abstention            {s['wrong_abstention']:.3f}")
    v = s["verified"]
    out.print(f"  verified cited sentences    {v['supported']}/{v['total']}")
    out.print(f"  non-retrieved citations     {s['non_retrieved_citations']}")
    out.print(f"  mean latency                {s['mean_latency_ms']:.0f} ms")
    if rows:
        out.print(
            f"abstention by threshold (current {bot.settings.verification.abstain_threshold:.2f}):"
        )
        for r in rows:
            out.print(
                f"  {r.threshold:.2f}  unanswerable abstained {r.abstention_unanswerable:.3f}  "
                f"answerable abstained {r.wrong_abstention:.3f}"
            )
