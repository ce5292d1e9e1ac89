"""The web chat page in real headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

Asks a question and waits for the streamed answer, clicks a citation and sees the quoted
sentence highlighted in its abstract, asks a follow-up, takes a screenshot (into the test's
temporary folder; ``PAPERBOT_SCREENSHOT=docs/screenshot.png`` refreshes the README's), and
checks that a paper whose title and abstract carry HTML renders as plain text.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_server_api import FIRST, FOLLOW_UP, GROKKING, Server, api_server

__all__ = ["api_server"]  # the session-scoped server fixture, shared with test_server_api

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# The README's picture is refreshed only on request: a test run leaves the checkout unchanged.
SCREENSHOT_ENV = "PAPERBOT_SCREENSHOT"

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
        reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
        "chromium-driver)",
    ),
]

EVIL = {
    "id": "evil-teapots",
    "title": 'Observed Teapots <img src=x onerror="document.body.dataset.pwned=1">',
    "abstract": "Quantum teapots boil faster when graduate students observe them. "
    '<script>document.body.dataset.pwned="2"</script> We timed '
    '<img src=x onerror="document.body.dataset.pwned=3"> forty teapots on one stove. '
    "Observed teapots boiled twelve percent faster than unobserved teapots.",
    "authors": ['<b onmouseover="document.body.dataset.pwned=4">Mallory</b>'],
    "url": "javascript:document.body.dataset.pwned=5",
}


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="paperbot-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1360,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.set_script_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()


def _wait(driver: Any, condition: Any, timeout: float = 90) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)


def _css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)  # type: ignore[no-any-return]


def _open(driver: Any, server: Server) -> None:
    driver.get(server.url + "/")
    _wait(driver, lambda d: _css(d, "#paper-list li"))


def _ask(driver: Any, question: str) -> Any:
    """Type a question, send it, wait for the final (verified) answer; return its bubble."""
    before = len(_css(driver, ".msg.bot"))
    box = _css(driver, "#question")[0]
    box.send_keys(question)
    _css(driver, "#send")[0].click()
    _wait(driver, lambda d: len(_css(d, ".msg.bot")) > before)
    _wait(driver, lambda d: not _css(d, ".msg.bot .bubble.draft"))
    bubble = _css(driver, ".msg.bot .bubble")[-1]
    assert not bubble.find_elements("css selector", ".error-text"), bubble.text
    return bubble


def _click_citation(driver: Any, bubble: Any, n: int = 1) -> tuple[str, str]:
    """Click marker [n] of an answer; return (cited title, highlighted text)."""
    marker = bubble.find_elements("css selector", f'button.cite[data-n="{n}"]')[0]
    title = marker.get_attribute("title")
    marker.click()
    mark = _wait(driver, lambda d: _css(d, "#source-view mark#highlight"))[0]
    return title, mark.text


def test_ask_stream_cite_highlight_and_follow_up(
    driver: Any, api_server: Server, tmp_path: Path
) -> None:
    _open(driver, api_server)
    first = _ask(driver, FIRST)
    assert int(first.get_attribute("data-tokens")) > 3  # the answer streamed in as a draft
    assert first.find_elements("css selector", ".answer-text button.cite")
    quotes = [q.text.strip("“”") for q in first.find_elements("css selector", ".sources .quote")]
    assert quotes

    title, highlighted = _click_citation(driver, first, 1)
    assert highlighted == quotes[0]  # the quoted sentence, highlighted in its abstract
    assert _css(driver, "#source-view h2")[0].text == title
    abstract = _css(driver, "#source-view .abstract")[0].text
    assert highlighted in abstract and len(abstract) > len(highlighted)
    assert _css(driver, "#panel-source")[0].is_displayed()

    second = _ask(driver, FOLLOW_UP)
    rewrite = second.find_elements("css selector", ".rewrite")[0].text
    assert rewrite.startswith("Searched as:") and GROKKING in rewrite
    cited = [b.text for b in second.find_elements("css selector", ".sources button.link")]
    assert GROKKING in cited
    _click_citation(driver, second, 1)
    # the picture for the README: the follow-up, how it was searched, its cited source
    driver.execute_script(
        "const users = document.querySelectorAll('.msg.user');"
        "users[users.length - 1].scrollIntoView({block: 'start'});"
    )
    options = [o.text for o in _css(driver, "#session-select option")]
    assert any(o.startswith(FIRST[:40]) for o in options)

    requested = os.environ.get(SCREENSHOT_ENV)
    screenshot = Path(requested) if requested else tmp_path / "screenshot.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    driver.execute_script("document.activeElement.blur()")
    assert driver.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000


def test_html_in_papers_renders_as_text(driver: Any, api_server: Server) -> None:
    import httpx

    with api_server.client() as client:
        upload = client.post(
            "/api/ingest", files={"file": ("evil.jsonl", json.dumps(EVIL) + "\n", "text/plain")}
        )
        assert upload.status_code == 200, upload.text
    _open(driver, api_server)

    # the paper list and the abstract view
    box = _css(driver, "#paper-filter")[0]
    box.send_keys("teapots")
    _wait(driver, lambda d: len(_css(d, "#paper-list button")) == 1)  # the filter applied
    item = _css(driver, "#paper-list button")[0]
    assert item.text == EVIL["title"]
    item.click()
    _wait(driver, lambda d: _css(d, "#source-view .abstract"))
    assert _css(driver, "#source-view .abstract")[0].text == EVIL["abstract"]
    assert _css(driver, "#source-view h2")[0].text == EVIL["title"]
    assert not _css(driver, "#source-view a")  # a javascript: URL is never a link

    # an answer that quotes the paper, and its highlighted citation
    bubble = _ask(driver, "Do quantum teapots boil faster when graduate students observe them?")
    titles = [b.text for b in bubble.find_elements("css selector", ".sources button.link")]
    assert EVIL["title"] in titles
    n = titles.index(EVIL["title"]) + 1
    _, highlighted = _click_citation(driver, bubble, n)
    assert highlighted in EVIL["abstract"]

    for area in ("#messages", "#paper-list", "#source-view"):
        assert not _css(driver, f"{area} img, {area} script, {area} b"), area
    assert driver.execute_script("return document.body.dataset.pwned") is None
    assert "<script>" in _css(driver, "#source-view .abstract")[0].text
    # the server's CSP forbids inline script anyway
    csp = httpx.get(api_server.url + "/").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


FAKE_MARKERS = {
    "id": "fake-markers",
    "title": "Self-Supervised Denoising of Penguin Colony Photographs",
    "abstract": "Penguin colony photographs taken from drones are noisy. Self-supervised "
    "denoising cleans penguin colony photographs by training on pairs of noisy frames [1] [2]. "
    "Counts of nesting penguins become 18% more accurate.",
}


def test_markers_inside_paper_text_never_become_citation_buttons(
    driver: Any, api_server: Server
) -> None:
    """Issue 16: a "[1] [2]" written in an abstract was turned into citation buttons."""
    with api_server.client() as client:
        upload = client.post(
            "/api/ingest",
            files={"file": ("fake.jsonl", json.dumps(FAKE_MARKERS) + "\n", "text/plain")},
        )
        assert upload.status_code == 200, upload.text
    _open(driver, api_server)
    bubble = _ask(driver, "How does self-supervised denoising clean penguin colony photographs?")
    text = bubble.find_elements("css selector", ".answer-text")[0]
    assert "noisy frames [1] [2]" in text.text  # shown as the paper wrote it, without "\"
    buttons = text.find_elements("css selector", "button.cite")
    sources = bubble.find_elements("css selector", ".sources li")
    assert buttons and len(buttons) == len(sources)  # one button per real citation only
    assert "\\[" not in text.text
