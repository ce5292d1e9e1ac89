"""Digest -> clean Markdown (CommonMark). Paper text is escaped so it cannot inject markup."""

from __future__ import annotations

import re

from bot.render.footer import footer_text
from bot.types import Digest, LaySummary

__all__ = ["md_escape", "render_markdown", "safe_url"]

_SPECIAL = re.compile(r"([\\`*_#|~])")
_BRACKET = re.compile(r"\[(?!\d+\])|(?<!\[\d)(?<!\[\d\d)(?<!\[\d\d\d)\]")
_OWN_MARKER = re.compile(r"\\\[[^\[\]\\]*\\\]")
_URL = re.compile(r"^https?://[^\s<>\"'`]+$", re.IGNORECASE)


def safe_url(url: str | None) -> str | None:
    """``url`` if it is a plain http(s) URL, else None."""
    if url and _URL.match(url.strip()):
        return url.strip()
    return None


def md_escape(text: str) -> str:
    """Escape Markdown/HTML syntax in ``text``; ``[n]`` citation markers stay readable, and a
    paper's own markers (escaped ``\\[n\\]`` by bot/text/sanitize.py) stay escaped."""
    text = " ".join(text.replace("\x00", "").split())
    own = [m.group(0) for m in _OWN_MARKER.finditer(text)]
    text = _OWN_MARKER.sub("\x00", text)
    text = _SPECIAL.sub(r"\\\1", text)
    text = text.replace("<", "&lt;").replace(">", "&gt;")  # raw HTML never passes through
    text = _BRACKET.sub(lambda m: "\\" + m.group(0), text)
    for marker in own:  # "\[3\]" is CommonMark for a literal "[3]"
        text = text.replace("\x00", marker, 1)
    return text


def _url_md(url: str) -> str:
    return url.replace("(", "%28").replace(")", "%29")


def _item(item: LaySummary, level: str) -> list[str]:
    url = safe_url(item.url)
    title = md_escape(item.title)
    lines = [f"{level} [{title}]({_url_md(url)})" if url else f"{level} {title}"]
    lines.append(f"`{item.paper_id.replace('`', '')}`")
    lines.append("")
    lines.append(md_escape(item.summary))
    if item.citations:
        lines.append("")
        for c in item.citations:
            page = f" (p. {c.page})" if c.page is not None else ""
            lines.append(f"> \\[{c.n}\\] \u201c{md_escape(c.display)}\u201d{page}  ")
    lines.append("")
    return lines


def render_markdown(digest: Digest) -> str:
    lines = [f"# {md_escape(digest.headline)}", "", md_escape(digest.intro), ""]
    level = "###" if digest.grouped else "##"
    for section in digest.sections:
        if digest.grouped:
            lines += [f"## {md_escape(section.title)}", ""]
        for item in section.items:
            lines += _item(item, level)
    lines += ["---", "", f"*{md_escape(footer_text(digest))}*"]
    return "\n".join(lines).rstrip() + "\n"
