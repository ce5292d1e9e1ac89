"""The entailment verifier: the shipped cross-encoder (ONNX Runtime), table-driven cases with
no LLM, the batched check, and verify_generated on exact, multi-sentence quotes.

The cases run the decision that ships (`Verifier` with an embedder, as ask, summarize and
check build it: the entailment model, backed up by the similarity rule). What the shipped
model is known to miss is marked ``xfail(strict=True)`` with the reason - so a better model
turns those marks into failures to remove, and the gap stays visible (see the model card).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bot.generate.answer import Source, verify_generated
from bot.ground.entailment import DEFAULT_ENTAILMENT_DIR, LABELS, EntailmentModel, load_entailment
from bot.ground.verify import Verifier, is_claim, windows_around
from bot.index.embeddings import LocalEmbedder
from bot.text.sentences import split_sentences
from bot.types import Paper

ASPIRIN = Paper(
    id="aspirin",
    title="Aspirin and colorectal cancer",
    abstract=(
        "Aspirin is widely used to prevent cardiovascular disease. "
        "We followed 12000 adults for ten years in a randomised trial. "
        "Daily aspirin reduced the incidence of colorectal cancer by 24%. "
        "Gastrointestinal bleeding was more common in the aspirin group."
    ),
)
GROKKING = Paper(
    id="grokking",
    title="Grokking as the Transition from Lazy to Rich Training Dynamics",
    abstract=(
        "We propose that the grokking phenomenon, where the train loss of a neural network "
        "decreases much earlier than its test loss, can arise due to a neural network "
        "transitioning from lazy training dynamics to a rich, feature learning regime. "
        "To illustrate this mechanism, we study the simple setting of vanilla gradient descent "
        "on a polynomial regression problem with a two layer neural network which exhibits "
        "grokking without regularization in a way that cannot be explained by existing "
        "theories. We identify sufficient statistics for the test loss of such a network, and "
        "tracking these over training reveals that grokking arises in this setting when the "
        "network first attempts to fit a kernel regression solution with its initial features, "
        "followed by late-time feature learning where a generalizing solution is identified "
        "after train loss is already low."
    ),
)
PFGM = Paper(
    id="pfgm",
    title="PFGM++: Unlocking the Potential of Physics-Inspired Generative Models",
    abstract=(
        "We introduce a new family of physics-inspired generative models termed PFGM++ that "
        "unifies diffusion models and Poisson Flow Generative Models (PFGM). These models "
        "realize generative trajectories for N dimensional data by embedding paths in N+D "
        "dimensional space while still controlling the progression with a simple scalar norm "
        "of the D additional variables. The new models reduce to PFGM when D=1 and to "
        "diffusion models when D goes to infinity. Our experiments show that models with "
        "finite D can be superior to previous state-of-the-art diffusion models on "
        "CIFAR-10/FFHQ 64x64 datasets, with FID scores of 1.91/2.43 when D=2048/128."
    ),
)
TWO_STEP = Paper(
    id="mice",
    title="Sirt1 and diet-induced obesity",
    abstract=(
        "Mice lacking Sirt1 in the liver were fed a high-fat diet for 16 weeks. "
        "These mice developed severe hepatic steatosis and inflammation. "
        "Control mice on the same diet did not."
    ),
)


def _sentences(paper: Paper) -> list[str]:
    return [s.text for s in split_sentences(paper.text)]


# What the shipped MiniLM cross-encoder gets wrong (model card: it reads a lexically close
# restatement as a contradiction); the similarity rule catches near-verbatim ones only.
MISSES_PARAPHRASE = pytest.mark.xfail(
    strict=True,
    reason="the shipped model scores this reworded claim as a contradiction and it is not close "
    "enough to its sentence for the similarity rule (bot/ground/models/entailment/card.md)",
)
MISSES_TWO_SENTENCES = pytest.mark.xfail(
    strict=True,
    reason="the shipped model does not reach its threshold on the two-sentence window",
)


@pytest.fixture(scope="module")
def verifier(embedder: LocalEmbedder) -> Verifier:
    assert load_entailment() is not None, f"no shipped entailment model in {DEFAULT_ENTAILMENT_DIR}"
    return Verifier(embedder)  # as PaperBot builds it: the model, the rule as backstop


def test_the_shipped_model_loads_lazily_and_gives_probabilities() -> None:
    model = load_entailment()
    assert model is load_entailment()  # once per process
    assert isinstance(model, EntailmentModel) and 0.0 < model.threshold < 1.0
    evidence = _sentences(ASPIRIN)[2]
    probs = model.predict(
        [
            ("Daily aspirin raised colorectal cancer incidence by 24%.", evidence),
            ("Transformers beat recurrent networks at translation.", evidence),
        ]
    )
    assert probs.shape == (2, len(LABELS))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    contradict, neutral = LABELS.index("contradict"), LABELS.index("neutral")
    assert probs[0].argmax() == contradict
    assert probs[1].argmax() == neutral
    assert model.predict([]).shape == (0, 3)
    # one pair per call: a pair's probabilities do not depend on what else is scored with it
    alone = model.predict([("Transformers beat recurrent networks at translation.", evidence)])
    assert np.array_equal(alone[0], probs[1])


@MISSES_PARAPHRASE
def test_the_model_reads_a_reworded_finding_as_support() -> None:
    model = load_entailment()
    assert model is not None
    probs = model.predict(
        [("Daily aspirin cut colorectal cancer incidence by 24%.", _sentences(ASPIRIN)[2])]
    )
    assert probs[0].argmax() == LABELS.index("support")


CASES = [
    # (what, claim, paper, supported)
    pytest.param("paraphrase", "Taking aspirin every day lowered colorectal cancer incidence "
                 "by 24%.", ASPIRIN, True, marks=MISSES_PARAPHRASE),
    ("restatement", "Daily aspirin reduced colorectal cancer incidence by 24%.", ASPIRIN, True),
    ("changed number", "Daily aspirin reduced the incidence of colorectal cancer by 61%.",
     ASPIRIN, False),
    ("flipped negation", "Daily aspirin did not reduce the incidence of colorectal cancer.",
     ASPIRIN, False),
    ("reversed direction", "Daily aspirin increased the incidence of colorectal cancer.",
     ASPIRIN, False),
    ("wrong paper", "Daily aspirin reduced the incidence of colorectal cancer by 24%.",
     GROKKING, False),
    ("paraphrase, reworded", "Grokking can happen when a network moves from lazy training "
     "dynamics to a rich feature-learning regime.", GROKKING, True),
    ("unsupported detail", "These models are designed to reduce the complexity of generating "
     "paths in high-dimensional spaces.", PFGM, False),
    ("no claim", "The dataset used was:", PFGM, False),
]  # fmt: skip


def _values(case: Any) -> tuple[Any, ...]:
    """A case's fields, whether it is a plain tuple or a ``pytest.param`` (with marks)."""
    return tuple(case.values if hasattr(case, "values") else case)


