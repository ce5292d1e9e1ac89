"""Digest -> clean Markdown (CommonMark). Paper text is escaped so it cannot inject markup."""

from __future__ import annotations

import re

from bot.types import Digest, LaySummary

__all__ = ["md_escape", "render_markdown", "safe_url"]

_SPECIAL = re.compile(r"([\\`*_#|~])")
_BRACKET = re.compile(r"\[(?!\d+\])|(?<!\[\d)(?<!\[\d\d)(?<!\[\d\d\d)\]")
_URL = re.compile(r"^https?://[^\s<>\"'`]+$", re.IGNORECASE)


def safe_url(url: str | None) -> str | None:
    """``url`` if it is a plain http(s) URL, else None."""
    if url and _URL.match(url.strip()):
        return url.strip()
    return None


def md_escape(text: str) -> str:
    """Escape Markdown/HTML syntax in ``text``; ``[n]`` citation markers stay readable."""
    text = " ".join(text.split())
    text = _SPECIAL.sub(r"\\\1", text)
    text = text.replace("<", "&lt;").replace(">", "&gt;")  # raw HTML never passes through
    return _BRACKET.sub(lambda m: "\\" + m.group(0), text)


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
    items = digest.items
    supported = sum(i.supported for i in items)
    total = sum(i.total for i in items)
    model = f"{digest.mode}" + (f" ({digest.model})" if digest.model != "none" else "")
    lines += [
        "---",
        "",
        f"*{len(items)} papers \u00b7 {supported}/{total} blurb sentences verified against "
        f"their abstracts \u00b7 {md_escape(model)}"
        + (f" \u00b7 {digest.date}" if digest.date else "")
        + "*",
    ]
    return "\n".join(lines).rstrip() + "\n"
