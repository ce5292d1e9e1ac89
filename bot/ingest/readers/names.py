"""Person names as bibliographies write them: ``"Last, First"``, ``"Last, Jr., First"``, lists.

Shared by the BibTeX and CSV readers.
"""

from __future__ import annotations

import re

__all__ = ["person_name", "person_name_from_parts", "split_name_list"]

_PARTICLES = frozenset("van von der den de di da del della du le la dos das ter ten".split())


def person_name(name: str) -> str:
    """``"Last, First"`` -> ``"First Last"``; ``"Last, Jr., First"`` -> ``"First Last Jr."``;
    ``"First Last"`` unchanged; whitespace collapsed."""
    return person_name_from_parts(name.split(","))


def person_name_from_parts(parts: list[str]) -> str:
    """:func:`person_name` of a name already split at its commas (``["Last", "First"]``)."""
    name = " ".join(" ".join(parts).split())
    parts = [" ".join(p.split()) for p in parts]
    parts = [p for p in parts if p]
    if len(parts) == 2:
        last, first = parts
        return f"{first} {last}"
    if len(parts) == 3:
        last, suffix, first = parts
        return f"{first} {last} {suffix}"
    return name


def _is_inverted(name: str) -> bool:
    """Whether ``name`` (one comma) reads as ``"Last, First"`` rather than two names.

    ``"Smith, John"``, ``"Hinton, Geoffrey E."``, ``"van der Berg, Jan"`` are inverted;
    ``"A. Author, B. Author"`` and ``"Alice Smith, Bob Jones"`` are two names.
    """
    if name.count(",") != 1:
        return False
    last, first = (p.split() for p in name.split(","))
    if not last or not first:
        return False
    family = [w for w in last if w.lower() not in _PARTICLES]
    words = len(last) + len(first)
    return (len(family) <= 1 and words <= 5) or words <= 3


def split_name_list(text: str) -> list[str]:
    """Split an author list written in one string, whatever the convention.

    * ``;`` present: it separates names (``"Vaswani, Ashish; Shazeer, Noam"``);
    * else `` and `` separates names, each possibly ``"Last, First"``
      (``"Smith, John and Doe, Jane"``, ``"A. Author, B. Author and C. Author"``);
    * else commas separate names unless the whole string is one ``"Last, First"``.

    Each name goes through :func:`person_name` when it is inverted.
    """
    text = " ".join(text.split())
    if not text:
        return []
    if ";" in text:
        pieces = text.split(";")
    else:
        pieces = []
        for chunk in re.split(r"\s+and\s+|\s*&\s*", text):
            chunk = chunk.strip().rstrip(",")
            pieces.extend([chunk] if _is_inverted(chunk) else chunk.split(","))
    names = []
    for piece in (p.strip() for p in pieces):
        if piece and piece.lower() not in {"others", "et al.", "et al"}:
            names.append(person_name(piece) if piece.count(",") else piece)
    return names
