"""Run a model exported by :mod:`bot.index.onnx_export` with ONNX Runtime (no torch, no
transformers).

:class:`OnnxModel` tokenizes with the model's own ``tokenizer.json`` (the ``tokenizers``
library, the same fast tokenizer transformers uses) and returns the raw output
(``last_hidden_state`` or ``logits``) for a batch of texts or text pairs.
:class:`bot.index.embeddings.LocalEmbedder` adds mean pooling and normalisation on top, exactly as
the sentence-transformers folder describes them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.index.onnx_export import MANIFEST

__all__ = ["OnnxModel", "onnxruntime_available"]


def onnxruntime_available() -> bool:
    from importlib.util import find_spec

    return find_spec("onnxruntime") is not None and find_spec("tokenizers") is not None


class OnnxModel:
    """An exported model folder (``model.onnx``, ``tokenizer.json``, manifest)."""

    def __init__(self, folder: str | Path, max_length: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self.manifest: dict[str, Any] = json.loads(
            (self.folder / MANIFEST).read_text(encoding="utf-8")
        )
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # no busy-waiting worker threads: on a shared 2-core machine spinning costs more than
        # it saves (measured 50.7 s -> 39.9 s for 50 chunks under load)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        threads = int(os.environ.get("PAPERBOT_ONNX_THREADS", "0") or 0)
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(self.folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.inputs: list[str] = list(self.manifest["inputs"])
        limit = max_length or self.manifest.get("max_seq_length") or 512
        limit = min(int(limit), int(self.manifest.get("max_position_embeddings", 512)))
        self.max_length = limit
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=limit)
        self.tokenizer.no_padding()

    def encode(
        self, texts: Sequence[str] | Sequence[tuple[str, str]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(model output, attention mask) for one batch (padded to its longest text)."""
        encodings = self.tokenizer.encode_batch(list(texts))
        width = max((len(e.ids) for e in encodings), default=0)
        n = len(encodings)
        ids = np.zeros((n, width), dtype=np.int64)
        mask = np.zeros((n, width), dtype=np.int64)
        types = np.zeros((n, width), dtype=np.int64)
        for i, e in enumerate(encodings):
            k = len(e.ids)
            ids[i, :k] = e.ids
            mask[i, :k] = e.attention_mask
            types[i, :k] = e.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        output = self.session.run(None, {name: feed[name] for name in self.inputs})[0]
        return np.asarray(output, dtype=np.float32), mask
