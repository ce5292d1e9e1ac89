"""arXiv Atom, BibTeX and CSV/TSV readers: exact papers and failures from real fixture files
(tests/fixtures/formats/), then each format end to end through the CLI and the HTTP API."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from bot.api import PaperBot
from bot.cli.main import app as cli_app
from bot.index.embeddings import LocalEmbedder
from bot.ingest.readers import READERS, detect_format, read_file, unsupported_message
from bot.ingest.readers.bibtex import parse_bibtex
from bot.ingest.readers.names import split_name_list
from bot.server.app import create_app
from bot.text.latex import clean_latex, latex_to_text
from bot.types import Paper, ReadResult, title_id
from tests.conftest import free_port, make_settings

FORMATS = Path(__file__).resolve().parent / "fixtures" / "formats"


def fixture(name: str) -> Path:
    return FORMATS / name


def failures(result: ReadResult) -> list[tuple[str, int | None, str]]:
    return [(Path(f.path).name, f.line, f.error) for f in result.failures]


def summary(paper: Paper) -> tuple[object, ...]:
    return (paper.id, paper.title, paper.authors, paper.published, paper.url, paper.categories)


# --------------------------------------------------------------------------- registry


def test_new_formats_are_registered_by_suffix() -> None:
    expected = {
        "feed.xml": "arxiv",
        "feed.ATOM": "arxiv",
        "refs.bib": "bibtex",
        "table.csv": "csv",
        "table.tsv": "tsv",
        "table.tab": "tsv",
    }
    assert {name: detect_format(Path(name)) for name in expected} == expected
    assert READERS["bibtex"].suffixes == (".bib",)
    message = unsupported_message(Path("notes.xyz"))
    for described in (".xml/.atom arxiv", ".bib bibtex", ".csv", ".tsv/.tab"):
        assert described in message


def test_format_override_reads_any_suffix(tmp_path: Path) -> None:
    bib = shutil.copy(fixture("papers.bib"), tmp_path / "refs.txt")
    feed = shutil.copy(fixture("arxiv_query.xml"), tmp_path / "query_result")
    tsv = shutil.copy(fixture("papers.tsv"), tmp_path / "export.dat")
    assert len(read_file(Path(bib), fmt="bibtex").papers) == 5
    assert len(read_file(Path(feed), fmt="atom").papers) == 4  # a suffix names its format too
    assert len(read_file(Path(tsv), fmt="tsv").papers) == 3


# --------------------------------------------------------------------------- arXiv Atom


def test_arxiv_feed_gives_exact_papers() -> None:
    path = fixture("arxiv_query.xml")
    result = read_file(path)
    assert result.failures == []
    assert [summary(p) for p in result.papers] == [
        (
            "2106.09685",
            "LoRA: Low-Rank Adaptation of Large Language Models",
            ["Edward J. Hu", "Yelong Shen", "Phillip Wallis"],
            "2021-06-17",
            "http://arxiv.org/abs/2106.09685v2",
            ["cs.CL", "cs.AI", "cs.LG"],
        ),
        (
            "hep-th/9711200",
            "The Large N Limit of Superconformal Field Theories and Supergravity",
            ["Juan M. Maldacena"],
            "1997-11-27",
            "http://arxiv.org/abs/hep-th/9711200v3",
            ["hep-th"],
        ),
        (
            "1312.6114",
            "Auto-Encoding Variational Bayes",
            ["Diederik P Kingma", "Max Welling"],
            "2013-12-20",
            "http://arxiv.org/abs/1312.6114v11",
            ["stat.ML", "cs.LG"],
        ),
        (
            "2405.04517",
            "xLSTM: Extended Long Short-Term Memory",
            ["Maximilian Beck", "Korbinian Pöppel", "Sepp Hochreiter"],
            "2024-05-07",
            "http://arxiv.org/abs/2405.04517v1",
            ["cs.LG", "cs.AI", "stat.ML"],
        ),
    ]
    assert [p.source for p in result.papers] == [f"{path}:{n}" for n in (10, 42, 62, 87)]
    lora = result.papers[0]
    assert lora.abstract.startswith(
        "An important paradigm of natural language processing consists of large-scale "
        "pre-training on general domain data and adaptation"
    )  # arXiv's hard wraps joined, the leading indentation gone
    assert "\n" not in lora.abstract and "  " not in lora.abstract
    assert lora.abstract.endswith("while performing on-par or better than fine-tuning.")


def test_arxiv_truncated_feed_is_one_failure_with_its_line() -> None:
    result = read_file(fixture("arxiv_truncated.xml"))
    assert result.papers == []
    assert failures(result) == [
        (
            "arxiv_truncated.xml",
            49,
            "malformed XML: no element found (line 49, column 23): the document ends before "
            "its elements are closed (truncated?)",
        )
    ]


def test_arxiv_entry_without_summary_is_reported_and_the_rest_ingest() -> None:
    result = read_file(fixture("arxiv_missing_summary.xml"))
    assert [(p.id, p.title) for p in result.papers] == [
        (
            "2305.18290",
            "Direct Preference Optimization: Your Language Model is Secretly a Reward Model",
        ),
        ("2201.11903", "Chain-of-Thought Prompting Elicits Reasoning in Large Language Models"),
    ]
    assert failures(result) == [
        ("arxiv_missing_summary.xml", 24, "entry 2 (id 2310.06825) has no <summary>")
    ]


def test_arxiv_error_feed_and_empty_feed() -> None:
    assert failures(read_file(fixture("arxiv_error.xml"))) == [
        ("arxiv_error.xml", 10, "arXiv API error: incorrect id format for 1234.12345")
    ]
    assert failures(read_file(fixture("arxiv_empty.xml"))) == [
        (
            "arxiv_empty.xml",
            None,
            "no papers found: the arXiv query returned 0 results (totalResults is 0)",
        )
    ]


def test_xml_with_entities_or_dtd_is_refused(tmp_path: Path) -> None:
    laughs = "\n".join(
        [
            '<?xml version="1.0"?>',
            "<!DOCTYPE lolz [",
            ' <!ENTITY lol "lol">',
            *(f' <!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)),
            "]>",
            '<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&lol9;</title></entry></feed>',
        ]
    ).replace("&lol0;", "&lol;")
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(laughs)
    started = time.perf_counter()
    result = read_file(bomb)
    assert time.perf_counter() - started < 5  # refused, not expanded
    assert result.papers == []
    assert [(f.line, f.error.split(":")[0]) for f in result.failures] == [(2, "refused")]
    assert "<!DOCTYPE>" in result.failures[0].error

    external = tmp_path / "external.atom"
    external.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE feed SYSTEM "file:///etc/passwd">\n'
        '<feed xmlns="http://www.w3.org/2005/Atom"/>\n'
    )
    assert [f.line for f in read_file(external).failures] == [2]

    rss = tmp_path / "news.xml"
    rss.write_text("<rss><channel><title>News</title></channel></rss>\n")
    assert failures(read_file(rss)) == [
        ("news.xml", 1, "not an Atom feed: the root element is <rss>")
    ]


# --------------------------------------------------------------------------- BibTeX


def test_bibtex_gives_exact_papers_with_clean_latex() -> None:
    path = fixture("papers.bib")
    result = read_file(path)
    assert result.failures == []
    bridges = "Schrödinger Bridges for Français–English Translation at 50% Cost"
    assert [summary(p) for p in result.papers] == [
        (
            "1706.03762",
            "Attention Is All You Need",
            [
                "Ashish Vaswani",
                "Noam Shazeer",
                "Niki Parmar",
                "Jakob Uszkoreit",
            ],  # "others" dropped
            "2017-06",
            "https://arxiv.org/abs/1706.03762",
            ["cs.CL"],
        ),
        (
            "1412.6980",
            "Adam: A Method for Stochastic Optimization",
            ["Diederik P. Kingma", "Jimmy Ba"],
            "2015",
            "https://arxiv.org/abs/1412.6980",
            [],
        ),
        (
            "doi:10.5486/PMD.1959.6.3-4.12",
            "On Random Graphs I",
            ["Paul Erdős", "Alfréd Rényi"],
            "1959",
            "https://doi.org/10.5486/PMD.1959.6.3-4.12",
            [],
        ),
        (
            title_id(bridges),
            bridges,
            ["Jörg Müller", "José Nuñez", "Søren Sørensen", "Jiří Koči", "Carl Gauß"],
            "2024-03",
            "https://example.org/papers/bridges",
            [],
        ),
        (
            title_id("A Fast Learning Algorithm for Deep Belief Nets"),
            "A Fast Learning Algorithm for Deep Belief Nets",
            ["Geoffrey E. Hinton", "Simon Osindero", "Yee-Whye Teh"],
            "2006-07",
            None,
            [],
        ),
    ]
    assert [p.source for p in result.papers] == [f"{path}:{n}" for n in (8, 25, 38, 53, 67)]
    adam, erdos, bridge = result.papers[1], result.papers[2], result.papers[3]
    assert adam.abstract.startswith("We introduce Adam, an algorithm for first-order")
    assert adam.abstract.endswith("large in terms of data and/or parameters.")  # \cite dropped
    assert "the binomial" not in erdos.abstract
    assert "each of the (n choose 2) possible edges" in erdos.abstract
    assert "when N ~ n/2" in erdos.abstract and "of order n log n & beyond." in erdos.abstract
    assert bridge.abstract == (
        "We cast machine translation between French and English as a Schrödinger bridge "
        "problem between two sentence distributions. Our solver runs in O(n^2) time, reaches "
        "41.2 BLEU on the WMT'14 Français–English test set —a gain of 1.3 points—and halves "
        "the cost of naïve sampling. We release the code at https://example.org/code_and_data."
    )


def test_bibtex_bad_entries_are_reported_and_later_entries_ingest() -> None:
    result = read_file(fixture("broken.bib"))
    assert [(p.id, p.published) for p in result.papers] == [
        (title_id("Dropout: A Simple Way to Prevent Neural Networks from Overfitting"), "2014"),
        ("doi:10.1109/5.726791", "1998-11"),
        ("1409.0473", "2015"),
    ]
    assert result.papers[0].authors[-1] == "Ruslan Salakhutdinov"  # "and" across a line break
    assert result.papers[1].authors[1] == "Léon Bottou"
    assert failures(result) == [
        (
            "broken.bib",
            16,
            "entry 'he2016resnet': field 'abstract', opened at line 21, never closes: "
            "unbalanced braces",
        ),
        ("broken.bib", 26, "entry 'goodfellow2014gan' has no abstract"),
        (
            "broken.bib",
            48,
            "entry 'ruder2017overview': field 'abstract' uses the undefined macro 'mtl_abstract'",
        ),
    ]


def test_bibtex_entry_left_open_before_the_next_one(tmp_path: Path) -> None:
    abstract = "We study a problem. We solve it with a simple method and report results."
    bib = tmp_path / "open.bib"
    bib.write_text(
        "@article{first,\n"
        "  title = {First Paper},\n"
        f"  abstract = {{{abstract}}}\n"  # the entry's closing brace is missing
        "\n"
        "@article(second,\n"  # parentheses delimit an entry too
        '  TITLE = "Second " # "Paper",\n'
        f"  Abstract = {{{abstract}}},\n"
        ")\n"
    )
    result = read_file(bib)
    assert [p.title for p in result.papers] == ["Second Paper"]
    assert failures(result) == [
        (
            "open.bib",
            1,
            "entry 'first' is not terminated before the next entry at line 5 (unbalanced braces?)",
        )
    ]


def test_parse_bibtex_macros_concatenation_and_comments() -> None:
    entries, problems, macros = parse_bibtex(
        "@STRING{ First = {Deep} }\n"
        '@string{second = First # " Learning"}\n'
        "@comment{ignored {nested} text}\n"
        "@Misc{k1, Title = second # { in } # Practice, year = 2020, month = dec}\n"
    )
    assert problems == []
    assert macros["second"] == "Deep Learning" and macros["dec"] == "December"
    assert [(e.type, e.key, e.line) for e in entries] == [("misc", "k1", 4)]
    assert entries[0].fields["title"] == [
        ("macro", "second"),
        ("text", " in "),
        ("macro", "practice"),
    ]


def test_latex_to_text_accents_dashes_and_math() -> None:
    cases = {
        r"Schr{\"o}dinger": "Schrödinger",
        r"Poincar\'e and {\'E}cole": "Poincaré and École",
        r"Erd\H{o}s--R\'enyi": "Erdős–Rényi",
        r"Gau\ss{} and Stra\ss e": "Gauß and Straße",
        r"Fran\c{c}ois and Fran\c cois": "François and François",
        r"Nu\~nez, Ko{\v{c}}i, S{\o}ren, na\"{\i}ve": "Nuñez, Koči, Søren, naïve",
        r"A~B \& C, 50\% of \$5, a\_b": "A B & C, 50% of $5, a_b",
        r"wait---what? ``quoted''": "wait—what? “quoted”",
        r"$x^2$ and $\alpha_{1} \leq \frac{1}{2}$": "x^2 and α_1 ≤ 1/2",
        r"\textsc{Bert} \emph{is} {Great}": "Bert is Great",
    }
    assert {source: latex_to_text(source) for source in cases} == cases
    assert clean_latex(r"Ko\v{c}i and Fran\c{c}ois") == "Koči and François"  # display path too


def test_split_name_list_conventions() -> None:
    assert split_name_list("Vaswani, Ashish; Shazeer, Noam") == ["Ashish Vaswani", "Noam Shazeer"]
    assert split_name_list("Smith, John and van der Berg, Jan") == [
        "John Smith",
        "Jan van der Berg",
    ]
    assert split_name_list("A. Author, B. Author and C. Author") == [
        "A. Author",
        "B. Author",
        "C. Author",
    ]
    assert split_name_list("Hinton, Geoffrey E.") == ["Geoffrey E. Hinton"]
    assert split_name_list("Ada Lovelace, Alan Turing, Grace Hopper") == [
        "Ada Lovelace",
        "Alan Turing",
        "Grace Hopper",
    ]


# --------------------------------------------------------------------------- CSV / TSV


def test_csv_gives_exact_papers_with_a_multiline_quoted_abstract() -> None:
    path = fixture("papers.csv")
    result = read_file(path)
    assert result.failures == []
    assert [summary(p) for p in result.papers] == [
        (
            "2203.02155",
            "Training language models to follow instructions with human feedback",
            ["Long Ouyang", "Jeff Wu", "Xu Jiang"],
            "2022-03-04",
            "https://arxiv.org/abs/2203.02155",
            ["cs.CL", "cs.AI", "cs.LG"],
        ),
        (
            "2307.09288",
            "Llama 2: Open Foundation and Fine-Tuned Chat Models",
            ["Hugo Touvron", "Louis Martin", "Kevin Stone", "Peter Albert"],
            "2023-07-18",
            "https://arxiv.org/abs/2307.09288",
            ["cs.CL"],
        ),
        (
            "2006.11239",
            "Denoising Diffusion Probabilistic Models",
            ["Jonathan Ho", "Ajay Jain", "Pieter Abbeel"],
            "2020-06-19",
            "https://arxiv.org/abs/2006.11239",
            ["cs.LG", "stat.ML"],
        ),
        (
            title_id("Scaling Laws for Neural Language Models"),
            "Scaling Laws for Neural Language Models",
            ["Jared Kaplan"],
            "2020",
            None,
            ["cs.LG"],
        ),
    ]
    # the record of line 3 spans lines 3-6; the next record starts on physical line 7
    assert [p.source for p in result.papers] == [f"{path}:{n}" for n in (2, 3, 7, 8)]
    llama = result.papers[1].abstract
    assert "optimized for dialogue use cases. They outperform" in llama
    assert 'based on our "human evaluations" for helpfulness' in llama


def test_csv_missing_column_is_one_failure_naming_it_and_the_header() -> None:
    assert failures(read_file(fixture("missing_column.csv"))) == [
        (
            "missing_column.csv",
            1,
            "missing required column 'abstract' (header found: id, title, authors, published)",
        )
    ]


def test_csv_bad_rows_are_reported_by_their_first_line() -> None:
    result = read_file(fixture("broken.csv"))
    assert [(p.id, p.authors[0], p.published) for p in result.papers] == [
        ("1810.04805", "Jacob Devlin", "2018-10-11"),
        ("1502.03167", "Sergey Ioffe", "2015-02-11"),
    ]
    assert failures(result) == [
        ("broken.csv", 6, "row has 3 fields, the header has 5"),
        ("broken.csv", 7, "row has an empty 'abstract'"),
        ("broken.csv", 9, "row has 6 fields, the header has 5"),
    ]


def test_tsv_semicolon_csv_and_unclosed_quote(tmp_path: Path) -> None:
    result = read_file(fixture("papers.tsv"))
    assert result.failures == []
    assert [(p.id, p.authors, p.published) for p in result.papers] == [
        ("2010.11929", ["Alexey Dosovitskiy", "Lucas Beyer", "Alexander Kolesnikov"], "2020"),
        ("1505.04597", ["Olaf Ronneberger", "Philipp Fischer", "Thomas Brox"], "2015"),
        ("1707.06347", ["John Schulman", "Filip Wolski", "Prafulla Dhariwal"], "2017"),
    ]
    abstract = "We propose a method. It works well on every benchmark we tried."
    semicolons = tmp_path / "excel.csv"
    semicolons.write_text(f"Title;Summary;Year\nA Paper;{abstract};2021\n", encoding="utf-8")
    assert [(p.title, p.abstract, p.published) for p in read_file(semicolons).papers] == [
        ("A Paper", abstract, "2021")
    ]
    unclosed = tmp_path / "unclosed.csv"
    unclosed.write_text(f'title,abstract\nGood One,{abstract}\nBad One,"{abstract}\n')
    result = read_file(unclosed)
    assert [p.title for p in result.papers] == ["Good One"]
    assert [(f.line, f.error.split(":")[0]) for f in result.failures] == [(3, "bad row")]


# --------------------------------------------------------------------------- end to end

END_TO_END = [
    pytest.param(
        "arxiv_query.xml",
        4,
        "trainable rank decomposition matrices injected into transformer layers",
        "2106.09685",
        id="arxiv",
    ),
    pytest.param(
        "papers.bib",
        5,
        "adaptive estimates of lower-order moments for stochastic optimization",
        "1412.6980",
        id="bibtex",
    ),
    pytest.param(
        "papers.csv",
        4,
        "diffusion models trained with denoising score matching and Langevin dynamics",
        "2006.11239",
        id="csv",
    ),
]


@pytest.mark.parametrize(("name", "count", "query", "expected"), END_TO_END)
def test_cli_ingests_each_format_then_search_finds_it(
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    count: int,
    query: str,
    expected: str,
) -> None:
    monkeypatch.setenv("PAPERBOT_LLM_MODE", "extractive")
    runner = CliRunner()
    r = runner.invoke(cli_app, ["ingest", str(fixture(name)), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert (report["added"], report["failed"]) == (count, [])
    r = runner.invoke(cli_app, ["search", query, "-k", "3", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["results"][0]["paper_id"] == expected


def test_cli_reports_bad_records_with_file_and_line(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPERBOT_LLM_MODE", "extractive")
    path = fixture("broken.bib")
    r = CliRunner().invoke(cli_app, ["ingest", str(path), "--json"])
    assert r.exit_code == 1
    report = json.loads(r.stdout)
    assert report["added"] == 3
    assert [(f["path"], f["line"]) for f in report["failed"]] == [
        (str(path), 16),
        (str(path), 26),
        (str(path), 48),
    ]


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory, embedder: LocalEmbedder) -> Iterator[str]:
    """The real app served by uvicorn on 127.0.0.1 (in a thread, sharing the session model)."""
    home = tmp_path_factory.mktemp("formats-api")
    settings = make_settings(home, rate_limit_per_minute=0)
    application = create_app(PaperBot(settings, embedder=embedder, llm=None), settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize(("name", "count", "query", "expected"), END_TO_END)
def test_http_upload_of_each_format_then_search_finds_it(
    http_server: str, name: str, count: int, query: str, expected: str
) -> None:
    with httpx.Client(base_url=http_server, timeout=120) as client:
        data = fixture(name).read_bytes()
        r = client.post("/api/ingest", files={"file": (name, data, "application/octet-stream")})
        assert r.status_code == 200, r.text
        assert r.json()["added"] + r.json()["unchanged"] == count
        assert r.json()["failed"] == []
        hits = client.get("/api/search", params={"q": query, "k": 3}).json()["results"]
        assert hits[0]["paper_id"] == expected


def test_http_upload_partial_failures_and_openapi_types(http_server: str) -> None:
    with httpx.Client(base_url=http_server, timeout=120) as client:
        r = client.post(
            "/api/ingest", files={"file": ("my list.csv", fixture("broken.csv").read_bytes())}
        )
        assert r.status_code == 200, r.text
        assert [(f["path"], f["line"]) for f in r.json()["failed"]] == [
            ("my list.csv", 6),
            ("my list.csv", 7),
            ("my list.csv", 9),
        ]
        bad = client.post(
            "/api/ingest", files={"file": ("cut.xml", fixture("arxiv_truncated.xml").read_bytes())}
        )
        assert bad.status_code == 422
        assert [(f["path"], f["line"]) for f in bad.json()["failed"]] == [("cut.xml", 49)]
        assert client.get("/api/papers/1810.04805").json()["title"].startswith("BERT")
        summary_text = client.get("/openapi.json").json()["paths"]["/api/ingest"]["post"]["summary"]
    for described in (".bib bibtex", ".csv", ".tsv/.tab", ".xml/.atom arxiv", ".jsonl"):
        assert described in summary_text


def test_format_option_on_the_cli_and_the_http_api(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, http_server: str
) -> None:
    """``paperbot ingest --format NAME`` and the ``format`` form field override the suffix."""
    monkeypatch.setenv("PAPERBOT_LLM_MODE", "extractive")
    folder = isolated_env / "exports"
    folder.mkdir()
    shutil.copy(fixture("papers.bib"), folder / "refs.txt")
    runner = CliRunner()
    r = runner.invoke(cli_app, ["ingest", str(folder), "--format", "bibtex", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["added"] == 5
    r = runner.invoke(cli_app, ["ingest", str(folder), "--format", "docbook"])
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1].startswith("error: unknown format 'docbook'")

    data = fixture("papers.tsv").read_bytes()
    with httpx.Client(base_url=http_server, timeout=120) as client:
        plain = client.post("/api/ingest", files={"file": ("export.dat", data)})
        assert plain.status_code == 415
        r = client.post("/api/ingest", files={"file": ("export.dat", data)}, data={"format": "tsv"})
        assert r.status_code == 200, r.text
        assert r.json()["added"] + r.json()["unchanged"] == 3
        wrong = client.post(
            "/api/ingest", files={"file": ("export.dat", data)}, data={"format": "docbook"}
        )
        assert wrong.status_code == 422 and "unknown format" in wrong.json()["detail"]


def test_arxiv_ids_agree_across_formats(tmp_path: Path) -> None:
    """A JSON record whose id is a versioned arXiv id or abs link gets the id the Atom reader
    gives the same paper, so ingesting both stores it once."""
    atom_ids = {p.id for p in read_file(fixture("arxiv_query.xml")).papers}
    assert "2106.09685" in atom_ids
    records = tmp_path / "records.jsonl"
    records.write_text(
        json.dumps({"id": "2106.09685v2", "title": "LoRA", "abstract": "Low-rank adapters."})
        + "\n"
        + json.dumps(
            {"id": "http://arxiv.org/abs/1810.04805v2", "title": "BERT", "abstract": "Text."}
        )
        + "\n"
        + json.dumps({"id": "lab-note-v2", "title": "Notes", "abstract": "Kept as given."})
        + "\n",
        encoding="utf-8",
    )
    assert [p.id for p in read_file(records).papers] == ["2106.09685", "1810.04805", "lab-note-v2"]
