"""The digest's closing line: what was done, said as it was done (quoted or written, by whom)."""

from __future__ import annotations

from bot.types import Digest

__all__ = ["footer_text"]


def footer_text(digest: Digest) -> str:
    """E.g. "3 papers · 7 sentences quoted from their abstracts (no language model) · date"."""
    items = digest.items
    written = [i for i in items if i.mode != "extractive"]
    quoted = [i for i in items if i.mode == "extractive"]
    parts = [f"{len(items)} paper{'s' if len(items) != 1 else ''}"]
    if written:
        models = ", ".join(sorted({f"{i.model} ({i.mode})" for i in written}))
        kept = sum(i.supported for i in written)
        total = sum(i.total for i in written)
        parts.append(
            f"{kept}/{total} sentences written by {models} kept after checking them against "
            "the abstracts"
        )
    if quoted:
        n = sum(i.supported for i in quoted)
        where = "their abstracts" if len(quoted) > 1 else "its abstract"
        parts.append(
            f"{n} sentence{'s' if n != 1 else ''} quoted from {where}"
            + (" (no language model)" if not written else "")
        )
    if digest.date:
        parts.append(digest.date)
    return " \u00b7 ".join(parts)
