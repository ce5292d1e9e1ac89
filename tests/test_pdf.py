"""PDF full text: the reader on real PDF files (tests/fixtures/pdf, made by
tests/fixtures/make_pdfs.py), page numbers through chunks and citations, bad PDFs reported and
skipped, CLI and HTTP ingest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.api import PaperBot
from bot.index.embeddings import LocalEmbedder
from bot.ingest.readers import detect_format, read_file
from bot.text.sentences import split_sentences
from bot.types import Paper
from tests.conftest import ROOT, cli_env, make_settings

PDFS = ROOT / "tests" / "fixtures" / "pdf"
ADAPTERS = PDFS / "adapters_2406.04321.pdf"
TITLE = "Sparse Mixture-of-Adapters for Low-Resource Speech Recognition"


def _page_of(paper: Paper, words: str) -> int | None:
    text = paper.text
    for s in split_sentences(text):
        if words in s.text:
            return paper.page_at(s.start)
    raise AssertionError(f"no sentence with {words!r}")


def test_arxiv_style_pdf_gives_title_ids_abstract_and_pages() -> None:
    assert detect_format(ADAPTERS) == "pdf"
    result = read_file(ADAPTERS)
    assert result.failures == []
    [paper] = result.papers
    assert paper.id == "2406.04321"  # from the arXiv stamp, version dropped
    assert paper.url == "https://arxiv.org/abs/2406.04321"
    assert paper.published == "2024-06-06"
    assert paper.title == TITLE
    assert paper.authors == ["Maria Garcia", "Wei Zhang", "Amina Okafor"]
    assert paper.abstract.startswith("Fine-tuning large speech encoders for languages")
    assert paper.abstract.endswith("is what makes the mixture stable.")
    assert "Introduction" not in paper.abstract

    body = paper.body
    assert body.startswith("1 Introduction\n\nSpeech recognition")
    assert "low-resource recognition of tonal languages" in body  # "recog-/nition" rejoined
    assert "Preprint. Under review." not in body  # running header
    assert "Outrageously large neural networks" not in body  # the reference list
    assert "Table 3 lists the word error rate" in body  # the appendix after it is kept
    assert "\n\n2 Method\n\n" in body and "\n\n3 Results\n\n" in body

    assert paper.n_pages == 3
    assert _page_of(paper, "Ablations show that routing by utterance") == 1
    assert _page_of(paper, "We show that a sparse mixture of adapters") == 1
    assert _page_of(paper, "Each transformer block receives sixteen adapters") == 2
    # a paragraph running over the page break keeps each part's page
    assert _page_of(paper, "We found that without this loss") == 2
    assert paper.page_at(paper.text.index("epoch, and the remaining adapters")) == 3
    assert _page_of(paper, "SMoA reaches an average word error rate of 21.3%") == 3


def test_pdf_without_metadata_or_abstract_heading() -> None:
    [paper] = read_file(PDFS / "no_metadata_title.pdf").papers
    assert paper.title == "Tidal Forcing of Coastal Fog Frequency"  # the largest font
    assert paper.id.startswith("t-") and paper.url is None
    assert paper.abstract.startswith("Coastal fog affects aviation")  # no "J. Rivera" line
    assert paper.body.startswith("1 Data\n\nVisibility was recorded hourly")
    # an owner-password-only PDF opens without a password and reads the same
    [same] = read_file(PDFS / "encrypted_owner_only.pdf").papers
    assert (same.title, same.abstract, same.body) == (paper.title, paper.abstract, paper.body)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("encrypted_password.pdf", "encrypted PDF: a password is needed to read it; skipped"),
        ("scanned.pdf", "no text layer in this PDF (1 page(s), 0 characters of text)"),
        ("broken.pdf", "broken PDF: "),
    ],
)
def test_bad_pdfs_are_reported_by_file(name: str, message: str) -> None:
    result = read_file(PDFS / name)
    assert result.papers == []
    [failure] = result.failures
    assert failure.path == str(PDFS / name)
    assert failure.error.startswith(message)


def test_truncated_pdf_is_reported_not_raised(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(ADAPTERS.read_bytes()[:1500])
    result = read_file(cut)
    assert result.papers == [] and len(result.failures) == 1
    assert result.failures[0].path == str(cut)


def test_full_text_ingest_search_and_cited_page(tmp_path: Path, embedder: LocalEmbedder) -> None:
    bot = PaperBot(make_settings(tmp_path), embedder=embedder, llm=None)
    # the metadata record of the same arXiv paper first: the PDF then replaces it (same id)
    bot.add_papers(
        [
            Paper(
                id="2406.04321",
                title=TITLE,
                abstract="Fine-tuning large speech encoders for languages with under ten hours "
                "of transcribed audio remains brittle. We introduce SMoA.",
            )
        ]
    )
    report = bot.ingest([PDFS])
    assert (report.added, report.updated, report.merged + report.unchanged) == (1, 1, 1)
    assert sorted(Path(f.path).name for f in report.failed) == [
        "broken.pdf",
        "encrypted_password.pdf",
        "scanned.pdf",
    ]
    assert bot.store.count_papers() == 2
    stored = bot.paper("2406.04321")
    assert stored.body and stored.pages == read_file(ADAPTERS).papers[0].pages
    chunks = bot.store.chunks_of(["2406.04321"])["2406.04321"]
    assert {c.metadata["page"] for c in chunks} == {1, 2, 3}
    assert not any("Outrageously" in c.text for c in chunks)
    # no chunk runs from the abstract into the body
    assert not any("stable." in c.text and "Introduction" in c.text for c in chunks)

    hits = bot.search("how is the router kept from sending all utterances to two adapters", k=2)
    assert hits[0].paper.id == "2406.04321"
    answer = bot.ask("How is the adapter router trained to balance the load?")
    assert not answer.abstained
    cited = [c for c in answer.citations if c.paper_id == "2406.04321"]
    assert cited and all(c.page in {1, 2, 3} for c in cited)
    assert any(c.page == 2 and "load-balancing loss" in c.quote for c in cited)
    for c in cited:
        assert stored.text[c.start : c.end] == c.quote
        assert stored.page_at(c.start) == c.page
    # re-ingesting the same PDFs costs no embedding; each readable PDF is counted (the
    # owner-password one is the same paper as no_metadata_title.pdf: one record)
    again = bot.ingest([PDFS])
    assert (again.added, again.updated, again.merged, again.unchanged) == (0, 0, 0, 3)
    assert again.chunks_written == 0


def test_pdf_from_the_cli(tmp_path: Path) -> None:
    paperbot = str(Path(sys.executable).with_name("paperbot"))
    env = cli_env(tmp_path / "home")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [paperbot, *args], capture_output=True, text=True, env=env, timeout=600
        )

    r = run("ingest", str(ADAPTERS), str(PDFS / "scanned.pdf"), "--json")
    assert r.returncode == 1, r.stderr  # something failed; the rest is ingested
    data = json.loads(r.stdout)
    assert data["added"] == 1
    assert [(Path(f["path"]).name, f["error"][:16]) for f in data["failed"]] == [
        ("scanned.pdf", "no text layer in")
    ]
    r = run("ask", "What does the router use to balance adapters?")
    assert r.returncode == 0, r.stderr
    assert "(2406.04321, p. 2)" in r.stdout
    r = run("papers", "--json")
    [listed] = json.loads(r.stdout)["papers"]
    assert listed["full_text"] is True and listed["n_pages"] == 3 and "body" not in listed


@pytest.mark.server
def test_pdf_upload_over_http(tmp_path: Path) -> None:
    from tests.test_server_api import start_server, stop_server

    server = start_server(tmp_path / "home", tmp_path / "server.log")
    try:
        with server.client() as client:
            added = client.post(
                "/api/ingest",
                files={"file": (ADAPTERS.name, ADAPTERS.read_bytes(), "application/pdf")},
            )
            assert added.status_code == 200, added.text
            assert added.json()["added"] == 1
            paper = client.get("/api/papers/2406.04321").json()
            assert paper["title"] == TITLE and paper["text"].startswith(paper["abstract"])
            answer = client.post(
                "/api/ask", json={"question": "How is the adapter router trained?"}
            ).json()
            assert any(c["page"] == 2 for c in answer["citations"])
            locked = client.post(
                "/api/ingest",
                files={
                    "file": (
                        "locked.pdf",
                        (PDFS / "encrypted_password.pdf").read_bytes(),
                        "application/pdf",
                    )
                },
            )
            assert locked.status_code == 422
            assert locked.json()["failed"][0]["path"] == "locked.pdf"
            assert "password" in locked.json()["failed"][0]["error"]
    except httpx.HTTPError:
        print(server.log.read_text()[-3000:])
        raise
    finally:
        stop_server(server)


def test_abstract_heading_is_not_a_sentence_starting_with_abstract() -> None:
    """'Abstract Syntax Notation' in a title or mid-paragraph is not the abstract heading;
    'Abstract' alone, 'Abstract.'/'Abstract—' with text, and 'Abstract We...' after a
    sentence end are; table-of-contents dot leaders are dropped."""
    from bot.ingest.readers.pdf import _clean_lines, _split_abstract

    words = "We study a problem and propose a method that works well in practice " * 3
    title = "Abstract Syntax Notation One for Everyone"
    pages = [
        f"{title}\n1 Overview . . . . . . . . . . . 3\nThis manual describes a library for\n"
        f"Abstract Syntax Notation One and its encodings, and more text.\n1 Introduction\n{words}"
    ]
    abstract, _, rest = _split_abstract(_clean_lines(pages), title)
    assert abstract == "" and not any(". . ." in line.text for line in rest)
    for head in ("Abstract", "Abstract.", "ABSTRACT\u2014", "Abstract:"):
        sep = "\n" if head == "Abstract" else " "
        lines = _clean_lines(
            [f"A Title Here\nBy Someone.\n{head}{sep}{words}\n1 Introduction\nText."]
        )
        assert _split_abstract(lines, "A Title Here")[0].startswith("We study a problem"), head
    lines = _clean_lines([f"A Title Here\nBy Someone.\nAbstract {words}\n1 Introduction\nText."])
    assert _split_abstract(lines, "A Title Here")[0].startswith("We study")
