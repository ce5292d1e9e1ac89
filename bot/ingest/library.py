"""The paper library: one record per paper whatever the sources, and removing papers.

One paper, several sources
--------------------------
The same paper arrives from a listing (id ``t-<title hash>``), an arXiv feed (``2106.09685``),
a BibTeX file (``2106.09685`` or ``doi:...``), a CSV table or a PDF. :func:`plan_ingest` folds
every input record into the stored record of its paper:

- **Which record.** An input belongs to the record stored under its id, else to the record
  that lists its id among its ``aliases``, else to a record with the same normalised title -
  unless their ids contradict each other (two different arXiv ids, two different DOIs, two
  different ids of the user's own). A title-hash id never contradicts anything, and an arXiv id
  and a DOI may name the same paper (preprint and published version). Inputs of one batch that
  belong together are grouped the same way.
- **Stable ids.** A stored record keeps its id; the ids the paper arrives under later become
  its aliases (``paperbot remove``, ``summarize``, ``GET /api/papers/{id}`` accept them). A new
  paper read from several inputs at once takes the strongest id: arXiv, then DOI, then any
  other, then the title hash.
- **Nothing lost.** Full text (a PDF) is never replaced by an abstract-only record, and a newer
  full text replaces an older one. Every metadata field (title, authors, date, URL,
  categories) takes the newest non-empty value: a non-empty field is never blanked.
- **Truthful counts.** Per input record, the report says ``added`` (a new paper),
  ``updated`` (the paper stored under this input's id or alias changed), ``merged`` (folded
  into a paper stored under another id: it gains an alias, and maybe fields) or ``unchanged``.
  Each record remembers the content hash of the last version of every input merged into it
  (``inputs``), so re-reading any of its sources is ``unchanged`` - no flip-flop between two
  sources that disagree - while a changed source is ``updated``.

Removing papers
---------------
:func:`remove_papers` deletes a paper's record, its chunks (so its BM25 entry: the index
follows every delete) and its cached generations. It is crash-safe like ingest: the ids are
noted in the write journal first (:mod:`bot.index.journal`), the record is deleted before its
chunks,
and a removal killed half-way is finished by the next writer's recovery (chunks without a
record are orphans and get deleted). :func:`papers_from_source` selects the papers a file (or
a folder) brought in, for ``paperbot remove --source PATH``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.types import IngestReport, Paper, normalise_title

if TYPE_CHECKING:
    from bot.index.embeddings import Embedder
    from bot.index.store import PaperStore
    from bot.settings import Settings
    from bot.storage.cache import GenerationCache

__all__ = [
    "IngestPlan",
    "RemoveReport",
    "id_kind",
    "merge_papers",
    "papers_from_source",
    "plan_ingest",
    "remove_papers",
    "resolve_ids",
    "source_entry",
]

#: How many input versions a record remembers (the oldest are dropped).
MAX_INPUTS = 32

_ARXIV = re.compile(r"(?:\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[a-z]{2})?/\d{7})", re.IGNORECASE)
_RANK = {"arxiv": 0, "doi": 1, "other": 2, "title": 3}
_LINE = re.compile(r"^(.*):(\d+)$")


def id_kind(paper_id: str) -> str:
    """``"arxiv"``, ``"doi"``, ``"title"`` (a title hash ``t-...``) or ``"other"``."""
    if paper_id.startswith("t-"):
        return "title"
    if paper_id.lower().startswith("doi:"):
        return "doi"
    if _ARXIV.fullmatch(paper_id):
        return "arxiv"
    return "other"


def _compatible(a: str, b: str) -> bool:
    """Whether ids ``a`` and ``b`` may name the same paper."""
    if a == b:
        return True
    ka, kb = id_kind(a), id_kind(b)
    if "title" in (ka, kb):
        return True
    return ka != kb and {ka, kb} <= {"arxiv", "doi"}


def _joinable(paper_id: str, ids: Iterable[str]) -> bool:
    return all(_compatible(paper_id, other) for other in ids)


def source_entry(source: str | None) -> str | None:
    """A reader's ``source`` (``"path:line"`` or ``"path"``) with an absolute path."""
    if not source:
        return None
    m = _LINE.match(source)
    path, line = (m.group(1), f":{m.group(2)}") if m else (source, "")
    return f"{os.path.abspath(path)}{line}"


