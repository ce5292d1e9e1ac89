"""A second opinion on citations from the configured model (``PAPERBOT_VERIFY=llm|both``).

A capable model behind the ``openai`` mode reads each (sentence, quoted evidence) pair with
the ``verify_judge`` prompt and answers with a strict JSON verdict: ``{"verdict":
"supported" | "contradicted" | "unsupported", "reason": "..."}``. Anything else - extra text,
a missing or unknown verdict, a failed request - counts as *unsupported*: the judge can only
take support away, never invent it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.errors import LLMError
from bot.llm.prompts import load_prompt

if TYPE_CHECKING:
    from bot.llm.base import ChatModel

__all__ = ["VERDICTS", "LLMJudge", "Verdict", "parse_verdict"]

VERDICTS = ("supported", "contradicted", "unsupported")
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


@dataclass(frozen=True)
class Verdict:
    verdict: str  # one of VERDICTS
    reason: str = ""
    valid: bool = True  # False: the reply was malformed (or the request failed)

    @property
    def supported(self) -> bool:
        return self.verdict == "supported"


def parse_verdict(text: str) -> Verdict:
    """The verdict in ``text`` - one JSON object, optionally in a ```json fence - or an
    invalid *unsupported* verdict saying what was wrong."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return Verdict("unsupported", "malformed verdict: not a JSON object", valid=False)
    if not isinstance(data, dict) or data.get("verdict") not in VERDICTS:
        return Verdict("unsupported", "malformed verdict: no valid 'verdict'", valid=False)
    reason = data.get("reason")
    return Verdict(str(data["verdict"]), str(reason)[:300] if reason else "")


class LLMJudge:
    """Asks ``llm`` for a verdict on each (claim, evidence) pair, one request per pair."""

    def __init__(self, llm: ChatModel) -> None:
        self.llm = llm
        self.prompt = load_prompt("verify_judge")

    @property
    def name(self) -> str:
        return f"{self.llm.mode}:{self.llm.model}"

    def judge(self, claim: str, evidence: str) -> Verdict:
        try:
            reply = self.llm.invoke_prompt(self.prompt, {"claim": claim, "evidence": evidence})
        except LLMError as exc:
            return Verdict("unsupported", f"judge failed: {exc}", valid=False)
        return parse_verdict(reply.text)

    def judge_many(self, pairs: Sequence[tuple[str, str]]) -> list[Verdict]:
        return [self.judge(claim, evidence) for claim, evidence in pairs]
