"""Train the question-sentence scorer of the extractive answers
(``bot/ground/sentence_scorer.json``).

Training data (read from ../shared, never shipped):

- SciFact train claims with SUPPORT/CONTRADICT rationales: claim -> its rationale sentences
  are positives, the abstract's other sentences negatives;
- PubMedQA (pqal_trainval) items in the *training split* (:func:`pubmedqa_split`): the
  question over its whole abstract (context sections + the conclusion, the long answer); the
  conclusion's sentences are positives.

The other PubMedQA items, and data/questions.jsonl, are held out for
``benchmarks/extractive_quality.py``. Logistic regression over :data:`bot.ground.sentence_scorer.
FEATURES` (the verifier's Newton solver). Prints the held-out top-1 accuracy next to the
MiniLM relevance it replaces.

    python benchmarks/train_sentence_scorer.py [--shared ../shared] [--cache FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.evaluation.verifier import CachedEmbedder, load_scifact  # noqa: E402
from bot.evaluation.verifier import _fit_logistic as fit_logistic  # noqa: E402
from bot.ground.sentence_scorer import (  # noqa: E402
    DEFAULT_SCORER_PATH,
    FEATURES,
    Candidate,
    SentenceScorer,
    features,
)
from bot.index.embeddings import LocalEmbedder  # noqa: E402
from bot.text.sentences import split_sentences  # noqa: E402


@dataclass
class Item:
    """A question over one abstract, with the indices of its answering sentences."""

    key: str
    question: str
    sentences: list[str]
    gold: set[int]
    evidence: set[int]  # gold plus RESULTS-section sentences (PubMedQA)


def pubmedqa_split(pmid: str) -> str:
    """A fixed split by hash of the PubMed id: 60 % train, 40 % test."""
    return "test" if int(hashlib.sha1(pmid.encode()).hexdigest(), 16) % 5 < 2 else "train"


def load_pubmedqa(path: Path, split: str) -> list[Item]:
    data = json.loads(path.read_text(encoding="utf-8"))
    items = []
    for pmid, record in sorted(data.items()):
        if pubmedqa_split(pmid) != split:
            continue
        sentences: list[str] = []
        evidence: set[int] = set()
        for label, text in zip(record["LABELS"], record["CONTEXTS"], strict=False):
            for s in split_sentences(text):
                if "RESULT" in label.upper():
                    evidence.add(len(sentences))
                sentences.append(s.text)
        conclusion = [s.text for s in split_sentences(record["LONG_ANSWER"])]
        gold = set(range(len(sentences), len(sentences) + len(conclusion)))
        sentences += conclusion
        items.append(Item(pmid, record["QUESTION"], sentences, gold, evidence | gold))
    return items


def load_scifact_items(shared: Path) -> list[Item]:
    pairs = load_scifact(shared / "eval" / "scifact" / "claims_train.jsonl")
    return [
        Item(f"{p.claim_id}-{p.doc_id}", p.claim, list(p.sentences), set(p.rationale), set())
        for p in pairs
        if p.label != "NEI" and p.rationale
    ]


def candidates(item: Item) -> list[Candidate]:
    n = len(item.sentences)
    return [Candidate(t, item.key, i, n) for i, t in enumerate(item.sentences)]


def matrices(items: list[Item], embed) -> Iterator[tuple[Item, np.ndarray, np.ndarray]]:  # type: ignore[no-untyped-def]
    """(item, features, cosines) per item."""
    for item in items:
        vectors = embed([item.question, *item.sentences])
        cosines = vectors[1:] @ vectors[0]
        yield item, features(item.question, candidates(item), cosines), cosines


def top1(items_feats: list[tuple[Item, np.ndarray, np.ndarray]], score) -> float:  # type: ignore[no-untyped-def]
    hits = 0
    for item, x, cosines in items_feats:
        hits += int(int(np.argmax(score(x, cosines))) in item.gold)
    return hits / max(1, len(items_feats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--cache", type=Path, default=ROOT / ".paperbot" / "scorer-embeddings.npz")
    parser.add_argument("--out", type=Path, default=DEFAULT_SCORER_PATH)
    parser.add_argument("--l2", type=float, default=1.0)
    args = parser.parse_args()
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    embedder = CachedEmbedder(LocalEmbedder(), args.cache)

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(embedder.embed_documents(texts), dtype=np.float32)

    started = time.perf_counter()
    pubmed = args.shared / "eval" / "pubmedqa" / "pqal_trainval.json"
    train_items = load_pubmedqa(pubmed, "train") + load_scifact_items(args.shared)
    test_items = load_pubmedqa(pubmed, "test")
    train = list(matrices(train_items, embed))
    test = list(matrices(test_items, embed))
    embedder.save()
    x = np.vstack([f for _, f, _ in train])
    y = np.concatenate(
        [np.isin(np.arange(len(item.sentences)), list(item.gold)) for item, _, _ in train]
    ).astype(np.float64)
    model = fit_logistic(x.astype(np.float64), y, l2=args.l2)
    scorer = SentenceScorer(model)
    n_pubmed = sum(1 for i in train_items if "-" not in i.key)
    acc_model = top1(test, lambda f, c: scorer.model.predict(f))
    acc_cosine = top1(test, lambda f, c: c)
    acc_lexical = top1(test, lambda f, c: 0.7 * np.clip(c, 0, 1) + 0.3 * f[:, 3])
    acc_last = top1(test, lambda f, c: np.arange(len(c), dtype=float))
    scorer.save(
        args.out,
        trained_on={
            "pubmedqa_train_items": n_pubmed,
            "scifact_claim_abstracts": len(train_items) - n_pubmed,
            "sentences": len(y),
            "positives": int(y.sum()),
        },
        heldout_pubmedqa_top1={
            "scorer": round(acc_model, 3),
            "relevance_0.7cos_0.3lex": round(acc_lexical, 3),
            "cosine": round(acc_cosine, 3),
            "last_sentence": round(acc_last, 3),
            "items": len(test),
        },
    )
    print(
        f"trained on {len(y)} sentences ({int(y.sum())} positive) in "
        f"{time.perf_counter() - started:.0f}s; wrote {args.out}"
    )
    print("coefficients (standardised features):")
    for name, coef in zip(FEATURES, model.coef, strict=True):
        print(f"  {name:14} {coef:+.3f}")
    print(f"held-out PubMedQA ({len(test)} items) top-1 sentence is a conclusion sentence:")
    print(
        f"  scorer {acc_model:.3f} | verifier relevance {acc_lexical:.3f} | cosine "
        f"{acc_cosine:.3f} | the last sentence {acc_last:.3f}"
    )


if __name__ == "__main__":
    main()