def _source_path(entry: str) -> str:
    m = _LINE.match(entry)
    return m.group(1) if m else entry


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --- merging -------------------------------------------------------------------------------
def _input_versions(inputs: Iterable[str]) -> dict[str, str]:
    """A record's ``inputs`` as {input id: content hash of its last merged version}."""
    out: dict[str, str] = {}
    for entry in inputs:
        digest, _, pid = entry.partition(" ")
        if pid:
            out[pid] = digest
    return out


def _with_input(inputs: list[str], paper_id: str, digest: str) -> list[str]:
    kept = [e for e in inputs if e.partition(" ")[2] != paper_id]
    return [*kept, f"{digest} {paper_id}"][-MAX_INPUTS:]


def _with_source(sources: list[str], source: str | None) -> list[str]:
    entry = source_entry(source)
    return sources if entry is None or entry in sources else [*sources, entry]


def new_record(paper: Paper, record_id: str | None = None) -> Paper:
    """The record a first input makes (under ``record_id``, default its own id)."""
    record_id = record_id or paper.id
    aliases = [a for a in dict.fromkeys([paper.id, *paper.aliases]) if a != record_id]
    inputs = paper.inputs
    if paper.id not in _input_versions(paper.inputs):
        inputs = _with_input(paper.inputs, paper.id, paper.content_hash)
    sources = paper.sources or _with_source([], paper.source)
    return replace(
        paper,
        id=record_id,
        aliases=aliases,
        sources=sources,
        inputs=inputs,
        added=paper.added or _now(),
    )


def merge_papers(record: Paper, incoming: Paper) -> Paper:
    """``incoming`` folded into ``record`` (see the module docstring): full text wins over
    abstract-only, newest non-empty metadata wins, the id stays the record's."""
    if incoming.body:
        abstract, body, pages = incoming.abstract, incoming.body, incoming.pages
    elif record.body:
        abstract, body, pages = record.abstract, record.body, record.pages
    else:
        abstract, body, pages = incoming.abstract or record.abstract, "", []
    aliases = [
        a
        for a in dict.fromkeys([*record.aliases, incoming.id, *incoming.aliases])
        if a != record.id
    ]
    sources = record.sources
    for entry in incoming.sources or [incoming.source or ""]:
        sources = _with_source(sources, entry)
    return replace(
        record,
        title=incoming.title or record.title,
        abstract=abstract,
        body=body,
        pages=pages,
        authors=incoming.authors or record.authors,
        published=incoming.published or record.published,
        url=incoming.url or record.url,
        categories=incoming.categories or record.categories,
        source=incoming.source or record.source,
        aliases=aliases,
        sources=sources,
        inputs=_with_input(record.inputs, incoming.id, incoming.content_hash),
    )


def _bookkeeping(paper: Paper) -> tuple[Any, ...]:
    return (paper.aliases, paper.sources, paper.inputs, paper.source, paper.added)


def _meta_ids(record_id: str, meta: dict[str, Any]) -> set[str]:
    return {record_id, *(str(a) for a in meta.get("aliases") or [])}


def _meta_sources(meta: dict[str, Any]) -> list[str]:
    entries = list(json.loads(meta.get("sources") or "[]"))
    if not entries:  # a record written before sources were kept: its last source
        entries = [e for e in [source_entry(meta.get("source"))] if e]
    return entries


def _settled(record_id: str, meta: dict[str, Any], paper: Paper) -> bool:
    """Whether the stored record already holds this version of this input, from this file."""
    if paper.id not in _meta_ids(record_id, meta):
        return False
    entry = source_entry(paper.source)
    if entry is not None and entry not in _meta_sources(meta):
        return False
    if paper.content_hash == meta.get("content_hash"):
        return True
    versions = _input_versions(json.loads(meta.get("inputs") or "[]"))
    return versions.get(paper.id) == paper.content_hash


