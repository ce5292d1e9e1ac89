"""Hard negatives: a true statement turned into a false one by a small edit.

Each function returns the edited text, or ``None`` when the edit does not apply. They are the
generated *contradict* pairs of the entailment training data: the evidence that supports the
original statement contradicts the edited one.
"""

from __future__ import annotations

import random
import re

from bot.ground.contrast import is_aim, negate
from bot.ground.contrast import swap_direction as _swap

__all__ = ["change_number", "flip_negation", "perturbations", "swap_direction"]

# a number that is a quantity: not part of a word or an identifier ("IL-6", "COVID-19", "H1N1")
_QUANTITY = re.compile(r"(?<![\w.\-/])(\d+(?:\.\d+)?)(\s?%|\s?-?fold)?(?![\w\-/])")


def change_number(text: str, rng: random.Random) -> str | None:
    """One quantity changed to a clearly different value (same format: decimals kept, a
    percentage stays a percentage); years (1900-2099) are left alone."""
    found = [m for m in _QUANTITY.finditer(text) if not (1900 <= float(m.group(1)) <= 2099)]
    if not found:
        return None
    m = rng.choice(found)
    raw = m.group(1)
    value = float(raw)
    decimals = len(raw.split(".")[1]) if "." in raw else 0
    if m.group(2) and "%" in m.group(2) and value <= 100:
        candidates = [v for v in (value * 0.5, value * 1.8, value + 25, value - 20) if 0 < v < 100]
    else:
        candidates = [value * f for f in (0.25, 0.5, 2.0, 3.0, 10.0)] + [value + 7]
    options = [f"{v:.{decimals}f}" for v in candidates if abs(v - value) > 0.2 * max(abs(value), 1)]
    options = [o for o in options if o != raw and float(o) > 0]
    if not options:
        return None
    return text[: m.start(1)] + rng.choice(options) + text[m.end(1) :]


# a swap that broke the verb ("We present" -> "We absent"), not the finding
_BROKEN = re.compile(r"\b(?:we|paper|work|study|authors?|article)\s+absents?\b", re.IGNORECASE)


def _usable(text: str, edited: str | None) -> str | None:
    if not edited or edited.strip() == text.strip() or _BROKEN.search(edited):
        return None
    return edited


def flip_negation(text: str) -> str | None:
    """A negation removed or added (falling back to a direction swap): see
    :func:`bot.ground.contrast.negate`. Statements of aim ("We study whether ...") are left alone:
    negating them changes no finding."""
    if is_aim(text):
        return None
    return _usable(text, negate(text))


def swap_direction(text: str) -> str | None:
    """:func:`bot.ground.contrast.swap_direction`, refusing edits that break the verb."""
    return _usable(text, _swap(text))


def perturbations(text: str, rng: random.Random) -> list[tuple[str, str]]:
    """Every edit that applies: ``[(kind, edited text), ...]`` with kind ``number``,
    ``negation`` or ``direction`` (distinct texts only)."""
    out: list[tuple[str, str]] = []
    for kind, edited in (
        ("number", change_number(text, rng)),
        ("negation", flip_negation(text)),
        ("direction", swap_direction(text)),
    ):
        if edited and edited != text and all(edited != e for _, e in out):
            out.append((kind, edited))
    return out
