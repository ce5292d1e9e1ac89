"""Training the entailment verifier: hard negatives, the data builders on a miniature copy of
the shared data (tests/data/shared_mini, hand-written in the public data sets' layouts), and
one tiny end-to-end run (stage 1, 2-fold cross-validation, calibration, int8 ONNX export,
model card) whose output loads as the product loads it."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bot.ground.entailment import LABELS, EntailmentModel
from bot.training.nli_data import CONTRADICT, NEUTRAL, SUPPORT, build_pairs, windows
from bot.training.nli_train import TrainConfig, run_training
from bot.training.perturb import change_number, flip_negation, perturbations, swap_direction
from tests.conftest import cli_env

MINI = Path(__file__).parent / "data" / "shared_mini"


def test_hard_negatives() -> None:
    rng = random.Random(0)
    edited = change_number("Aspirin reduced the risk by 24% in 2019.", rng)
    assert edited is not None and "24%" not in edited and "2019" in edited  # years stay
    assert change_number("IL-6 and COVID-19 levels were measured.", rng) is None
    assert flip_negation("Coffee was not associated with heart disease.") == (
        "Coffee was associated with heart disease."
    )
    assert flip_negation("We study whether dropout helps.") is None  # an aim: no finding
    assert swap_direction("Exercise increases insulin sensitivity.") == (
        "Exercise decreases insulin sensitivity."
    )
    assert swap_direction("We present a new method.") is None  # not "We absent"
    kinds = [k for k, _ in perturbations("Statins lowered LDL by 30% in adults.", rng)]
    assert kinds[0] == "number" and len(set(kinds)) == len(kinds)


def test_windows() -> None:
    assert windows(3) == [(0, 1), (1, 2), (2, 3), (0, 2), (1, 3), (0, 3)]
    assert windows(1) == [(0, 1)]


def test_build_pairs_from_the_shared_layout() -> None:
    groups = build_pairs(MINI, seed=1)
    assert set(groups) == {
        "scitldr", "pubmedqa", "healthver", "climate-fever", "scinli", "synthetic", "scifact",
    }  # fmt: skip
    scifact = groups["scifact"]
    assert all(p.group.startswith("scifact:") for p in scifact)
    by = Counter((p.source, p.label) for p in scifact)
    assert by[("scifact", SUPPORT)] == 2 and by[("scifact", CONTRADICT)] == 1
    edited = ("scifact:number", "scifact:negation", "scifact:direction")
    edits = [p for p in scifact if p.source in edited]
    # only supported claims are edited into contradictions of their evidence
    assert edits and all(p.label == CONTRADICT for p in edits)
    assert {p.group for p in edits} <= {"scifact:1", "scifact:2"}
    assert any(p.source == "scifact:nei" or p.source == "scifact:other" for p in scifact)
    assert {p.label for p in groups["scinli"]} == {NEUTRAL}
    assert {p.source for p in groups["scinli"]} == {"scinli:neutral", "scinli:contrasting"}
    healthver = Counter(p.label for p in groups["healthver"])
    assert healthver == {SUPPORT: 2, CONTRADICT: 1, NEUTRAL: 1}
    tldr = groups["scitldr"]
    assert {p.source for p in tldr} >= {"scitldr", "scitldr:other-paper"}
    no_claim = [p for p in groups["synthetic"] if p.source == "synthetic:no-claim"]
    assert no_claim and all(p.label == NEUTRAL for p in no_claim)
    for pairs in groups.values():
        assert all(p.claim.strip() and p.evidence.strip() for p in pairs)


def test_tiny_training_run_writes_a_loadable_model(tmp_path: Path) -> None:
    cfg = TrainConfig(
        seed=3, stage1_epochs=1.0, stage2_epochs=1.0, batch_size=8, folds=2, max_length=64
    )
    out = tmp_path / "entailment"
    report = run_training(MINI, out, cfg, log=lambda _: None)
    assert {p.name for p in out.iterdir()} == {
        "model.onnx",
        "config.json",
        "card.md",
        "training.json",
    }
    assert len(report.folds) == 2 and set(report.pooled) >= {"mean_p", "mean_r", "p", "r"}
    config = json.loads((out / "config.json").read_text())
    assert config["labels"] == list(LABELS) and config["threshold"] == report.threshold
    card = (out / "card.md").read_text()
    assert "SciFact train" in card and "Apache-2.0" in card and str(report.threshold) in card
    model = EntailmentModel(out)
    probs = model.predict([("Sea levels are rising.", "Sea level rose 20 cm since 1900."),
                           ("Arctic ice is growing.", "Sea ice declined.")])  # fmt: skip
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_fine_tuning_is_reproducible() -> None:
    from bot.ground.entailment import pair_tokenizer
    from bot.index.embeddings import default_local_model
    from bot.training.nli_train import LowerCache, build_classifier, fine_tune

    base = default_local_model()
    cfg = TrainConfig(seed=5, batch_size=4, max_length=48)
    pairs = build_pairs(MINI, seed=5)["healthver"]
    cache = LowerCache(build_classifier(base).eval(), pair_tokenizer(base, 48), cfg.train_from)
    states = []
    for _ in range(2):
        model = build_classifier(base)
        fine_tune(model, cache, pairs, epochs=2, lr=1e-4, cfg=cfg, seed=5, log=lambda _: None)
        states.append(model.state_dict())
    assert all(np.array_equal(states[0][k].numpy(), states[1][k].numpy()) for k in states[0])
    layer = "bert.encoder.layer.{}.output.dense.weight"
    fresh = build_classifier(base).state_dict()
    assert np.array_equal(states[0][layer.format(0)].numpy(), fresh[layer.format(0)].numpy())
    assert not np.array_equal(states[0][layer.format(5)].numpy(), fresh[layer.format(5)].numpy())


def test_cli_refuses_a_folder_without_the_shared_data(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "bot", "train", "verifier", "--shared", str(tmp_path)],
        capture_output=True, text=True, timeout=120, env=cli_env(tmp_path),
    )  # fmt: skip
    assert r.returncode == 1
    assert "not the shared data folder" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("missing", ["train/healthver_dev.csv", "eval/scitldr/train.jsonl"])
def test_missing_training_file_names_it(tmp_path: Path, missing: str) -> None:
    import shutil

    from bot.errors import InputError

    copy = tmp_path / "shared"
    shutil.copytree(MINI, copy)
    (copy / missing).unlink()
    with pytest.raises(InputError, match=Path(missing).name):
        build_pairs(copy)
