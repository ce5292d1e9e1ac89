"""The ONNX export of the MiniLM encoder (bot.onnx_export) gives torch's vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.errors import ConfigError
from bot.index.embeddings import LocalEmbedder, default_local_model
from bot.index.onnx_export import MANIFEST, export_dir_for, export_onnx, find_export

TEXTS = [
    "What is grokking?",
    "ok",
    "We propose that the grokking phenomenon, where the train loss of a neural network "
    "decreases much earlier than its test loss, can arise due to a neural network "
    "transitioning from lazy training dynamics to a rich, feature learning regime.",
    # longer than the model's 256-token window: both truncate the same way
    "Poisson flow generative models unify diffusion and electrostatics. " * 40,
]


@pytest.fixture(scope="module")
def onnx_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("onnx")
    model = default_local_model()
    export_onnx(model, export_dir_for(model, root))
    return root


def test_export_writes_model_tokenizer_and_manifest(onnx_root: Path) -> None:
    folder = find_export(default_local_model(), onnx_root)
    assert folder is not None
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["output"] == "last_hidden_state" and manifest["hidden_size"] == 384
    assert manifest["pooling"] == ["pooling_mode_mean_tokens"]
    assert (folder / "tokenizer.json").is_file()
    assert find_export(default_local_model(), onnx_root / "elsewhere") is None


def test_onnx_vectors_match_torch(onnx_root: Path, embedder: LocalEmbedder) -> None:
    torch_side = LocalEmbedder(backend="torch")
    onnx_side = LocalEmbedder(backend="onnx", onnx_root=onnx_root)
    assert torch_side.backend == "torch" and onnx_side.backend == "onnx"
    assert onnx_side.dimension == torch_side.dimension == 384
    a = onnx_side.embed_documents(TEXTS)
    b = torch_side.embed_documents(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 384)
    cosines = (a * b).sum(axis=1)
    assert cosines.min() > 0.999, cosines
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    # the word-piece vectors of the citation verifier too
    for x, y in zip(onnx_side.embed_tokens(TEXTS), torch_side.embed_tokens(TEXTS), strict=True):
        assert x.shape == y.shape
        assert (x * y).sum(axis=1).min() > 0.999


def test_backend_choice(tmp_path: Path, onnx_root: Path) -> None:
    assert LocalEmbedder(onnx_root=onnx_root).backend == "onnx"  # auto takes the export
    with pytest.raises(ConfigError, match=r"bot\.index\.onnx_export"):
        LocalEmbedder(backend="onnx", onnx_root=tmp_path / "empty")
    with pytest.raises(ConfigError, match="unknown backend"):
        LocalEmbedder(backend="tpu")


def test_ask_in_a_new_process_imports_no_torch(seed_home: Path) -> None:
    """With the install-time export present, a question is answered without torch,
    transformers or sentence-transformers (what made the first `ask` take 18-25 s)."""
    import subprocess
    import sys

    from tests.conftest import cli_env

    if find_export(default_local_model()) is None:
        pytest.skip("no ONNX export in the cache folder: run python -m bot.index.onnx_export")
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['paperbot', 'ask', 'What is grokking?', '--json']\n"
        "try:\n"
        "    runpy.run_module('bot', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers')"
        " if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=cli_env(seed_home), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert '"citations"' in done.stdout
    assert done.stdout.strip().endswith("HEAVY="), done.stdout[-200:]
