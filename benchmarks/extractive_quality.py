"""Do the extractive answers contain the answer? New selection next to the previous one.

Both selections run in the same process on the same retrieved sources and the same verifier
(so abstention is identical); only the choice of sentences differs:

- **previous**: the selection paperbot shipped before issue 14 (copied below as
  :func:`previous_selection`): 0.85 x the verifier's question relevance (0.7 MiniLM cosine +
  0.3 word overlap) + 0.15 x the paper's retrieval score, up to 3 sentences within 0.12 of
  the best, at most 2 per paper;
- **new**: :func:`bot.generate.answer.extractive_answer` (the trained question-sentence scorer,
  relevance floor per paper, antecedents for sentences that lean back, grouped by paper).

Measures (defined here, on the answer's quoted sentences):

PubMedQA (the held-out 40 % of pqal_trainval, see ``train_sentence_scorer.pubmedqa_split``;
each question over its own abstract = context sections + the conclusion, which is the long
answer):

- *key sentence*: the answer quotes at least one sentence of the long answer (the
  abstract's conclusion, which answers the question);
- *evidence*: it quotes a sentence of the conclusion or of a RESULTS section;
- *sentences*: how many sentences it quotes (more quoted = easier to hit; read with it).

data/questions.jsonl (retrieval over the 54 demo papers, k = 5; ``expect`` names the paper(s)
that answer; split by line: odd lines = dev, even = test; the selection's constants were set
by hand looking at dev only, and the scorer never saw these questions):

- *expected paper cited*: at least one quote is from an expected paper;
- *first paper expected*: the first quoted paper is an expected one;
- *padding*: share of quotes from papers that are not expected;
- *leaning quotes*: share of quotes that start by pointing back ("This", "They", "First,")
  without the sentence before them quoted too.

    python benchmarks/extractive_quality.py [--shared ../shared] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe, publish  # noqa: E402
from benchmarks.train_sentence_scorer import load_pubmedqa  # noqa: E402
from bot.api import PaperBot  # noqa: E402
from bot.evaluation.verifier import CachedEmbedder  # noqa: E402
from bot.generate.answer import (  # noqa: E402
    CitationNumberer,
    Source,
    _Draft,
    _too_similar,
    build_sources,
    extractive_answer,
)
from bot.ground.sentence_scorer import refers_back  # noqa: E402
from bot.ground.verify import Verifier  # noqa: E402
from bot.index.embeddings import LocalEmbedder  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.text.sentences import split_sentences  # noqa: E402
from bot.types import Paper, Sentence  # noqa: E402


def previous_selection(question, sources, verifier, threshold, max_sentences=3):  # type: ignore[no-untyped-def]
    """The extractive selection as shipped before issue 14 (frozen here as the baseline)."""
    candidates = [(src, s) for src in sources for s in src.sentences]
    if not candidates:
        return None, 0.0
    relevance = verifier.relevance(question, [s.text for _, s in candidates])
    scored = sorted(
        (
            (0.85 * float(r) + 0.15 * src.score, src, s)
            for r, (src, s) in zip(relevance, candidates, strict=True)
        ),
        key=lambda item: item[0],
        reverse=True,
    )
    best = float(max(relevance)) if len(relevance) else 0.0
    if best < threshold:
        return None, best
    top = scored[0][0]
    chosen: list[tuple[Source, Sentence]] = []
    per_paper: dict[str, int] = {}
    for score, src, sentence in scored:
        if len(chosen) >= max_sentences or score < top - 0.12:
            break
        if per_paper.get(src.paper.id, 0) >= 2:
            continue
        if any(_too_similar(sentence.text, s.text) for _, s in chosen):
            continue
        chosen.append((src, sentence))
        per_paper[src.paper.id] = per_paper.get(src.paper.id, 0) + 1
    numberer = CitationNumberer()
    parts = [f"{s.text} [{numberer.number(src, s)}]" for src, s in chosen]
    return _Draft(" ".join(parts), numberer.citations, len(parts), len(parts)), best


SELECTIONS = {"previous": previous_selection, "new": extractive_answer}


@dataclass
class Tally:
    n: int = 0
    counts: dict[str, float] = field(default_factory=dict)

    def add(self, **values: float) -> None:
        for key, value in values.items():
            self.counts[key] = self.counts.get(key, 0.0) + value

    def mean(self, key: str) -> float:
        return self.counts.get(key, 0.0) / max(1, self.n)


def leaning(citations) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(quotes that lean back without their antecedent quoted, all quotes)."""
    quoted = {(c.paper_id, c.sentence_index) for c in citations}
    bad = sum(
        1
        for c in citations
        if refers_back(c.quote) and (c.paper_id, c.sentence_index - 1) not in quoted
    )
    return bad, len(citations)


