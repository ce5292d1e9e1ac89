"""Synthetic but realistic paper records for tests that need many papers without ../shared.

The 54 seed abstracts (``data/papers/``) are recombined: record ``i`` takes seed paper
``i % 54``, rotates its sentences by ``i // 54`` and gets its own id and title suffix, so every
record has distinct text (distinct chunk ids) in the seed's real scientific language.
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.ingest.readers.listing import read_listing
from bot.text.sentences import split_sentences

__all__ = ["variant_records", "write_jsonl"]

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "data" / "papers" / "trending_papers_jun6.txt"


def variant_records(n: int, prefix: str = "v", start: int = 0) -> list[dict[str, str]]:
    """``n`` paperbot JSON records (``id``, ``title``, ``abstract``) numbered from ``start``."""
    seed = read_listing(SEED, SEED.read_text(encoding="utf-8")).papers
    records = []
    for i in range(start, start + n):
        paper = seed[i % len(seed)]
        sentences = [s.text for s in split_sentences(paper.abstract)]
        shift = (i // len(seed)) % max(1, len(sentences))
        rotated = sentences[shift:] + sentences[:shift]
        records.append(
            {
                "id": f"{prefix}-{i:05d}",
                "title": f"{paper.title} (variant {i})",
                "abstract": " ".join(rotated) + f" This is record {i} of the {prefix} set.",
            }
        )
    return records


def write_jsonl(path: Path, records: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
