"""Digest -> one self-contained, email-ready HTML file.

Inline ``style`` attributes only (email clients drop ``<style>`` blocks and external CSS), a
table wrapper for width, no scripts, no external resources. Every text taken from a paper is
escaped with :func:`html.escape`; only http(s) URLs become links.
"""

from __future__ import annotations

import html
import re

from bot.render.footer import footer_text
from bot.render.markdown import safe_url
from bot.text.sanitize import unescape_markers
from bot.types import Digest, LaySummary

__all__ = ["render_html"]

_FONT = "-apple-system,Segoe UI,Helvetica,Arial,sans-serif"
_MARKER = re.compile(r"(?<!\\)\[(\d+)\]")  # an escaped \[n\] is paper text, not a citation


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _blurb(text: str) -> str:
    escaped = _e(text)  # markers survive escaping unchanged: digits and brackets only
    cited = _MARKER.sub(r'<sup style="color:#6b7280;font-size:11px;">[\1]</sup>', escaped)
    return unescape_markers(cited)  # paper text's own \[n\] shows as a plain [n]


def _item(item: LaySummary) -> str:
    url = safe_url(item.url)
    title = _e(item.title)
    if url:
        title = f'<a href="{_e(url)}" style="color:#1d4ed8;text-decoration:none;">{title}</a>'
    quotes = "".join(
        f'<li style="margin:0 0 4px 0;">[{c.n}] \u201c{_e(c.display)}\u201d'
        + (f" (p. {c.page})" if c.page is not None else "")
        + "</li>"
        for c in item.citations
    )
    sources = (
        f'<ol style="list-style:none;margin:8px 0 0 0;padding:0 0 0 10px;'
        f'border-left:3px solid #e5e7eb;color:#6b7280;font-size:12px;line-height:1.45;">'
        f"{quotes}</ol>"
        if quotes
        else ""
    )
    return (
        '<div style="margin:0 0 22px 0;">'
        f'<h3 style="margin:0 0 2px 0;font-size:17px;line-height:1.3;color:#111827;">{title}</h3>'
        f'<div style="margin:0 0 8px 0;font-size:12px;color:#6b7280;font-family:monospace;">'
        f"{_e(item.paper_id)}</div>"
        f'<p style="margin:0;font-size:15px;line-height:1.55;color:#1f2937;">{_blurb(item.summary)}'
        f"</p>{sources}</div>"
    )


def render_html(digest: Digest) -> str:
    body: list[str] = []
    for section in digest.sections:
        if digest.grouped:
            body.append(
                '<h2 style="margin:28px 0 12px 0;padding:0 0 4px 0;font-size:13px;'
                "letter-spacing:0.06em;text-transform:uppercase;color:#b45309;"
                f'border-bottom:1px solid #f3f4f6;">{_e(section.title)}</h2>'
            )
        body.extend(_item(item) for item in section.items)
    footer = footer_text(digest)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(digest.headline)}</title>\n</head>\n"
        f'<body style="margin:0;padding:0;background:#f3f4f6;font-family:{_FONT};">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="background:#f3f4f6;"><tr><td align="center" style="padding:24px 12px;">\n'
        '<table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0" '
        'style="max-width:640px;width:100%;background:#ffffff;border-radius:8px;">'
        '<tr><td style="padding:28px 32px;">\n'
        f'<h1 style="margin:0 0 10px 0;font-size:24px;line-height:1.25;color:#111827;">'
        f"{_e(digest.headline)}</h1>\n"
        f'<p style="margin:0 0 24px 0;font-size:15px;line-height:1.55;color:#374151;">'
        f"{_e(digest.intro)}</p>\n" + "\n".join(body) + "\n"
        f'<p style="margin:24px 0 0 0;padding:12px 0 0 0;border-top:1px solid #e5e7eb;'
        f'font-size:12px;color:#9ca3af;">{_e(footer)}</p>\n'
        "</td></tr></table>\n</td></tr></table>\n</body>\n</html>\n"
    )
