"""The chromadb-free read path of `papers` / `stats` (bot.catalog) against the real store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.api import PaperBot
from bot.index.catalog import read_catalog
from bot.index.embeddings import LocalEmbedder
from bot.index.writes import prepare_writes
from bot.types import Paper
from tests.conftest import cli_env, make_settings


def test_catalog_lists_exactly_what_the_store_lists(seed_bot: PaperBot) -> None:
    catalog = read_catalog(seed_bot.settings)
    assert catalog is not None
    from_store = {p.id: p for p in seed_bot.store.iter_papers()}
    assert {p.id: p for p in catalog.papers} == from_store
    assert catalog.n_chunks == seed_bot.store.count_chunks()
    assert catalog.metadata["embedding_model"] == seed_bot.embedder.name
    assert catalog.metadata["embedding_dim"] == seed_bot.embedder.dimension


def test_catalog_reads_the_library_fields_arrays_included(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    bot = PaperBot(make_settings(tmp_path / "home"), embedder=embedder, llm=None)
    paper = Paper(
        id="2106.09685", title="One paper, several sources", abstract="It says one thing.",
        aliases=["t-0123456789abcdef", "doi:10.48550/arXiv.2106.09685"],
        sources=["listing.md"], added="2026-12-01T00:00:00", inputs=["abc"],
    )  # fmt: skip
    bot.store.write(prepare_writes([paper], embedder, bot.settings))
    catalog = read_catalog(bot.settings)
    assert catalog is not None
    (listed,) = catalog.papers
    assert listed == bot.store.get_papers([paper.id])[0]
    assert listed.aliases == paper.aliases and listed.added == paper.added


def test_catalog_is_none_where_it_cannot_be_trusted(tmp_path: Path, seed_home: Path) -> None:
    assert read_catalog(make_settings(tmp_path / "nothing-here")) is None
    assert read_catalog(make_settings(seed_home, chroma_host="127.0.0.1")) is None
    assert read_catalog(make_settings(seed_home, collection="other")) is None
    broken = tmp_path / "broken" / "chroma"
    broken.mkdir(parents=True)
    (broken / "chroma.sqlite3").write_bytes(b"not a database")
    assert read_catalog(make_settings(tmp_path / "broken")) is None


def test_stats_and_papers_load_no_model_and_no_chromadb(seed_home: Path) -> None:
    """`paperbot stats` / `papers` in a new process: right numbers, and the heavy libraries
    (torch, sentence-transformers, chromadb, onnxruntime) are never imported."""
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['paperbot'] + sys.argv[1:]\n"
        "try:\n"
        "    runpy.run_module('bot', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'chromadb', 'onnxruntime',"
        " 'transformers') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    env = cli_env(seed_home)
    for args in (["stats", "--json"], ["papers", "--json"], ["--help"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().endswith("HEAVY="), (args, done.stdout[-200:])
    stats = subprocess.run(
        [sys.executable, "-m", "bot", "stats"], env=env, capture_output=True, text=True
    )
    assert "papers           54" in stats.stdout and "all-MiniLM-L6-v2" in stats.stdout
