"""Hostile input files built at test time (small code instead of binary fixtures).

- :func:`zlib_bomb_pdf`: a ~200 KB PDF whose page content stream inflates to ``mb`` MB of
  zeros: pypdf refuses it with ``LimitReachedError`` (finding 4 of issue 16: HTTP 500 and an
  aborted folder ingest before the fix).
- :func:`slow_pdf`: a few KB PDF whose content stream holds ``ops`` text-showing operators:
  interpreting it takes time linear in ``ops`` (finding 4: the server lock held for 30 s).
"""

from __future__ import annotations

import zlib
from pathlib import Path

__all__ = ["slow_pdf", "write_pdf", "zlib_bomb_pdf"]


def write_pdf(path: Path, content: bytes, compressed: bool = True) -> Path:
    """A one-page PDF with ``content`` as its page's content stream (FlateDecode)."""
    stream = zlib.compress(content, 9) if compressed else content
    filters = b"/Filter /FlateDecode " if compressed else b""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< "
        + filters
        + b"/Length "
        + str(len(stream)).encode()
        + b" >>\nstream\n"
        + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    path.write_bytes(bytes(out))
    return path


def zlib_bomb_pdf(path: Path, mb: int = 200) -> Path:
    return write_pdf(path, b"0" * (mb * 1024 * 1024))


def slow_pdf(path: Path, ops: int = 2_000_000) -> Path:
    body = b"BT /F1 12 Tf 72 700 Td " + b"(a) Tj 0 0 Td " * ops + b"ET"
    return write_pdf(path, body)
