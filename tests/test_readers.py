"""Tests for bot.readers: format registry, listing reader, JSON / JSON Lines readers.

Real files only (fixtures under tests/fixtures/readers/, plus files written to tmp_path for
byte-level cases such as CRLF, binary and Latin-1 content).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.errors import ReaderError
from bot.ingest.readers import (
    READERS,
    detect_format,
    iter_input_files,
    read_file,
    register_reader,
    unsupported_message,
)
from bot.ingest.readers.jsonrecords import normalise_date, parse_date, read_json, read_jsonl
from bot.ingest.readers.listing import read_listing
from bot.types import IngestFailure, Paper, ReadResult, title_id

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "readers"
SEED_CANDIDATES = (
    ROOT / "data" / "papers" / "trending_papers_jun6.txt",
    ROOT / "data" / "trending_papers_jun6.txt",
)
SEED_HEADER_LINES = (
    "new",
    "Get trending papers in your email inbox!",
    "Subscribe",
    "byAK and the research community",
    "Jun 6",
)

LONG_ABSTRACT = (
    "We revisit the classical problem of estimating a smooth density from noisy samples and "
    "show that a simple kernel estimator with a data-driven bandwidth attains the optimal rate "
    "over a broad family of Sobolev classes. Numerical experiments on synthetic and real data "
    "confirm the theory and show consistent gains over cross-validation."
)


@pytest.fixture(scope="module")
def seed_path() -> Path:
    for candidate in SEED_CANDIDATES:
        if candidate.is_file():
            return candidate
    pytest.fail(f"seed listing not found in any of {[str(c) for c in SEED_CANDIDATES]}")


@pytest.fixture(scope="module")
def seed(seed_path: Path) -> ReadResult:
    return read_file(seed_path)


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def only_failure(result: ReadResult) -> IngestFailure:
    assert result.papers == []
    assert len(result.failures) == 1, result.failures
    return result.failures[0]


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.txt", "listing"),
        ("notes/A.TXT", "listing"),
        ("list.md", "listing"),
        ("papers.json", "json"),
        ("papers.jsonl", "jsonl"),
        ("papers.ndjson", "jsonl"),
        ("paper.docx", None),
        ("paper.xyz", None),
        ("README", None),
        ("archive.tar.gz", None),
    ],
)
def test_detect_format(name: str, expected: str | None) -> None:
    assert detect_format(Path(name)) == expected


def test_registry_has_builtin_readers() -> None:
    assert {"listing", "json", "jsonl"} <= set(READERS)
    assert READERS["listing"].suffixes == (".txt", ".md")
    assert READERS["jsonl"].suffixes == (".jsonl", ".ndjson")


def test_unsupported_message_lists_supported_suffixes() -> None:
    message = unsupported_message(Path("x/paper.xyz"))
    assert message.startswith("unsupported file type '.xyz' (supported: ")
    for part in (".txt/.md listing", ".json", ".jsonl/.ndjson"):
        assert part in message


def test_register_reader_plugs_in_new_format(tmp_path: Path) -> None:
    def read_tsv(path: Path, text: str) -> ReadResult:
        result = ReadResult()
        for number, line in enumerate(text.splitlines(), start=1):
            title, abstract = line.split("\t")
            result.papers.append(
                Paper(id=title_id(title), title=title, abstract=abstract, source=f"{path}:{number}")
            )
        return result

    def read_broken(path: Path, text: str) -> ReadResult:
        raise ReaderError("header row missing", line=1)

    try:
        reader = register_reader("tabbed", ["TABBED", ".tabs"], read_tsv)
        assert reader.suffixes == (".tabbed", ".tabs")
        file = write(tmp_path / "list.tabbed", f"A Title Here\t{LONG_ABSTRACT}\n")
        assert detect_format(file) == "tabbed"
        assert [p.title for p in read_file(file).papers] == ["A Title Here"]
        assert "tabbed" in unsupported_message(Path("a.xyz"))

        register_reader("tabbed", [".tabbed"], read_broken)  # same name: replaced
        failure = only_failure(read_file(file))
        assert (failure.path, failure.line, failure.error) == (str(file), 1, "header row missing")

        with pytest.raises(ValueError, match="already read by format 'json'"):
            register_reader("other-json", [".json"], read_tsv)
    finally:
        READERS.pop("tabbed", None)
        READERS.pop("other-json", None)
    assert detect_format(Path("list.tabbed")) is None


def test_format_override_and_unknown_format(tmp_path: Path) -> None:
    file = tmp_path / "export.xyz"
    shutil.copy(FIXTURES / "good.jsonl", file)
    assert "unsupported file type '.xyz'" in only_failure(read_file(file)).error
    assert len(read_file(file, fmt="jsonl").papers) == 3
    assert len(read_file(file, fmt="ndjson").papers) == 3  # a suffix names its format too
    failure = only_failure(read_file(file, fmt="docbook"))
    assert failure.error.startswith("unknown format 'docbook' (known formats: arxiv, bibtex, csv")


# --------------------------------------------------------------------------- common checks


def test_missing_file_is_a_failure(tmp_path: Path) -> None:
    failure = only_failure(read_file(tmp_path / "nope.jsonl"))
    assert failure == IngestFailure(str(tmp_path / "nope.jsonl"), None, "file not found")


@pytest.mark.parametrize("name", ["empty.txt"])
def test_empty_fixture(name: str) -> None:
    path = FIXTURES / name
    assert path.stat().st_size == 0
    assert only_failure(read_file(path)) == IngestFailure(str(path), None, "file is empty")


@pytest.mark.parametrize("content", [b"", b"   \n\t\n", b"\r\n\r\n", b"\xef\xbb\xbf\n"])
@pytest.mark.parametrize("suffix", [".txt", ".json", ".jsonl"])
def test_empty_or_blank_file(tmp_path: Path, content: bytes, suffix: str) -> None:
    path = tmp_path / f"blank{suffix}"
    path.write_bytes(content)
    assert only_failure(read_file(path)).error == "file is empty"


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "figure.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    failure = only_failure(read_file(path))
    assert failure == IngestFailure(str(path), None, "binary file, not text")


def test_latin1_file_is_reported_with_byte_and_offset(tmp_path: Path) -> None:
    text = f"Title Line Here\n\nWe study the caf\u00e9 effect. {LONG_ABSTRACT}\n"
    path = tmp_path / "latin1.txt"
    data = text.encode("latin-1")
    path.write_bytes(data)
    offset = data.index(b"\xe9")
    failure = only_failure(read_file(path))
    assert failure.error == f"not valid UTF-8 text (byte 0xe9 at offset {offset})"
    assert failure.line == 3


def test_utf16_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "utf16.txt"
    path.write_bytes(f"A Title\n\n{LONG_ABSTRACT}\n".encode("utf-16"))
    error = only_failure(read_file(path)).error
    assert error.startswith("not valid UTF-8 text (byte 0x")
    assert "UTF-16" in error


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    record = {"id": "2401.09999", "title": "Bommed Record Title", "abstract": LONG_ABSTRACT}
    for name in ("bom.jsonl", "bom.json"):
        path = tmp_path / name
        path.write_bytes(b"\xef\xbb\xbf" + json.dumps(record).encode("utf-8") + b"\n")
        result = read_file(path)
        assert result.failures == []
        assert [p.id for p in result.papers] == ["2401.09999"]
    listing = tmp_path / "bom.txt"
    listing.write_bytes(b"\xef\xbb\xbf" + f"Bommed Listing Title\n\n{LONG_ABSTRACT}".encode())
    assert [p.title for p in read_file(listing).papers] == ["Bommed Listing Title"]


def test_directory_passed_as_file(tmp_path: Path) -> None:
    folder = tmp_path / "looks_like.json"
    folder.mkdir()
    assert only_failure(read_file(folder)).error == "is a directory, not a file"


# --------------------------------------------------------------------------- listing: seed


def test_seed_listing_has_exactly_54_papers(seed: ReadResult) -> None:
    assert seed.failures == []
    assert len(seed.papers) == 54
    titles = [p.title for p in seed.papers]
    assert titles[0] == (
        "Beyond the Mean: Limit Theory and Tests for Infinite-Mean Autoregressive "
        "Conditional Durations"
    )
    assert titles[-1] == "On the Provable Advantage of Unsupervised Pretraining"
    assert "Grokking as the Transition from Lazy to Rich Training Dynamics" in titles
    assert "Light Schrödinger Bridge" in titles
    assert len(set(titles)) == 54


def test_seed_header_noise_is_not_a_paper(seed: ReadResult) -> None:
    titles = {p.title for p in seed.papers}
    for header in SEED_HEADER_LINES:
        assert header not in titles
        assert all(header != p.abstract for p in seed.papers)


def test_seed_abstracts_are_verbatim_and_sources_point_at_titles(
    seed: ReadResult, seed_path: Path
) -> None:
    text = seed_path.read_text(encoding="utf-8")
    lines = text.split("\n")
    for paper in seed.papers:
        assert paper.abstract in text
        assert paper.abstract == paper.abstract.strip()
        assert len(paper.abstract.split()) >= 30
        assert paper.id == title_id(paper.title)
        assert paper.published is None  # "Jun 6" has no year: none is invented
        assert paper.authors == [] and paper.url is None
        source_path, _, line = paper.source.rpartition(":")
        assert source_path == str(seed_path)
        assert lines[int(line) - 1].strip() == paper.title
    first = seed.papers[0]
    assert first.source == f"{seed_path}:11"
    assert first.abstract.startswith("Integrated autoregressive conditional duration (ACD)")
    assert first.abstract.endswith("for four out of the five cryptocurrencies considered.")


# --------------------------------------------------------------------------- listing: others


def test_wrapped_listing_fixture() -> None:
    path = FIXTURES / "listing_wrapped.txt"
    abstracts = json.loads(FIXTURES.joinpath("good.jsonl").read_text().split("\n")[0])
    result = read_file(path)
    titles = [p.title for p in result.papers]
    assert titles == [
        "Sparse Mixture-of-Experts Routing with Load-Aware Token Dropping",
        "Calibrated Uncertainty for Retrieval-Augmented Question Answering",
        "A Note on the Convergence of Adam under Heavy-Tailed Gradient Noise",
    ]
    # the wrapped abstract is joined back into the original single-line text
    assert result.papers[0].abstract == abstracts["abstract"]
    assert "\n" not in result.papers[1].abstract
    # the last abstract has no trailing newline and is still complete
    assert result.papers[2].abstract.endswith(
        "clipping stabilises training in the heavy-tailed regime."
    )
    # an unambiguous ISO date in the header becomes `published`
    assert {p.published for p in result.papers} == {"2024-06-06"}
    assert [p.source for p in result.papers] == [f"{path}:11", f"{path}:26", f"{path}:40"]
    # the title with a 4-word "abstract" is reported; the header noise is not
    assert result.failures == [
        IngestFailure(
            str(path),
            22,
            "paper 'Towards Interpretable Reward Models for Dialogue' has no abstract "
            "(paragraph too short)",
        )
    ]


def test_crlf_listing_with_trailing_spaces_and_wrapped_lines(tmp_path: Path) -> None:
    lf = (
        "Daily Digest\n\nJun 6\n\n"
        "Wrapped Abstract Paper  \n\n"
        "We revisit the classical problem of estimating a smooth density from noisy samples   \n"
        "and show that a simple kernel estimator with a data-driven bandwidth attains the\n"
        "optimal rate over a broad family of Sobolev classes. Numerical experiments on\n"
        "synthetic and real data confirm the theory and show consistent gains over\n"
        "cross-validation.  \n"
        "   \n"
        "Second Paper: With a Colon\n"
        "\n"
        f"{LONG_ABSTRACT}"
    )
    crlf = read_file(write(tmp_path / "crlf.txt", lf, newline="\r\n"))
    plain = read_file(write(tmp_path / "lf.txt", lf))
    assert crlf.failures == [] and plain.failures == []
    assert [(p.title, p.abstract) for p in crlf.papers] == [
        ("Wrapped Abstract Paper", LONG_ABSTRACT),
        ("Second Paper: With a Colon", LONG_ABSTRACT),
    ]
    assert [(p.title, p.abstract) for p in plain.papers] == [
        (p.title, p.abstract) for p in crlf.papers
    ]
    assert [p.source.rsplit(":", 1)[1] for p in crlf.papers] == ["5", "13"]
    assert all("\r" not in p.abstract for p in crlf.papers)


def test_listing_of_only_header_noise_reports_no_papers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "noise.txt",
        "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\n"
        "byAK and the research community\n\nJun 6\n",
    )
    failure = only_failure(read_file(path))
    assert failure.line is None
    assert failure.error.startswith("no papers found")


def test_listing_reports_lost_papers_in_the_body_only(tmp_path: Path) -> None:
    text = (
        "Terms and Conditions Apply\n\nUpdated daily, curated by volunteers!\n\n"  # header
        f"First Real Paper Title\n\n{LONG_ABSTRACT}\n\n"
        "Orphan Title Without Abstract\n\n"  # line 9: followed by another title
        f"Second Real Paper Title\n\n{LONG_ABSTRACT} Extra sentence here.\n\n"
        f"{LONG_ABSTRACT} A paragraph with no title.\n\n"  # line 15
        f"Third Real Paper Title\n\n{LONG_ABSTRACT} Third.\n\n"
        "Privacy Policy\n\nContact Us\n"  # footer
    )
    result = read_listing(Path("body.txt"), text)
    assert [p.title for p in result.papers] == [
        "First Real Paper Title",
        "Second Real Paper Title",
        "Third Real Paper Title",
    ]
    assert [(f.line, f.error) for f in result.failures] == [
        (9, "paper 'Orphan Title Without Abstract' has no abstract"),
        (15, "paragraph without a title line before it (title missing or too long?)"),
    ]


def test_listing_short_abstract_reported_even_before_the_first_paper(tmp_path: Path) -> None:
    text = (
        "Subscribe\n\n"
        "A Tiny Paper on Big Models\n\nWe scale things up.\n\n"
        f"A Proper Paper on Small Models\n\n{LONG_ABSTRACT}\n"
    )
    result = read_listing(Path("x.txt"), text)
    assert [p.title for p in result.papers] == ["A Proper Paper on Small Models"]
    assert [(f.line, f.error) for f in result.failures] == [
        (3, "paper 'A Tiny Paper on Big Models' has no abstract (paragraph too short)")
    ]


@pytest.mark.parametrize(
    ("title", "accepted"),
    [
        ("Attention Is All You Need", True),
        ("How Powerful are Shallow Networks?", True),
        ("Scaling Laws Revisited, by Smith et al.", True),
        ("Lessons From the U.S.", True),
        ("This line is a sentence, not a title.", False),
        ("Related papers:", False),
        ("Grokking", False),  # a single word is too little to tell a title from noise
        ("June 6, 2024", False),
        ("https://example.org/paper", False),
        ("x" * 301 + " y", False),
    ],
)
def test_listing_title_rule(title: str, accepted: bool) -> None:
    result = read_listing(Path("t.txt"), f"{title}\n\n{LONG_ABSTRACT}\n")
    assert [p.title for p in result.papers] == ([title] if accepted else [])


@pytest.mark.parametrize(
    ("header", "published"),
    [
        ("2024-06-06", "2024-06-06"),
        ("June 6, 2024", "2024-06-06"),
        ("Thu, 6 Jun 2024", "2024-06-06"),
        ("Jun 6", None),  # no year: not guessed
        ("06/07/2024", None),  # day/month order unknown
        ("2024-06-06\n\nJun 7, 2024", None),  # two different dates: ambiguous
    ],
)
def test_listing_header_date(header: str, published: str | None) -> None:
    result = read_listing(Path("d.txt"), f"{header}\n\nSome Paper Title\n\n{LONG_ABSTRACT}")
    assert [p.published for p in result.papers] == [published]
    assert result.failures == []


def test_markdown_listing_headings_are_stripped() -> None:
    result = read_file(FIXTURES / "mixed_dir" / "sub" / "list.md")
    assert result.failures == []
    assert [p.title for p in result.papers] == [
        "Quantum Error Mitigation with Learned Noise Models"
    ]
    assert result.papers[0].abstract.startswith("Near-term quantum processors are too noisy")
    assert result.papers[0].abstract.endswith("at a comparable sampling overhead.")


def test_listing_duplicate_titles_keep_the_last(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dup.txt",
        f"Same Title Twice\n\n{LONG_ABSTRACT}\n\nSame  title twice\n\n{LONG_ABSTRACT} Revised.\n",
    )
    result = read_file(path)
    assert len(result.papers) == 1
    assert result.papers[0].abstract.endswith("Revised.")
    assert result.papers[0].source == f"{path}:5"


# --------------------------------------------------------------------------- JSON Lines


def test_good_jsonl() -> None:
    path = FIXTURES / "good.jsonl"
    result = read_file(path)
    assert result.failures == []
    first, second, third = result.papers

    assert first.id == "2406.01234"
    assert first.url == "https://arxiv.org/abs/2406.01234"
    assert first.authors == ["Mira Okafor", "Jonas Lindqvist"]
    assert first.published == "2024-06-03"
    assert first.categories == ["cs.LG", "stat.ML"]
    assert first.source == f"{path}:1"

    assert second.id == "2405.17720"  # from paper_id, version dropped as by the other readers
    assert second.abstract.startswith("Retrieval-augmented generation systems")  # from summary
    assert second.authors == ["Priya Raman", "Tomás Herrera"]
    assert second.published == "2024-05"
    assert second.url == "https://arxiv.org/pdf/2405.17720v2"  # an explicit link wins

    assert third.id == "42"  # numbers become strings
    assert third.authors == ["Wei Zhang", "Laura Becker", "Samuel Osei"]
    assert third.published == "2023"
    assert third.categories == ["cs.LG", "math.OC"]
    assert third.url is None
    assert third.source == f"{path}:3"


def test_malformed_line_is_reported_and_other_lines_read() -> None:
    path = FIXTURES / "malformed.jsonl"
    result = read_file(path)
    assert [p.id for p in result.papers] == ["2401.00101", "2401.00102", "2401.00104"]
    assert [p.source for p in result.papers][-1] == f"{path}:5"
    (failure,) = result.failures
    assert failure.path == str(path)
    assert failure.line == 3
    assert failure.error.startswith("invalid JSON: ")


def test_incomplete_records_are_reported() -> None:
    path = FIXTURES / "incomplete.jsonl"
    result = read_file(path)
    assert [p.id for p in result.papers] == ["2402.00201", "2402.00206"]
    assert [(f.line, f.error) for f in result.failures] == [
        (2, "record has no 'abstract'"),
        (3, "record has no 'title'"),
        (4, "record has no 'abstract'"),
        (5, "record is not a JSON object (got array)"),
    ]
    assert all(f.path == str(path) for f in result.failures)


def test_arxiv_snapshot_records() -> None:
    path = FIXTURES / "arxiv_snapshot.jsonl"
    result = read_file(path)
    assert result.failures == []
    first, second, third = result.papers

    assert first.id == "2103.04512"
    assert first.title == "Robust Estimation of Heavy-Tailed Covariance Matrices in High Dimensions"
    assert first.abstract.startswith("We study the estimation of a covariance matrix")
    assert "\n" not in first.abstract and "  " not in first.abstract
    assert "samples whose distribution has only" in first.abstract
    assert first.abstract.endswith("illustrate the gains over shrinkage estimators.")
    assert first.authors == ["Hannah Voss", "Karim El-Amin", "Na Li"]  # from authors_parsed
    assert first.categories == ["math.ST", "stat.ML", "stat.TH"]
    assert first.published == "2021-03-08"  # first version, not the later update_date
    assert first.url == "https://arxiv.org/abs/2103.04512"  # arXiv abs page preferred to DOI

    assert second.id == "math/0601017"  # old-style identifier
    assert second.title == "On the Rigidity of Rational Curves on Fano Threefolds"
    assert second.url == "https://arxiv.org/abs/math/0601017"
    assert second.authors == ["P. Duval"]
    assert second.published == "2006-01-01"

    # empty authors_parsed: the authors string is split instead
    assert third.authors == ["Ana Ruiz", "Ben Carter"]
    assert third.categories == ["cs.LG", "math.DS"]


def test_jsonl_blank_and_non_object_lines(tmp_path: Path) -> None:
    record = {"id": 7, "title": "T One Two", "abstract": LONG_ABSTRACT}
    path = write(tmp_path / "x.jsonl", f"\n{json.dumps(record)}\n\n   \n42\nnull\n")
    result = read_file(path)
    assert [p.id for p in result.papers] == ["7"]
    assert result.papers[0].source == f"{path}:2"
    assert [(f.line, f.error) for f in result.failures] == [
        (5, "record is not a JSON object (got number)"),
        (6, "record is not a JSON object (got null)"),
    ]


def test_jsonl_with_crlf_and_unicode_line_separator(tmp_path: Path) -> None:
    record = {"title": "Line\u2028Separator Title", "abstract": LONG_ABSTRACT}
    raw = json.dumps(record, ensure_ascii=False) + "\r\n" + json.dumps(record) + "\r\n"
    path = tmp_path / "u.jsonl"
    path.write_bytes(raw.encode("utf-8"))
    result = read_file(path)
    assert result.failures == []
    assert [p.title for p in result.papers] == ["Line Separator Title"]  # same id: one kept


def test_duplicate_ids_in_one_file_keep_the_last(tmp_path: Path) -> None:
    rows = [
        {"id": "2401.1", "title": "First Version", "abstract": LONG_ABSTRACT},
        {"id": "2401.2", "title": "Other Paper", "abstract": LONG_ABSTRACT},
        {"id": "2401.1", "title": "Second Version", "abstract": LONG_ABSTRACT},
    ]
    path = write(tmp_path / "dup.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    result = read_file(path)
    assert result.failures == []
    assert [(p.id, p.title) for p in result.papers] == [
        ("2401.1", "Second Version"),
        ("2401.2", "Other Paper"),
    ]
    assert result.papers[0].source == f"{path}:3"


# --------------------------------------------------------------------------- JSON


def test_json_list_with_record_line_numbers() -> None:
    path = FIXTURES / "papers.json"
    lines = path.read_text(encoding="utf-8").split("\n")
    result = read_file(path)
    assert [p.id for p in result.papers] == ["2310.11111", "2310.33333"]
    first, third = result.papers
    assert first.published == "2023-10-17"
    assert first.url == "https://arxiv.org/abs/2310.11111"
    assert third.published == "2023-10"
    assert third.categories == ["math.CO"]
    (failure,) = result.failures
    assert failure.error == "record has no 'title'"
    # lines point at the opening brace of each record
    for line in [
        int(first.source.rsplit(":", 1)[1]),
        failure.line,
        int(third.source.rsplit(":", 1)[1]),
    ]:
        assert lines[line - 1].strip() == "{"
    assert failure.line == 13


def test_json_object_with_papers_list() -> None:
    path = FIXTURES / "wrapped.json"
    result = read_file(path)
    assert result.failures == []
    quantum, lora = result.papers
    assert quantum.id == "2402.05555"  # from arxiv_id
    assert quantum.url == "https://arxiv.org/abs/2402.05555"
    assert quantum.published == "2024-02-08"
    assert lora.id == "doi-paper"
    assert lora.url == "https://doi.org/10.5555/12345678"
    text = path.read_text(encoding="utf-8").split("\n")
    for paper in result.papers:
        assert text[int(paper.source.rsplit(":", 1)[1]) - 1].strip() == "{"


@pytest.mark.parametrize("key", ["papers", "records", "items", "data"])
def test_json_record_list_keys(tmp_path: Path, key: str) -> None:
    doc = {"meta": {"n": 1}, key: [{"title": "Keyed Paper Title", "abstract": LONG_ABSTRACT}]}
    result = read_file(write(tmp_path / "k.json", json.dumps(doc, indent=1)))
    assert [p.title for p in result.papers] == ["Keyed Paper Title"]
    assert result.papers[0].id == title_id("Keyed Paper Title")


def test_json_single_record_and_bad_shapes(tmp_path: Path) -> None:
    single = {"title": "Lonely Paper Title", "abstract": LONG_ABSTRACT}
    result = read_file(write(tmp_path / "one.json", "\n\n" + json.dumps(single)))
    assert [p.source for p in result.papers] == [f"{tmp_path / 'one.json'}:3"]

    failure = only_failure(read_file(write(tmp_path / "meta.json", '{"version": 2}')))
    assert failure.error.startswith("no records found")
    failure = only_failure(read_file(write(tmp_path / "str.json", '"just a string"')))
    assert failure.error == "no records found: expected a list of objects, got a JSON string"
    failure = only_failure(read_file(write(tmp_path / "none.json", "[]")))
    assert failure.error == "no papers found (json format)"


def test_invalid_json_document(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", '[\n  {"title": "A", "abstract": "B"},\n  {"title": }\n]\n')
    failure = only_failure(read_file(path))
    assert failure.line == 3
    assert failure.error.startswith("invalid JSON: Expecting value at line 3 column")


def test_json_file_holding_json_lines_is_read_as_such(tmp_path: Path) -> None:
    """The arXiv snapshot is named .json but is JSON Lines."""
    path = tmp_path / "arxiv-metadata-oai-snapshot.json"
    shutil.copy(FIXTURES / "arxiv_snapshot.jsonl", path)
    result = read_file(path)
    assert result.failures == []
    assert [p.id for p in result.papers] == ["2103.04512", "math/0601017", "1911.00731"]
    assert result.papers[1].source == f"{path}:2"


def test_reader_functions_directly() -> None:
    rec = {"id": "1", "title": "Direct Call Title", "abstract": LONG_ABSTRACT}
    assert len(read_jsonl(Path("d.jsonl"), json.dumps(rec)).papers) == 1
    assert len(read_json(Path("d.json"), json.dumps([rec])).papers) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-06-06", "2024-06-06"),
        ("2024-06-06T17:59:59Z", "2024-06-06"),
        ("2024-6-6", "2024-06-06"),
        ("2024/06/06", "2024-06-06"),
        ("2024-06", "2024-06"),
        ("2024", "2024"),
        (2024, "2024"),
        ("June 6, 2024", "2024-06-06"),
        ("6 Jun 2024", "2024-06-06"),
        ("Mon, 2 Apr 2007 19:18:42 GMT", "2007-04-02"),
        ("Sept 2021", "2021-09"),
        ("2024-02-30", "2024-02-30"),  # not a real date: kept as given
        ("spring 2024", "spring 2024"),
        ("  ", None),
        (None, None),
        (["2024"], None),
    ],
)
def test_normalise_date(value: object, expected: str | None) -> None:
    assert normalise_date(value) == expected


def test_parse_date_rejects_yearless_and_ambiguous() -> None:
    assert parse_date("Jun 6") is None
    assert parse_date("06/07/2024") is None


# --------------------------------------------------------------------------- input files


def test_iter_input_files_expands_directories() -> None:
    folder = FIXTURES / "mixed_dir"
    files, failures = iter_input_files([folder])
    assert files == [folder / "a.jsonl", folder / "b.json", folder / "sub" / "list.md"]
    assert failures == [
        IngestFailure(
            str(folder / "notes.xyz"),
            None,
            unsupported_message(folder / "notes.xyz"),
        )
    ]
    papers = [p for f in files for p in read_file(f).papers]
    assert len(papers) == 3


def test_iter_input_files_hidden_missing_explicit_and_duplicates(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "mixed_dir", tmp_path / "in")
    (tmp_path / "in" / ".hidden.jsonl").write_text("{}\n")
    (tmp_path / "in" / ".git").mkdir()
    (tmp_path / "in" / ".git" / "config.json").write_text("{}\n")
    (tmp_path / "in" / "report.docx").write_bytes(b"PK\x03\x04")
    explicit = tmp_path / "in" / "notes.xyz"

    files, failures = iter_input_files(
        [tmp_path / "in", explicit, tmp_path / "in" / "a.jsonl", tmp_path / "missing.json"]
    )
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "in/a.jsonl",
        "in/b.json",
        "in/sub/list.md",
        "in/notes.xyz",  # named explicitly: kept (a --format may apply)
    ]
    assert [(Path(f.path).name, f.error.split(" (")[0]) for f in failures] == [
        ("notes.xyz", "unsupported file type '.xyz'"),
        ("report.docx", "unsupported file type '.docx'"),
        ("missing.json", "no such file or directory"),
    ]
    assert "unsupported file type '.xyz'" in only_failure(read_file(explicit)).error
