"""Training pairs for the entailment verifier: (claim, evidence, label).

Labels are :data:`LABELS`: support, contradict, neutral. Evidence is what the verifier sees at
run time: one source sentence, or a window of 2-3 adjacent sentences. Every builder reads one
public data set from ``../shared`` (see ``shared/train/SOURCES.md``) and never the SciFact
dev/test splits:

- :func:`scifact_pairs`: SciFact train claims. Each gold evidence set (1-3 rationale sentences)
  is support or contradict as labelled, also with one neighbouring sentence added; the cited
  abstract's other sentences closest to the claim, and those of abstracts cited without
  evidence, are neutral; the supported claim with a number changed or its negation flipped is
  a contradiction of its evidence.
- :func:`scitldr_pairs`: SciTLDR train: the author's one-sentence summary against the window of
  its own abstract that matches it best (support), against the best window of the most
  similar *other* abstract (neutral), and edited (contradict).
- :func:`pubmedqa_pairs`: PubMedQA labelled questions: each sentence of the long answer (the
  abstract's conclusion) against the best window of the rest of the abstract (support when it
  shares enough with it), edited (contradict), and against the most similar other abstract
  (neutral).
- :func:`healthver_pairs`, :func:`climate_fever_pairs`: human-labelled claim/evidence pairs
  (Supports / Refutes / Neutral).
- :func:`scinli_pairs`: SciNLI pairs labelled *neutral* or *contrasting* (adjacent sentences of
  a paper that neither entail nor contradict each other), as neutral.
- :func:`synthetic_pairs`: finding sentences of the SciTLDR / PubMedQA abstracts restated
  with a leading clause dropped (support), edited (contradict), or against a same-topic
  sentence of another paper (neutral); and statements that make no claim ("The dataset used
  was:") against any evidence (neutral).

"Best window" and "most similar abstract" are TF-IDF cosine (:class:`Similarity`): cheap, and
independent of the model being trained.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import InputError
from bot.ground.contrast import is_aim
from bot.text.sentences import split_sentences
from bot.training.perturb import change_number, perturbations

__all__ = [
    "LABELS",
    "NLIPair",
    "Similarity",
    "build_pairs",
    "climate_fever_pairs",
    "healthver_pairs",
    "pubmedqa_pairs",
    "scifact_pairs",
    "scinli_pairs",
    "scitldr_pairs",
    "synthetic_pairs",
    "windows",
]

LABELS: tuple[str, ...] = ("support", "contradict", "neutral")
SUPPORT, CONTRADICT, NEUTRAL = 0, 1, 2
MAX_WINDOW = 3


@dataclass(frozen=True)
class NLIPair:
    claim: str
    evidence: str
    label: int
    source: str  # data set (and generator), e.g. "scitldr", "scifact:negation"
    group: str = ""  # SciFact claim id ("scifact:12"), for cross-validation by claim


def windows(n: int, max_size: int = MAX_WINDOW) -> list[tuple[int, int]]:
    """Every run of 1..max_size adjacent sentences of an n-sentence text, as [start, end)."""
    return [(i, i + k) for k in range(1, max_size + 1) for i in range(0, n - k + 1)]


def _join(sentences: Sequence[str], span: tuple[int, int]) -> str:
    return " ".join(s.strip() for s in sentences[span[0] : span[1]])


def _sentences(text: str) -> list[str]:
    return [s.text for s in split_sentences(" ".join(text.split()))]


class Similarity:
    """TF-IDF cosine between short texts (claims, sentences, windows, whole abstracts)."""

    def __init__(self, corpus: Iterable[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._vectorizer = TfidfVectorizer(
            stop_words="english", sublinear_tf=True, min_df=1, ngram_range=(1, 1)
        ).fit(list(corpus))

    def matrix(self, texts: Sequence[str]) -> Any:
        return self._vectorizer.transform(list(texts))

    def best_window(
        self, claim: str, sentences: Sequence[str], exclude: set[int] | None = None
    ) -> tuple[tuple[int, int], float]:
        """The window of ``sentences`` most similar to ``claim`` (none touching ``exclude``)."""
        spans = [w for w in windows(len(sentences)) if not (exclude and set(range(*w)) & exclude)]
        if not spans:
            return (0, 0), 0.0
        sims = self.matrix([_join(sentences, w) for w in spans]) @ self.matrix([claim]).T
        sims = np.asarray(sims.todense()).ravel()
        i = int(np.argmax(sims))
        return spans[i], float(sims[i])

    def ranked_sentences(self, claim: str, sentences: Sequence[str]) -> list[int]:
        sims = np.asarray((self.matrix(sentences) @ self.matrix([claim]).T).todense()).ravel()
        return [int(i) for i in np.argsort(-sims, kind="stable")]

    def nearest(self, docs: Sequence[str]) -> list[int]:
        """For each document, the index of the most similar *other* document."""
        m = self.matrix(docs)
        out: list[int] = []
        for start in range(0, m.shape[0], 512):
            sims = np.asarray((m[start : start + 512] @ m.T).todense())
            for row, i in enumerate(range(start, min(start + 512, m.shape[0]))):
                sims[row, i] = -1.0
            out.extend(int(j) for j in sims.argmax(axis=1))
        return out


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError(f"training data not found: {path}")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{line_no}: not JSON ({exc.msg})") from exc
    return rows


def _edited(
    claim: str, evidence: str, source: str, rng: random.Random, group: str = "", limit: int = 1
) -> list[NLIPair]:
    """Contradict pairs: ``claim`` (supported by ``evidence``) edited, at most ``limit``."""
    edits = perturbations(claim, rng)
    rng.shuffle(edits)
    return [
        NLIPair(text, evidence, CONTRADICT, f"{source}:{kind}", group)
        for kind, text in edits[:limit]
    ]


def _finding(
    claim: str,
    evidence: str,
    other: Sequence[str],
    sim: Similarity,
    source: str,
    rng: random.Random,
) -> list[NLIPair]:
    """A claim its evidence supports: that pair, an edited copy it contradicts, and the claim
    against the closest window of another paper (neutral)."""
    return [
        NLIPair(claim, evidence, SUPPORT, source),
        *_edited(claim, evidence, source, rng),
        _other_paper(claim, other, sim, source),
    ]


def _other_paper(claim: str, other: Sequence[str], sim: Similarity, source: str) -> NLIPair:
    span, _ = sim.best_window(claim, other)
    return NLIPair(claim, _join(other, span), NEUTRAL, f"{source}:other-paper")


# --- SciFact train ----------------------------------------------------------------------


def scifact_pairs(
    claims_path: Path, corpus_path: Path | None = None, seed: int = 13
) -> list[NLIPair]:
    """Pairs from the SciFact train claims (group = the claim id, for folds by claim)."""
    rng = random.Random(seed)
    corpus_path = corpus_path or claims_path.parent / "corpus.jsonl"
    claims = _read_jsonl(claims_path)
    wanted = {str(d) for c in claims for d in c.get("cited_doc_ids") or []}
    abstracts: dict[str, list[str]] = {}
    for doc in _read_jsonl(corpus_path):
        doc_id = str(doc.get("_id", doc.get("doc_id", "")))
        if doc_id in wanted:
            text = doc.get("text") or doc.get("abstract") or ""
            abstracts[doc_id] = (
                [str(s).strip() for s in text] if isinstance(text, list) else _sentences(text)
            )
    sim = Similarity(s for sents in abstracts.values() for s in sents)
    out: list[NLIPair] = []
    for c in claims:
        claim, group = str(c["claim"]), f"scifact:{c['id']}"
        for doc_id in (str(d) for d in c.get("cited_doc_ids") or []):
            sents = abstracts.get(doc_id)
            if not sents:
                continue
            sets = (c.get("evidence") or {}).get(doc_id) or []
            used: set[int] = set()
            for ev in sets:
                idx = sorted(i for i in ev.get("sentences", []) if 0 <= i < len(sents))
                if not idx:
                    continue
                used |= set(idx)
                label = SUPPORT if ev.get("label") == "SUPPORT" else CONTRADICT
                evidence = " ".join(sents[i] for i in idx)
                out.append(NLIPair(claim, evidence, label, "scifact", group))
                lo, hi = idx[0], idx[-1] + 1
                if hi - lo == len(idx) and hi - lo < MAX_WINDOW:  # contiguous: add a neighbour
                    span = (
                        (lo - 1, hi)
                        if lo > 0 and (hi >= len(sents) or rng.random() < 0.5)
                        else (lo, hi + 1)
                    )
                    if span[1] <= len(sents) and span[0] >= 0 and span != (lo, hi):
                        out.append(
                            NLIPair(claim, _join(sents, span), label, "scifact:window", group)
                        )
                if label == SUPPORT:
                    out.extend(_edited(claim, evidence, "scifact", rng, group))
            # neutral: the closest sentences that are not evidence (of NEI abstracts: any)
            ranked = [i for i in sim.ranked_sentences(claim, sents) if i not in used]
            for i in ranked[:2]:
                if not used or all(abs(i - j) > 0 for j in used):
                    out.append(NLIPair(claim, sents[i], NEUTRAL, "scifact:other", group))
            if not sets:
                span, _ = sim.best_window(claim, sents)
                if span[1] - span[0] > 1:
                    out.append(NLIPair(claim, _join(sents, span), NEUTRAL, "scifact:nei", group))
    return out


# --- SciTLDR train ----------------------------------------------------------------------


def scitldr_pairs(path: Path, seed: int = 13) -> list[NLIPair]:
    rng = random.Random(seed)
    rows = [r for r in _read_jsonl(path) if r.get("source") and r.get("target")]
    docs = [[str(s).strip() for s in r["source"]] for r in rows]
    sim = Similarity(s for d in docs for s in d)
    nearest = sim.nearest([" ".join(d) for d in docs])
    out: list[NLIPair] = []
    for r, sents, other in zip(rows, docs, nearest, strict=True):
        for tldr in r["target"][:2]:
            tldr = " ".join(str(tldr).split())
            span, _ = sim.best_window(tldr, sents)
            out.extend(_finding(tldr, _join(sents, span), docs[other], sim, "scitldr", rng))
    return out


# --- PubMedQA ---------------------------------------------------------------------------


def pubmedqa_pairs(path: Path, seed: int = 13, min_similarity: float = 0.25) -> list[NLIPair]:
    rng = random.Random(seed)
    if not path.is_file():
        raise InputError(f"training data not found: {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    items = list(data.values())
    docs = [_sentences(" ".join(item.get("CONTEXTS") or [])) for item in items]
    sim = Similarity(s for d in docs for s in d)
    nearest = sim.nearest([" ".join(d) for d in docs])
    out: list[NLIPair] = []
    for item, sents, other in zip(items, docs, nearest, strict=True):
        if not sents:
            continue
        for claim in _sentences(item.get("LONG_ANSWER") or "")[:3]:
            if len(claim.split()) < 6 or is_aim(claim):
                continue
            span, score = sim.best_window(claim, sents)
            if score < min_similarity:
                continue
            out.extend(_finding(claim, _join(sents, span), docs[other], sim, "pubmedqa", rng))
    return out


# --- human-labelled claim / evidence sets -----------------------------------------------

_HEALTHVER = {"supports": SUPPORT, "refutes": CONTRADICT, "neutral": NEUTRAL}
_CLIMATE = {"supports": SUPPORT, "refutes": CONTRADICT, "not_enough_info": NEUTRAL}


def healthver_pairs(paths: Sequence[Path]) -> list[NLIPair]:
    """HealthVer: long evidence is cut to its window most similar to the claim."""
    rows: list[dict[str, str]] = []
    for path in paths:
        if not path.is_file():
            raise InputError(f"training data not found: {path}")
        with path.open(encoding="utf-8", newline="") as fh:
            rows.extend(csv.DictReader(fh))
    sim = Similarity(r.get("evidence") or "" for r in rows)
    out = []
    for r in rows:
        label = _HEALTHVER.get((r.get("label") or "").strip().lower())
        claim, evidence = " ".join((r.get("claim") or "").split()), r.get("evidence") or ""
        if label is None or not claim or not evidence.strip():
            continue
        sents = _sentences(evidence)
        if len(sents) > MAX_WINDOW:
            span, _ = sim.best_window(claim, sents)
            evidence = _join(sents, span)
        out.append(NLIPair(claim, " ".join(evidence.split()), label, "healthver"))
    return out


def climate_fever_pairs(path: Path, neutral_share: float = 0.5, seed: int = 13) -> list[NLIPair]:
    """Climate-FEVER: every SUPPORTS / REFUTES evidence, a share of the NOT_ENOUGH_INFO ones."""
    rng = random.Random(seed)
    out = []
    for claim in _read_jsonl(path):
        for ev in claim.get("evidences") or []:
            label = _CLIMATE.get(str(ev.get("evidence_label", "")).lower())
            if label is None or (label == NEUTRAL and rng.random() > neutral_share):
                continue
            text = " ".join(str(ev.get("evidence") or "").split()).strip('"')
            if text:
                out.append(NLIPair(str(claim["claim"]).strip(), text, label, "climate-fever"))
    return out


def scinli_pairs(paths: Sequence[Path], limit: int = 2000, seed: int = 13) -> list[NLIPair]:
    """SciNLI *neutral* and *contrasting* pairs, as neutral (its *entailment* and *reasoning*
    labels mark discourse relations, "therefore" / "because", not support: left out)."""
    rows = [
        r
        for path in paths
        for r in _read_jsonl(path)
        if r.get("label") in ("neutral", "contrasting")
    ]
    random.Random(seed).shuffle(rows)
    return [
        NLIPair(str(r["sentence2"]), str(r["sentence1"]), NEUTRAL, f"scinli:{r['label']}")
        for r in rows[:limit]
    ]


# --- generated --------------------------------------------------------------------------

_LEADING = re.compile(
    r"^(?:In (?:this|our) (?:paper|work|study|article),?\s*|Here,?\s*|Overall,?\s*|"
    r"In (?:summary|conclusion),?\s*|Finally,?\s*|Moreover,?\s*|Furthermore,?\s*|"
    r"(?:These|Our) (?:results|findings|data) (?:suggest|show|indicate|demonstrate) that\s*|"
    r"We (?:show|find|found|demonstrate|observe|observed) that\s*)",
    re.IGNORECASE,
)
_FINDING = re.compile(
    r"\b(show|shows|showed|found|find|demonstrat\w*|increas\w*|decreas\w*|reduc\w*|improv\w*|"
    r"outperform\w*|achiev\w*|associated|higher|lower|significant\w*|effective|requires?|"
    r"leads? to|results? in|caus\w*|prevent\w*|inhibit\w*|enhanc\w*)\b",
    re.IGNORECASE,
)

NO_CLAIM = (
    "The dataset used was:",
    "The results are as follows:",
    "Here are the key points:",
    "In summary:",
    "The main findings are:",
    "The authors used the following methods:",
    "This paper is about:",
    "Answer:",
    "The answer is [1].",
    "Key contributions include:",
    "The following datasets were used:",
    "1. 2. 3.",
    "See the sources below.",
    "The study found that",
    "According to the paper,",
)


def _restate(sentence: str) -> str | None:
    """The sentence with a leading discourse clause dropped (still supported by itself)."""
    stripped = _LEADING.sub("", sentence, count=1).strip()
    if stripped == sentence.strip() or len(stripped.split()) < 6:
        return None
    return stripped[0].upper() + stripped[1:]


def synthetic_pairs(
    abstracts: Sequence[Sequence[str]], seed: int = 13, per_abstract: int = 1
) -> list[NLIPair]:
    rng = random.Random(seed)
    docs = [list(a) for a in abstracts if len(a) >= 2]
    sim = Similarity(s for d in docs for s in d)
    nearest = sim.nearest([" ".join(d) for d in docs])
    out: list[NLIPair] = []
    for sents, other in zip(docs, nearest, strict=True):
        findings = [
            i
            for i, s in enumerate(sents)
            if _FINDING.search(s) and not is_aim(s) and 8 <= len(s.split()) <= 60
        ]
        rng.shuffle(findings)
        for i in findings[:per_abstract]:
            lo = max(0, i - rng.randint(0, 1))
            span = (lo, min(len(sents), lo + rng.randint(1, MAX_WINDOW)))
            if not span[0] <= i < span[1]:
                span = (i, i + 1)
            evidence = _join(sents, span)
            claim = _restate(sents[i]) or sents[i]
            out.append(NLIPair(claim, evidence, SUPPORT, "synthetic:restated"))
            out.extend(_edited(claim, evidence, "synthetic", rng))
            number = change_number(claim, rng)
            if number and not any(p.claim == number for p in out[-2:]):
                out.append(NLIPair(number, evidence, CONTRADICT, "synthetic:number"))
            out.append(_other_paper(claim, docs[other], sim, "synthetic"))
    for text in NO_CLAIM:
        for sents in rng.sample(docs, min(20, len(docs))):
            span = rng.choice(windows(len(sents)))
            out.append(NLIPair(text, _join(sents, span), NEUTRAL, "synthetic:no-claim"))
    return out


# --- everything -------------------------------------------------------------------------


def build_pairs(shared: Path, seed: int = 13) -> dict[str, list[NLIPair]]:
    """All training pairs from ``shared`` (the ``../shared`` folder), by data set; the
    ``"scifact"`` entry holds the SciFact train pairs (used in a second stage, and split by
    claim for cross-validation)."""
    train, ev = shared / "train", shared / "eval"
    tldr_rows = _read_jsonl(ev / "scitldr" / "train.jsonl")
    pubmed = json.loads((ev / "pubmedqa" / "pqal_trainval.json").read_text(encoding="utf-8"))
    abstracts = [[str(s).strip() for s in r.get("source") or []] for r in tldr_rows] + [
        _sentences(" ".join(item.get("CONTEXTS") or [])) for item in pubmed.values()
    ]
    return {
        "scitldr": scitldr_pairs(ev / "scitldr" / "train.jsonl", seed),
        "pubmedqa": pubmedqa_pairs(ev / "pubmedqa" / "pqal_trainval.json", seed),
        "healthver": healthver_pairs([train / "healthver_dev.csv", train / "healthver_test.csv"]),
        "climate-fever": climate_fever_pairs(train / "climate-fever.jsonl", seed=seed),
        "scinli": scinli_pairs(
            [train / "scinli_dev.jsonl", train / "scinli_test.jsonl"], seed=seed
        ),
        "synthetic": synthetic_pairs(abstracts, seed),
        "scifact": scifact_pairs(ev / "scifact" / "claims_train.jsonl", seed=seed),
    }