def _case_id(case: Any) -> str:
    return str(_values(case)[0])


@pytest.mark.parametrize(
    ("what", "claim", "paper", "expected"), CASES, ids=[_case_id(c) for c in CASES]
)
def test_verifier_cases(
    verifier: Verifier, what: str, claim: str, paper: Paper, expected: bool
) -> None:
    support = verifier.check(claim, _sentences(paper))
    assert support.supported is expected, (what, support)


@MISSES_TWO_SENTENCES
def test_two_sentence_evidence_is_accepted_and_quoted_as_a_range(verifier: Verifier) -> None:
    sentences = _sentences(TWO_STEP)
    claim = "Mice lacking Sirt1 in the liver developed severe hepatic steatosis on a high-fat diet."
    support = verifier.check(claim, sentences)
    assert support.supported, support
    assert support.span == (0, 2)
    # neither sentence alone says it
    assert all(p < verifier.threshold for p in verifier.scores(claim, sentences[:2]))


def test_batched_check_matches_one_at_a_time(verifier: Verifier) -> None:
    items = [(claim, _sentences(paper)) for _, claim, paper, _ in map(_values, CASES)]
    batched = verifier.check_many(items)
    single = [verifier.check(claim, sentences) for claim, sentences in items]
    assert [s.supported for s in batched] == [s.supported for s in single]
    assert np.allclose([s.score for s in batched], [s.score for s in single], atol=1e-4)


def test_claims_and_windows() -> None:
    assert not is_claim("The dataset used was: [1]")
    assert not is_claim("Answer:")
    assert not is_claim("[1] [2]")
    assert is_claim("Daily aspirin reduced colorectal cancer risk [1].")
    assert windows_around([0], 3) == [(0, 2)]
    assert set(windows_around([1], 3)) == {(1, 3), (0, 2), (0, 3)}
    assert (0, 3) in windows_around([0, 2], 5)  # two sentences apart: the run holding both
    assert (0, 4) not in windows_around([0, 3], 5)
    # a withheld sentence lay between list positions 0 and 1: no window joins them
    assert windows_around([1], 3, frozenset({0})) == [(1, 3)]


def _source(n: int, paper: Paper) -> Source:
    return Source(n, paper, split_sentences(paper.text), 1.0, paper.text)