@dataclass
class _Group:
    """Input records of one paper, and its stored record when there is one."""

    record_id: str | None = None  # the stored record's id
    meta: dict[str, Any] | None = None  # the stored record's metadata
    ids: set[str] = field(default_factory=set)
    titles: set[str] = field(default_factory=set)
    inputs: list[Paper] = field(default_factory=list)

    def add(self, paper: Paper) -> None:
        self.inputs.append(paper)
        self.ids.add(paper.id)
        self.titles.add(normalise_title(paper.title))

    @property
    def settled(self) -> bool:
        """Every input is already in the stored record (nothing to read or write)."""
        if self.record_id is None or self.meta is None:
            return False
        return all(_settled(self.record_id, self.meta, p) for p in self.inputs)


@dataclass
class IngestPlan:
    """What an ingest must do: papers to (re)write with their chunks, and records whose
    content is unchanged but whose record keeping (aliases, sources, inputs) changed."""

    writes: list[Paper] = field(default_factory=list)
    relabels: list[Paper] = field(default_factory=list)


def _match_stored(
    papers: Sequence[Paper], store: PaperStore
) -> dict[int, tuple[str, dict[str, Any]]]:
    """Index of an input -> (record id, metadata) of the stored record it belongs to."""
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    by_id = store.paper_records([p.id for p in papers])
    rest = []
    for i, paper in enumerate(papers):
        if paper.id in by_id:
            found[i] = (paper.id, by_id[paper.id])
        else:
            rest.append(i)
    by_alias = store.records_by_alias([papers[i].id for i in rest]) if rest else {}
    left = []
    for i in rest:
        if papers[i].id in by_alias:
            found[i] = by_alias[papers[i].id]
        else:
            left.append(i)
    by_title = store.records_by_title([papers[i].title for i in left]) if left else {}
    for i in left:
        paper = papers[i]
        candidates = by_title.get(normalise_title(paper.title), {})
        for record_id, meta in sorted(candidates.items()):
            if _joinable(paper.id, _meta_ids(record_id, meta)):
                found[i] = (record_id, meta)
                break
    return found


def _group(papers: Sequence[Paper], store: PaperStore) -> list[_Group]:
    stored = _match_stored(papers, store)
    groups: list[_Group] = []
    by_record: dict[str, _Group] = {}
    for i, paper in enumerate(papers):
        if i not in stored:
            continue
        record_id, meta = stored[i]
        group = by_record.get(record_id)
        if group is None:
            group = by_record[record_id] = _Group(record_id=record_id, meta=meta)
            group.ids |= _meta_ids(record_id, meta)
            group.titles.add(str(meta.get("title_norm", "")))
            groups.append(group)
        group.add(paper)
    for i, paper in enumerate(papers):
        if i in stored:
            continue
        title = normalise_title(paper.title)
        target = next((g for g in groups if paper.id in g.ids), None)
        if target is None:
            target = next(
                (g for g in groups if title in g.titles and _joinable(paper.id, g.ids)), None
            )
        if target is None:
            target = _Group()
            groups.append(target)
        target.add(paper)
    return groups


def plan_ingest(papers: Sequence[Paper], store: PaperStore, report: IngestReport) -> IngestPlan:
    """Fold input records into stored ones (see the module docstring); counts go to
    ``report``. Reads the store only: the caller writes the plan."""
    plan = IngestPlan()
    groups = _group(papers, store)
    pending = [g for g in groups if not g.settled]
    report.unchanged += sum(len(g.inputs) for g in groups if g.settled)
    loaded = {p.id: p for p in store.get_papers([g.record_id for g in pending if g.record_id])}
    for group in pending:
        stored = loaded.get(group.record_id or "")  # None: new, or deleted meanwhile
        if stored is None:
            best = min(group.inputs, key=lambda p: _RANK[id_kind(p.id)])
            record = new_record(group.inputs[0], best.id)
            report.added += 1
            rest, known = group.inputs[1:], set()
        else:
            record, rest, known = stored, group.inputs, {stored.id, *stored.aliases}
        for paper in rest:
            same = paper.content_hash == record.content_hash
            if paper.id in {record.id, *record.aliases} and (
                same or _input_versions(record.inputs).get(paper.id) == paper.content_hash
            ):
                record = replace(record, sources=_with_source(record.sources, paper.source))
                report.unchanged += 1
                continue
            before = record.content_hash
            record = merge_papers(record, paper)
            if paper.id not in known:
                report.merged += 1
            elif record.content_hash != before:
                report.updated += 1
            else:
                report.unchanged += 1
        if stored is None or record.content_hash != stored.content_hash:
            plan.writes.append(record)
        elif _bookkeeping(record) != _bookkeeping(stored):
            plan.relabels.append(record)
    return plan


