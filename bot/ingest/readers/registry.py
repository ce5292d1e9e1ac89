"""The reader registry: formats by name and suffix, detection, reading a file in this
process (what a parse worker runs), and expanding input paths. :mod:`bot.ingest.readers`
re-exports all of it and adds :func:`~bot.ingest.readers.read_file`, which sends isolated
formats to a parse worker (:mod:`bot.ingest.readers.isolated`, which imports this module)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.errors import ReaderError
from bot.ingest.readers.arxiv_atom import read_arxiv_atom
from bot.ingest.readers.bibtex import read_bibtex
from bot.ingest.readers.jsonrecords import read_json, read_jsonl
from bot.ingest.readers.listing import read_listing
from bot.ingest.readers.pdf import read_pdf
from bot.ingest.readers.table import read_csv, read_tsv
from bot.types import IngestFailure, Paper, ReadResult

__all__ = [
    "DEFAULT_PARSE_MEMORY_MB",
    "DEFAULT_PARSE_TIMEOUT",
    "READERS",
    "Reader",
    "ReaderFunc",
    "detect_format",
    "format_of",
    "iter_input_files",
    "read_file_here",
    "register_reader",
    "resolve_format",
    "supported_types",
    "unsupported_message",
]

#: A reader function: ``(path, text) -> ReadResult``. ``text`` is the decoded file (UTF-8, BOM
#: stripped); for readers registered with ``binary=True`` it is ``""`` and the reader reads
#: ``path`` itself.
ReaderFunc = Callable[[Path, str], ReadResult]

_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Reader:
    """One input format: its name, the file suffixes it claims, and the function reading it."""

    name: str
    suffixes: tuple[str, ...]
    func: ReaderFunc
    binary: bool = False
    isolated: bool = False  # parsed in a worker process with a time and memory budget

    def __call__(self, path: Path, text: str) -> ReadResult:
        return self.func(path, text)

    def describe(self) -> str:
        """Short description for messages, e.g. ``".txt/.md listing"`` or ``".json"``."""
        suffixes = "/".join(self.suffixes)
        if self.suffixes and self.suffixes[0].lstrip(".") == self.name:
            return suffixes
        return f"{suffixes} {self.name}".strip()


#: The registry: format name -> :class:`Reader`. Modify it through :func:`register_reader`.
READERS: dict[str, Reader] = {}


def _normalise_suffix(suffix: str) -> str:
    suffix = suffix.strip().lower()
    return suffix if suffix.startswith(".") else f".{suffix}"


def register_reader(
    name: str,
    suffixes: Iterable[str],
    func: ReaderFunc,
    *,
    binary: bool = False,
    isolated: bool = False,
) -> Reader:
    """Register (or replace) the reader of format ``name`` for the given file suffixes.

    ``suffixes`` are matched case-insensitively (``"bib"`` and ``".bib"`` are the same). A
    ``binary`` reader skips the text checks of :func:`~bot.ingest.readers.read_file` (NUL
    bytes, UTF-8) and gets ``text=""``. Raises ``ValueError`` if a suffix is already claimed by
    another format.
    """
    name = name.strip()
    if not name:
        raise ValueError("a reader needs a non-empty format name")
    normalised = tuple(dict.fromkeys(_normalise_suffix(s) for s in suffixes))
    for other in READERS.values():
        clash = set(normalised) & set(other.suffixes)
        if other.name != name and clash:
            raise ValueError(
                f"suffix {', '.join(sorted(clash))} is already read by format '{other.name}'"
            )
    reader = Reader(name=name, suffixes=normalised, func=func, binary=binary, isolated=isolated)
    READERS[name] = reader
    return reader


register_reader("listing", (".txt", ".md"), read_listing)
register_reader("json", (".json",), read_json)
register_reader("jsonl", (".jsonl", ".ndjson"), read_jsonl)
register_reader("arxiv", (".xml", ".atom"), read_arxiv_atom)
register_reader("bibtex", (".bib",), read_bibtex)
register_reader("csv", (".csv",), read_csv)
register_reader("tsv", (".tsv", ".tab"), read_tsv)
register_reader("pdf", (".pdf",), read_pdf, binary=True, isolated=True)

#: Budgets of a parse worker when the caller gives none (settings give them in an ingest).
DEFAULT_PARSE_TIMEOUT = 60.0
DEFAULT_PARSE_MEMORY_MB = 1024


def detect_format(path: Path) -> str | None:
    """The format name for ``path`` by its suffix (case-insensitive), or None when unknown."""
    suffix = Path(path).suffix.lower()
    if not suffix:
        return None
    for reader in READERS.values():
        if suffix in reader.suffixes:
            return reader.name
    return None


def supported_types() -> str:
    """The registered formats for messages: ``".txt/.md listing, .json, ..., .bib bibtex"``."""
    return ", ".join(r.describe() for r in READERS.values())


def unsupported_message(path: Path) -> str:
    """The error for a file of unknown type, listing the supported suffixes."""
    supported = supported_types()
    suffix = Path(path).suffix
    what = f"'{suffix}'" if suffix else "(no file extension)"
    return f"unsupported file type {what} (supported: {supported})"


def resolve_format(fmt: str) -> str:
    """The registered format name for ``fmt`` (a name or a suffix); ReaderError if unknown."""
    name = _resolve_format(fmt)
    if name is None:
        known = ", ".join(sorted(READERS))
        raise ReaderError(f"unknown format '{fmt}' (known formats: {known})")
    return name


def _resolve_format(fmt: str) -> str | None:
    """A registered format name for ``fmt``: a name (``"jsonl"``) or a suffix (``"ndjson"``)."""
    key = fmt.strip().lower()
    if key in READERS:
        return key
    for reader in READERS.values():
        if reader.name.lower() == key or _normalise_suffix(key) in reader.suffixes:
            return reader.name
    return None


def _failed(path: Path, error: str, line: int | None = None) -> ReadResult:
    return ReadResult(failures=[IngestFailure(str(path), line, error)])


def _decode(path: Path, data: bytes) -> str | ReadResult:
    """Decode file bytes as UTF-8 text (BOM stripped), or a failed result saying why not."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _failed(
            path,
            f"not valid UTF-8 text (byte 0x{data[0]:02x} at offset 0; "
            "the file looks like UTF-16: save it as UTF-8)",
        )
    if b"\x00" in data[:_SNIFF_BYTES]:
        return _failed(path, "binary file, not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start]
        return _failed(path, f"not valid UTF-8 text (byte 0x{bad:02x} at offset {exc.start})", line)
    return text[1:] if text.startswith("\ufeff") else text


def _keep_last(papers: list[Paper]) -> list[Paper]:
    """Drop earlier papers with the same id (the last one wins, at the first one's position)."""
    by_id: dict[str, Paper] = {}
    for paper in papers:
        by_id[paper.id] = paper
    return list(by_id.values())


def format_of(path: Path, fmt: str | None) -> str | None:
    """The format name ``fmt`` resolves to, or the one detected from ``path``'s suffix."""
    if fmt is None:
        return detect_format(path)
    return _resolve_format(fmt)


def read_file_here(path: Path, fmt: str | None = None) -> ReadResult:
    """:func:`~bot.ingest.readers.read_file` in this process (what a parse worker runs)."""
    path = Path(path)
    if fmt is None:
        name = detect_format(path)
        if name is None:
            return _failed(path, unsupported_message(path))
    else:
        try:
            name = resolve_format(fmt)
        except ReaderError as exc:
            return _failed(path, exc.message)
    reader = READERS[name]

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _failed(path, "file not found")
    except IsADirectoryError:
        return _failed(path, "is a directory, not a file")
    except OSError as exc:
        return _failed(path, f"cannot read file: {exc.strerror or exc}")
    if not data:
        return _failed(path, "file is empty")

    text = ""
    if not reader.binary:
        decoded = _decode(path, data)
        if isinstance(decoded, ReadResult):
            return decoded
        if not decoded.strip():
            return _failed(path, "file is empty")
        text = decoded

    try:
        result = reader(path, text)
    except ReaderError as exc:
        return _failed(path, exc.message, exc.line)
    except RecursionError:
        return _failed(path, f"cannot be read as {name}: nested too deeply (a hostile file?)")
    except MemoryError:
        raise  # over the parse worker's memory budget: it reports that
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200]
        return _failed(path, f"cannot be read as {name} ({type(exc).__name__}: {detail})")
    result.papers = [_clean_paper(p) for p in _keep_last(result.papers)]
    if not result.papers and not result.failures:
        result.failures.append(IngestFailure(str(path), None, f"no papers found ({name} format)"))
    return result


