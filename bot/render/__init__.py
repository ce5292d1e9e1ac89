"""Renderers for newsletter digests: Markdown, a self-contained HTML email, and JSON.

``render_digest(digest, "md" | "html" | "json")`` returns the text. Every string taken from a
paper (titles, blurbs, quotes, ids, URLs) is escaped for the target format, and only
``http(s)`` URLs ever become links.
"""

from __future__ import annotations

import json

from bot.errors import InputError
from bot.render.html import render_html
from bot.render.markdown import render_markdown, safe_url
from bot.types import Digest

__all__ = ["FORMATS", "render_digest", "render_html", "render_markdown", "safe_url"]

FORMATS = ("md", "html", "json")


def render_digest(digest: Digest, fmt: str = "md") -> str:
    if fmt == "md":
        return render_markdown(digest)
    if fmt == "html":
        return render_html(digest)
    if fmt == "json":
        return json.dumps(digest.to_dict(), ensure_ascii=False, indent=2) + "\n"
    raise InputError(f"unknown format '{fmt}': use one of {', '.join(FORMATS)}")