def run_pubmedqa(path: Path, verifier: Verifier, threshold: float) -> dict[str, Tally]:
    tallies = {name: Tally() for name in SELECTIONS}
    for item in load_pubmedqa(path, "test"):
        abstract = " ".join(item.sentences)
        paper = Paper(id=item.key, title="", abstract=abstract)
        sentences = split_sentences(abstract)
        texts = [s.text for s in sentences]
        gold = {texts.index(item.sentences[i]) for i in item.gold if item.sentences[i] in texts}
        evidence = {
            texts.index(item.sentences[i]) for i in item.evidence if item.sentences[i] in texts
        }
        source = Source(1, paper, sentences, 1.0, abstract)
        for name, select in SELECTIONS.items():
            draft, _ = select(item.question, [source], verifier, threshold)
            tally = tallies[name]
            tally.n += 1
            if draft is None:
                tally.add(abstained=1)
                continue
            picked = {c.sentence_index for c in draft.citations}
            bad, total = leaning(draft.citations)
            tally.add(
                key=float(bool(picked & gold)),
                evidence=float(bool(picked & evidence)),
                sentences=len(picked),
                leaning=bad,
                quotes=total,
            )
    return tallies


def _expected(title: str, expected: list[str]) -> bool:
    return any(e in title.lower() for e in expected)


def run_questions(bot: PaperBot, path: Path) -> dict[str, dict[str, Tally]]:
    out = {split: {name: Tally() for name in SELECTIONS} for split in ("dev", "test")}
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    for number, line in enumerate(lines, 1):
        record = json.loads(line)
        if record.get("unanswerable"):
            continue
        split = "dev" if number % 2 else "test"
        expected = [e.lower() for e in record.get("expect") or []]
        hits = bot.retriever.search(record["q"], k=bot.settings.retrieval.top_k)
        sources = build_sources(hits, bot.settings.retrieval.context_tokens)
        for name, select in SELECTIONS.items():
            draft, _ = select(
                record["q"], sources, bot.verifier, bot.settings.verification.abstain_threshold
            )
            tally = out[split][name]
            tally.n += 1
            if draft is None:
                tally.add(abstained=1)
                continue
            cites = draft.citations
            bad, total = leaning(cites)
            tally.add(
                expected_cited=float(any(_expected(c.title, expected) for c in cites)),
                first_expected=float(bool(cites) and _expected(cites[0].title, expected)),
                padding=sum(not _expected(c.title, expected) for c in cites) / max(1, len(cites)),
                leaning=bad,
                quotes=total,
                sentences=len(cites),
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--cache", type=Path, default=ROOT / ".paperbot" / "scorer-embeddings.npz")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "extractive_quality.md"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    embedder = CachedEmbedder(LocalEmbedder(), args.cache)
    settings = Settings(home=Path(tempfile.mkdtemp(prefix="paperbot-xq-")), llm_mode="extractive")
    verifier = Verifier(embedder)
    pubmed = run_pubmedqa(
        args.shared / "eval" / "pubmedqa" / "pqal_trainval.json",
        verifier,
        settings.verification.abstain_threshold,
    )
    bot = PaperBot(settings, embedder=LocalEmbedder(), llm=None)
    bot.ingest([ROOT / "data" / "papers"])
    questions = run_questions(bot, ROOT / "data" / "questions.jsonl")
    embedder.save()

    def pct(t: Tally, key: str) -> str:
        return f"{100 * t.mean(key):.1f} %"

    def lean(t: Tally) -> str:
        return f"{100 * t.counts.get('leaning', 0) / max(1, t.counts.get('quotes', 0)):.1f} %"

    n_pubmed = pubmed["new"].n
    lines = [
        "# Extractive answers: do they quote the answer? (new selection vs previous)",
        "",
        f"`python benchmarks/extractive_quality.py` on {time.strftime('%Y-%m-%d')}, "
        f"{time.perf_counter() - started:.0f} s; {describe('onnxruntime')}. Measures are "
        "defined in the script's docstring; both selections run on the same sources with the "
        "same abstention.",
        "",
        f"## PubMedQA, held-out split ({n_pubmed} questions, each over its own abstract)",
        "",
        "The scorer was trained on the other 60 % of pqal_trainval and on SciFact train; these "
        "items were not used for training or for choosing constants.",
        "",
        "| selection | quotes the key sentence (conclusion) | quotes evidence (results or "
        "conclusion) | sentences quoted (mean) | leaning quotes | abstained |",
        "|---|---|---|---|---|---|",
    ]
    for name in SELECTIONS:
        t = pubmed[name]
        lines.append(
            f"| {name} | {pct(t, 'key')} | {pct(t, 'evidence')} | {t.mean('sentences'):.2f} | "
            f"{lean(t)} | {pct(t, 'abstained')} |"
        )
    for split in ("dev", "test"):
        n = questions[split]["new"].n
        lines += [
            "",
            f"## data/questions.jsonl, {split} half ({n} answerable questions, 54 demo papers, "
            "k = 5)",
            "",
            "| selection | expected paper cited | first paper expected | padding (quotes from "
            "other papers) | leaning quotes | sentences quoted (mean) | abstained |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in SELECTIONS:
            t = questions[split][name]
            lines.append(
                f"| {name} | {pct(t, 'expected_cited')} | {pct(t, 'first_expected')} | "
                f"{pct(t, 'padding')} | {lean(t)} | {t.mean('sentences'):.2f} | "
                f"{pct(t, 'abstained')} |"
            )
    publish("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
