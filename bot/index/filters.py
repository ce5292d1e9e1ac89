"""Metadata filters for every retrieval entry point: dates, categories, authors.

A :class:`SearchFilter` is applied twice, consistently:

- on the dense side it becomes a Chroma ``where`` clause over keys every chunk carries
  (:func:`filter_keys`): ``published_ts`` (int ``YYYYMMDD``; a missing month or day counts as
  ``00``), ``category_keys`` (lower-cased categories) and ``author_keys`` (normalised names);
- on the BM25 side :meth:`SearchFilter.matches` checks the same keys, computed from the paper.

Semantics: ``since``/``until`` are inclusive and accept ``YYYY``, ``YYYY-MM`` or
``YYYY-MM-DD``; a paper without a parsable date never passes a date filter. Several
categories (or authors) mean "any of them"; category and author filters combine with AND.
Author names match whole names, ignoring case, accents and punctuation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.errors import InputError
from bot.types import Paper, normalise_title

__all__ = ["SearchFilter", "date_key", "filter_keys"]

_DATE = re.compile(r"^\s*(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?")


def date_key(value: str | None, *, end: bool = False) -> int | None:
    """``YYYY[-MM[-DD]]`` -> ``YYYYMMDD``; missing parts are 00 (or 99 when ``end``)."""
    if not value:
        return None
    m = _DATE.match(value)
    if not m:
        return None
    year = int(m.group(1))
    pad = 99 if end else 0
    month = int(m.group(2)) if m.group(2) else pad
    day = int(m.group(3)) if m.group(3) else pad
    if (m.group(2) and not 1 <= month <= 12) or (m.group(3) and not 1 <= day <= 31):
        return None
    return year * 10000 + month * 100 + day


def _category_key(value: str) -> str:
    return value.strip().lower()


def _author_key(value: str) -> str:
    return normalise_title(value)


def filter_keys(paper: Paper) -> dict[str, Any]:
    """The filterable metadata of a paper (keys absent when unknown; Chroma wants no [])."""
    keys: dict[str, Any] = {}
    ts = date_key(paper.published)
    if ts is not None:
        keys["published_ts"] = ts
    cats = sorted({_category_key(c) for c in paper.categories if c.strip()})
    if cats:
        keys["category_keys"] = cats
    authors = sorted({_author_key(a) for a in paper.authors if _author_key(a)})
    if authors:
        keys["author_keys"] = authors
    return keys


@dataclass(frozen=True)
class SearchFilter:
    """Restrict retrieval to papers by date range, categories and authors."""

    since: str | None = None
    until: str | None = None
    categories: tuple[str, ...] = field(default_factory=tuple)
    authors: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def build(
        cls,
        since: str | None = None,
        until: str | None = None,
        categories: Iterable[str] | str | None = None,
        authors: Iterable[str] | str | None = None,
    ) -> SearchFilter | None:
        """A validated filter, or ``None`` when nothing restricts the search."""
        cats = (categories,) if isinstance(categories, str) else tuple(categories or ())
        auths = (authors,) if isinstance(authors, str) else tuple(authors or ())
        cats = tuple(c for c in cats if c and c.strip())
        auths = tuple(a for a in auths if a and _author_key(a))
        made = cls(since or None, until or None, cats, auths)
        made.validate()
        return None if made.empty else made

    @property
    def empty(self) -> bool:
        return not (self.since or self.until or self.categories or self.authors)

    def validate(self) -> None:
        for name, value, end in (("since", self.since, False), ("until", self.until, True)):
            if value and date_key(value, end=end) is None:
                raise InputError(
                    f"{name} must be a date like 2024, 2024-06 or 2024-06-30", params=[name]
                )
        lo, hi = self._range()
        if lo is not None and hi is not None and lo > hi:
            raise InputError(
                f"since {self.since} is after until {self.until}", params=["since", "until"]
            )

    def _range(self) -> tuple[int | None, int | None]:
        return date_key(self.since), date_key(self.until, end=True)

    def to_where(self) -> dict[str, Any] | None:
        """The Chroma ``where`` clause selecting the chunks of matching papers."""
        clauses: list[dict[str, Any]] = []
        lo, hi = self._range()
        if lo is not None:
            clauses.append({"published_ts": {"$gte": lo}})
        if hi is not None:
            clauses.append({"published_ts": {"$lte": hi}})
        for key, values, norm in (
            ("category_keys", self.categories, _category_key),
            ("author_keys", self.authors, _author_key),
        ):
            ors = [{key: {"$contains": norm(v)}} for v in dict.fromkeys(values)]
            if len(ors) == 1:
                clauses.append(ors[0])
            elif ors:
                clauses.append({"$or": ors})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, keys: Mapping[str, Any]) -> bool:
        """Whether a paper with these :func:`filter_keys` passes the filter."""
        lo, hi = self._range()
        if lo is not None or hi is not None:
            ts = keys.get("published_ts")
            if ts is None or (lo is not None and ts < lo) or (hi is not None and ts > hi):
                return False
        if self.categories:
            have = set(keys.get("category_keys") or ())
            if not have & {_category_key(c) for c in self.categories}:
                return False
        if self.authors:
            have = set(keys.get("author_keys") or ())
            if not have & {_author_key(a) for a in self.authors}:
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "categories": list(self.categories),
            "authors": list(self.authors),
        }