VG_CASES = [
    # (what, generated text, kept sentences, total)
    pytest.param("paraphrase kept", "Taking aspirin every day lowered colorectal cancer "
                 "incidence by 24% [1].", 1, 1, marks=MISSES_PARAPHRASE),
    ("restatement kept", "Daily aspirin reduced colorectal cancer incidence by 24% [1].", 1, 1),
    ("out-of-range marker dropped", "Daily aspirin cut colorectal cancer incidence by 24% [7].",
     1, 1),  # attributed post hoc to the source that supports it
    ("false sentence removed", "Daily aspirin reduced colorectal cancer incidence by 24% [1]. "
     "Aspirin doubled the risk of heart attacks [1].", 1, 2),
    ("no claim counted, never kept", "The dataset used was: [2]", 0, 1),
    ("bare markers ignored", "[1] [2].", 0, 0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "text", "kept", "total"), VG_CASES, ids=[_case_id(c) for c in VG_CASES]
)
def test_verify_generated(verifier: Verifier, what: str, text: str, kept: int, total: int) -> None:
    sources = [_source(1, ASPIRIN), _source(2, PFGM)]
    draft = verify_generated(text, sources, verifier)
    assert (draft.supported, draft.total) == (kept, total), (what, draft)
    for c in draft.citations:
        paper = {"aspirin": ASPIRIN, "pfgm": PFGM}[c.paper_id]
        assert paper.text[c.start : c.end] == c.quote
    if what == "out-of-range marker dropped":
        assert draft.attributed == 1 and "[7]" not in draft.text and "[1]" in draft.text


ASPIRIN_24 = "Daily aspirin reduced colorectal cancer incidence by 24%"
PFGM_D = "The new models reduce to PFGM when D=1 and to diffusion models when D goes to infinity"
VG_TEXT_CASES = [
    # (what, generated text, the kept text, (supported, total), attributed, cited paper ids)
    ("uncited sentence cited post hoc", f"{ASPIRIN_24}.", f"{ASPIRIN_24} [1].", (1, 1), 1,
     ["aspirin"]),
    ("only the second source cited: renumbered", f"{PFGM_D} [2].", f"{PFGM_D} [1].", (1, 1), 0,
     ["pfgm"]),
    ("out-of-range marker, no support: dropped", "Aspirin doubled the risk of heart attacks [9].",
     "", (0, 1), 0, []),
    ("two markers, one holds", f"{ASPIRIN_24} [1, 2].", f"{ASPIRIN_24} [1].", (1, 1), 0,
     ["aspirin"]),
    ("no-claim sentence counted, never kept", f"The dataset used was: [1]. {ASPIRIN_24} [1].",
     f"{ASPIRIN_24} [1].", (1, 2), 0, ["aspirin"]),
    ("two papers, numbered in order kept", f"{PFGM_D} [2]. {ASPIRIN_24} [1].",
     f"{PFGM_D} [1]. {ASPIRIN_24} [2].", (2, 2), 0, ["pfgm", "aspirin"]),
    ("empty text", "  ", "", (0, 0), 0, []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "text", "kept", "counts", "attributed", "papers"),
    VG_TEXT_CASES,
    ids=[c[0] for c in VG_TEXT_CASES],
)
def test_verify_generated_text_and_numbering(
    verifier: Verifier,
    what: str,
    text: str,
    kept: str,
    counts: tuple[int, int],
    attributed: int,
    papers: list[str],
) -> None:
    """verify_generated directly: the exact text kept, its renumbered markers, the counts the
    min_supported_fraction rule reads, and which evidence each marker now points to."""
    draft = verify_generated(text, [_source(1, ASPIRIN), _source(2, PFGM)], verifier)
    assert draft.text == kept, (what, draft)
    assert (draft.supported, draft.total) == counts
    assert draft.attributed == attributed
    assert [c.paper_id for c in draft.citations] == papers
    assert [c.n for c in draft.citations] == list(range(1, len(papers) + 1))
    for c in draft.citations:
        paper = {"aspirin": ASPIRIN, "pfgm": PFGM}[c.paper_id]
        assert paper.text[c.start : c.end] == c.quote


@MISSES_TWO_SENTENCES
def test_verify_generated_cites_a_two_sentence_range(verifier: Verifier) -> None:
    text = (
        "Mice lacking Sirt1 in the liver developed severe hepatic steatosis on a high-fat diet [1]."
    )
    draft = verify_generated(text, [_source(1, TWO_STEP)], verifier)
    assert draft.supported == 1, draft
    (citation,) = draft.citations
    assert (citation.sentence_index, citation.last_sentence_index) == (0, 1)
    assert citation.quote == TWO_STEP.text[citation.start : citation.end]
    assert citation.quote.startswith("Mice lacking") and citation.quote.endswith("inflammation.")
