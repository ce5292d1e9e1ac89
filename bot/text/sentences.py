"""Sentence splitting that keeps character offsets.

Citations quote exact sentences, so every :class:`~bot.types.Sentence` satisfies
``text[s.start:s.end] == s.text``. The splitter is rule-based (no model, no download) and
tuned for scientific abstracts: it does not split after common abbreviations ("e.g.", "i.e.",
"et al.", "Fig.", "Eq.", "vs."), initials, decimals ("0.5"), or inside brackets.
"""

from __future__ import annotations

import re

from bot.types import Sentence

__all__ = ["split_sentences"]

_ABBREVIATIONS = {
    "e.g",
    "i.e",
    "et al",
    "al",
    "fig",
    "figs",
    "eq",
    "eqs",
    "ref",
    "refs",
    "sec",
    "vs",
    "cf",
    "etc",
    "approx",
    "resp",
    "no",
    "dr",
    "prof",
    "mr",
    "mrs",
    "ms",
    "st",
    "vol",
    "pp",
    "ch",
    "thm",
    "lem",
    "def",
    "prop",
    "cor",
    "e.t.c",
    "w.r.t",
    "a.k.a",
    "u.s",
    "ca",
    "viz",
    "incl",
}

# A candidate boundary: terminal punctuation, optional closing quotes/brackets, whitespace.
_BOUNDARY = re.compile(r"[.!?](?:[\"'\u201d\u2019)\]]*)(?=\s+)")
_NEXT_START = re.compile(r"\s+([\"'\u201c\u2018(\[]*)(\S)")


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the '.' at ``dot`` ends an abbreviation or an initial, not a sentence."""
    if text[dot] != ".":
        return False
    start = dot
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    word = text[start:dot].lower()
    if word in _ABBREVIATIONS:
        return True
    # Single capital initial ("J. Smith") or dotted acronym ("U.S.").
    if len(word) == 1 and text[start].isupper():
        return True
    return "." in word and len(word) <= 6


def _depth_at(text: str, pos: int) -> int:
    depth = 0
    for ch in text[:pos]:
        if ch in "([":
            depth += 1
        elif ch in ")]" and depth > 0:
            depth -= 1
    return depth


_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` into sentences with offsets into ``text`` (surrounding spaces excluded).

    A blank line always ends a sentence (a heading or a paragraph without a final period in
    a full text does not run on into the next paragraph)."""
    sentences: list[Sentence] = []
    start = 0
    for brk in _PARAGRAPH_BREAK.finditer(text):
        _split_span(sentences, text, start, brk.start())
        start = brk.end()
    _split_span(sentences, text, start, len(text))
    return sentences


def _split_span(sentences: list[Sentence], text: str, start: int, n: int) -> None:
    """Append the sentences of ``text[start:n]`` (one paragraph) to ``sentences``."""
    if start >= n:
        return
    for match in _BOUNDARY.finditer(text, start, n):
        end = match.end()
        dot = match.start()
        if _is_abbreviation(text, dot):
            continue
        nxt = _NEXT_START.match(text, end, n)
        if nxt is None:
            continue
        first = nxt.group(2)
        # A sentence starts with an upper-case letter, a digit, or a symbol; a lower-case
        # continuation ("... vs. the baseline") means we are still inside the sentence.
        if first.islower():
            continue
        if _depth_at(text[start:end], end - start) > 0:
            continue
        _append(sentences, text, start, end)
        start = end
    if start < n:
        _append(sentences, text, start, n)


def _append(out: list[Sentence], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        out.append(Sentence(index=len(out), text=text[start:end], start=start, end=end))
