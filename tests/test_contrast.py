"""Contradiction cues of the citation verifier (bot/ground/contrast.py), and how the verifier uses
them, on claim/sentence pairs shaped like SciFact's contradicted claims."""

from __future__ import annotations

import numpy as np
import pytest

from bot.ground.contrast import (
    aligned_directions,
    antonym_mismatch,
    is_aim,
    negate,
    no_effect,
    prefix_negation,
)
from bot.ground.verify import FEATURES, RULE_THRESHOLD, Verifier, VerifierModel
from bot.index.embeddings import LocalEmbedder

FRUIT = (
    "Greater consumption of specific whole fruits, particularly blueberries, grapes, and "
    "apples, is significantly associated with a lower risk of type 2 diabetes, whereas greater "
    "consumption of fruit juice is associated with a higher risk."
)


def test_aligned_directions_read_the_direction_acting_on_the_claims_object() -> None:
    # "greater consumption" goes up, but what the claim is about - the risk - goes down
    assert aligned_directions(
        "Consumption of whole fruits increases the risk of type 2 diabetes.", FRUIT
    ) == (0, 1)
    assert aligned_directions("Eating whole fruits lowers the risk of type 2 diabetes.", FRUIT) == (
        1,
        0,
    )
    # a negation in front of a direction word turns it
    assert aligned_directions(
        "Aspirin does not reduce the risk of colorectal cancer.",
        "Daily aspirin reduced the risk of colorectal cancer by 24%.",
    ) == (0, 1)
    assert aligned_directions("Cats sleep a lot.", FRUIT) == (0, 0)  # fmt: skip


def test_antonyms_prefixes_and_no_effect_findings() -> None:
    assert antonym_mismatch(
        "Ca2+ cycling is a UCP1-dependent thermogenic mechanism.",
        "Here we report a robust UCP1-independent thermogenic mechanism in beige fat.",
    )
    assert not antonym_mismatch(
        "Sildenafil improves erectile function.",
        "Sildenafil effectively improved erectile function in men.",
    )
    assert prefix_negation(
        "Cognitive behavioral therapy is an ineffective treatment for insomnia.",
        "Cognitive behavioral therapy was effective for insomnia in older adults.",
    )
    assert not prefix_negation("Therapy helps insomnia.", "Therapy was effective for insomnia.")
    assert no_effect("There was no significant change in mortality between 2009 and 2014.")
    assert no_effect("The drug failed to reduce mortality.")
    assert not no_effect("Mortality declined by 3.3% per year.")


def test_statements_of_aim_report_no_finding() -> None:
    assert is_aim("OBJECTIVE To examine whether ADHD medications increase cardiovascular risk.")
    assert is_aim("Whether sepsis mortality has changed remains unclear.")
    assert is_aim("Does aspirin prevent cancer?")
    assert not is_aim("CONCLUSIONS Daily aspirin reduced the risk of colorectal cancer by 24%.")


def test_negate_turns_the_claim_around() -> None:
    assert negate("Aspirin does not reduce cancer risk.") == "Aspirin does reduce cancer risk."
    assert negate("Exercise increases cancer mortality.") == "Exercise decreases cancer mortality."
    assert negate("DUSP4 is required for apoptosis.") == "DUSP4 is dispensable for apoptosis."
    assert negate("Sleep is important.") == "Sleep is not important."
    assert negate("Cats purr loudly.") is None


@pytest.fixture(scope="module")
def verifier(embedder: LocalEmbedder) -> Verifier:
    """The similarity rule with its cues (the fallback without an entailment model)."""
    return Verifier(embedder, entailment=None)


def test_contradicted_claims_are_not_supported(verifier: Verifier) -> None:
    sources = [
        "BACKGROUND Type 2 diabetes is common.",
        "OBJECTIVE To examine whether fruit consumption is associated with type 2 diabetes.",
        FRUIT,
    ]
    faithful = (
        "Greater consumption of whole fruits is associated with a lower risk of type 2 diabetes."
    )
    flipped = (
        "Greater consumption of whole fruits is associated with a higher risk of type 2 diabetes."
    )
    supported = verifier.check(faithful, sources)
    assert supported.supported and supported.index == 2
    contradicted = verifier.check(flipped, sources)
    assert not contradicted.supported
    assert contradicted.score < 0.5 * supported.score
    # a statement of aim never supports a finding, however close its words
    aim = verifier.check("Fruit consumption is associated with type 2 diabetes.", sources[1:2])
    assert not aim.supported


def test_threshold_comes_from_the_model_and_token_features_are_filled(
    verifier: Verifier, embedder: LocalEmbedder
) -> None:
    assert isinstance(verifier.model, VerifierModel)
    assert verifier.threshold == pytest.approx(verifier.model.support_threshold)
    assert Verifier(embedder, model=None, entailment=None).threshold == RULE_THRESHOLD
    assert Verifier(embedder, threshold=0.5).threshold == 0.5
    sentences = [FRUIT, "Cats sleep a lot.", "Fruit juice raised the risk."]
    feats = verifier.features("Whole fruits lower the risk of type 2 diabetes.", sentences)
    recall = feats[:, FEATURES.index("token_recall")]
    assert recall[0] > recall[1] > 0.0
    assert feats[0, FEATURES.index("token_recall_rank")] == 0.0
    assert feats[0, FEATURES.index("token_recall_gap")] == 0.0


def test_without_word_piece_vectors_the_cosine_stands_in(embedder: LocalEmbedder) -> None:
    class SentenceOnly:
        name, dimension = embedder.name, embedder.dimension
        embed_documents = staticmethod(embedder.embed_documents)
        embed_query = staticmethod(embedder.embed_query)

    plain = Verifier(SentenceOnly(), entailment=None)  # type: ignore[arg-type]
    feats = plain.features("Whole fruits lower diabetes risk.", [FRUIT, "Cats sleep a lot."])
    cosine = feats[:, FEATURES.index("cosine")]
    assert np.allclose(feats[:, FEATURES.index("token_recall")], cosine)
    assert plain.check("Whole fruits lower the risk of type 2 diabetes.", [FRUIT]).index == 0