def _clean_paper(paper: Paper) -> Paper:
    """Terminal escape codes and control characters out of every field (offsets of a
    full-text body are kept: there each removed character becomes a space)."""
    from bot.text.sanitize import clean_text

    paper.title = " ".join(clean_text(paper.title).split())
    paper.abstract = clean_text(paper.abstract, keep_length=bool(paper.pages))
    paper.body = clean_text(paper.body, keep_length=bool(paper.pages))
    paper.authors = [clean_text(a) for a in paper.authors]
    return paper


def _walk(top: Path) -> list[Path]:
    """Files under ``top``, recursively, sorted, skipping hidden files and directories."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath, f) for f in filenames if not f.startswith("."))
    return sorted(found, key=lambda p: p.relative_to(top).parts)


def iter_input_files(
    paths: Iterable[Path], fmt: str | None = None
) -> tuple[list[Path], list[IngestFailure]]:
    """Expand the given paths into the files to read, and failures for those that cannot be.

    Directories are searched recursively (sorted; hidden files and directories skipped); a
    file of unknown type found there is a failure (unless ``fmt`` says how to read every
    file). Files named directly are kept whatever
    their suffix (a ``--format`` may apply). A path that does not exist is a failure.
    Duplicates (the same file reached twice) are kept once, in first-seen order.
    """
    files: list[Path] = []
    failures: list[IngestFailure] = []
    seen: set[str] = set()

    def keep(file: Path) -> None:
        key = os.path.normcase(os.path.realpath(file))
        if key not in seen:
            seen.add(key)
            files.append(file)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in _walk(path):
                if not file.exists():
                    failures.append(IngestFailure(str(file), None, "broken symbolic link"))
                elif fmt is None and detect_format(file) is None:
                    failures.append(IngestFailure(str(file), None, unsupported_message(file)))
                else:
                    keep(file)
        elif path.exists():
            keep(path)
        else:
            failures.append(IngestFailure(str(path), None, "no such file or directory"))
    return files, failures