# --- finding papers by id or alias --------------------------------------------------------------
def resolve_ids(store: PaperStore, refs: Sequence[str]) -> dict[str, str]:
    """The stored record id each ref names, by id or by alias (refs not found are absent)."""
    refs = [r for r in dict.fromkeys(r.strip() for r in refs) if r]
    found = {r: r for r in store.paper_records(refs)}
    rest = [r for r in refs if r not in found]
    for alias, (record_id, _meta) in store.records_by_alias(rest).items():
        found[alias] = record_id
    return found


# --- removing papers ----------------------------------------------------------------------------
@dataclass
class RemoveReport:
    """What :func:`remove_papers` did."""

    removed: list[dict[str, str]] = field(default_factory=list)  # {"id", "title"}
    not_found: list[str] = field(default_factory=list)
    kept: list[dict[str, str]] = field(default_factory=list)  # --source: also from elsewhere
    chunks_deleted: int = 0
    cached_deleted: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "removed": list(self.removed),
            "not_found": list(self.not_found),
            "kept": list(self.kept),
            "chunks_deleted": self.chunks_deleted,
            "cached_deleted": self.cached_deleted,
            "seconds": round(self.seconds, 3),
        }


def papers_from_source(
    store: PaperStore, path: str | Path
) -> tuple[list[str], list[dict[str, str]]]:
    """Papers that came from the file ``path`` (or any file under the folder ``path``):
    (ids of those that came only from there, ``{"id", "title", "also_from"}`` of those that
    other files brought in too)."""
    target = os.path.abspath(path)
    prefix = target.rstrip(os.sep) + os.sep

    def inside(entry: str) -> bool:
        where = _source_path(entry)
        return where == target or where.startswith(prefix)

    only: list[str] = []
    shared: list[dict[str, str]] = []
    for pid, meta in store.iter_paper_records():
        entries = _meta_sources(meta)
        hits = [e for e in entries if inside(e)]
        if not hits:
            continue
        others = [e for e in entries if not inside(e)]
        if others:
            shared.append({"id": pid, "title": str(meta.get("title", "")), "also_from": others[0]})
        else:
            only.append(pid)
    return only, shared


def remove_papers(
    store: PaperStore,
    embedder: Embedder,
    settings: Settings,
    refs: Sequence[str],
    cache: GenerationCache | None = None,
) -> RemoveReport:
    """Remove papers (by id or alias) with their chunks, BM25 entries and cached generations.

    Holds the writer lock; finishes an interrupted write first, as every writer does, then
    notes the ids in the write journal before deleting anything (see the module docstring)."""
    from bot.index.journal import WriteJournal, recover_interrupted

    started = time.perf_counter()
    report = RemoveReport()
    with store.writing():
        recover_interrupted(store, embedder, settings)
        resolved = resolve_ids(store, refs)
        report.not_found = [r for r in dict.fromkeys(refs) if r not in resolved]
        ids = list(dict.fromkeys(resolved.values()))
        records = store.paper_records(ids)
        journal = WriteJournal.for_settings(settings)
        try:
            if ids:
                with journal.batch(ids):
                    report.chunks_deleted = store.delete_papers(ids)
        finally:
            journal.close()  # a note left by a failed delete stays for the next writer
        report.removed = [{"id": i, "title": str(records[i].get("title", ""))} for i in ids]
    if cache is not None and ids:
        refs_to_forget = [*ids, *(str(m.get("content_hash", "")) for m in records.values())]
        for meta in records.values():
            refs_to_forget.extend(str(a) for a in meta.get("aliases") or [])
        report.cached_deleted = cache.forget([r for r in refs_to_forget if r])
    report.seconds = time.perf_counter() - started
    return report
