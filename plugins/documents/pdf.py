"""The "point of use" PDF of a document version (ISO 13485 4.2.4, 21 CFR 11.50).

A NEW PDF is built; the stored files are never altered:

1. a cover rendered by WeasyPrint: the version's identity, its files (PDFs "included below",
   other files listed with their SHA-256) and the signature manifestations;
2. then the pages of every PDF file of the version, each with an overlay stamped on top (a
   header with number, title, version, effective date or state, page X of Y, and the
   watermark). The overlays are one WeasyPrint document with one page per original page, each
   sized like its original; pypdf merges them.

Watermark: ``SUPERSEDED`` or ``OBSOLETE`` when the version is, ``DRAFT - NOT FOR USE`` while it
is not yet effective (draft, in review, approved), otherwise ``CONTROLLED COPY`` (viewed inside
the system) or ``UNCONTROLLED WHEN PRINTED`` (printed or downloaded).
WeasyPrint fetches nothing but ``data:`` URIs, and the templates escape every value.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import render_template
from pypdf import PdfReader, PdfWriter, Transformation

from core import attachments_of, open_attachment, render_html, signatures_of, utcnow

log = logging.getLogger("cqms.documents.pdf")

COPY_TYPES = ("controlled", "uncontrolled")
WATERMARKS = {"controlled": "CONTROLLED COPY", "uncontrolled": "UNCONTROLLED WHEN PRINTED",
              "superseded": "SUPERSEDED", "obsolete": "OBSOLETE",
              "not_effective": "DRAFT - NOT FOR USE"}
NOT_EFFECTIVE_STATES = ("draft", "in_review", "approved")


@dataclass
class FileEntry:
    filename: str
    media_type: str
    size: int
    sha256: str
    included: bool = False
    pages: int = 0
    first_page: int = 0  # page number in the rendered PDF
    note: str = ""
    reader: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class VersionPdf:
    data: bytes
    pages: int
    copy: str
    watermark: str
    sha256: str


def utc(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def watermark_for(version: Any, copy: str) -> str:
    """``SUPERSEDED``/``OBSOLETE`` and the draft mark override the copy type's mark."""
    if version.state in ("superseded", "obsolete"):
        return WATERMARKS[version.state]
    if version.state in NOT_EFFECTIVE_STATES:
        return WATERMARKS["not_effective"]
    return WATERMARKS[copy]


def header_fields(version: Any) -> dict[str, str]:
    document = version.document
    if version.effective_at is not None:
        status = f"Effective {version.effective_at.astimezone(UTC).date().isoformat()}"
        if version.state != "effective":
            status += f" ({version.state})"
    else:
        status = f"Not effective: {version.state.replace('_', ' ')}"
    return {"number": document.number if document else version.number,
            "title": document.title if document else version.title,
            "version": version.version_label, "status": status}


def _files(version: Any) -> list[FileEntry]:
    """The version's files; PDFs that pypdf can read are opened for stamping (each file is
    re-verified against its SHA-256 when opened)."""
    entries = []
    for attachment in attachments_of(version):
        entry = FileEntry(attachment.filename, attachment.media_type, attachment.size,
                          attachment.sha256)
        if attachment.media_type == "application/pdf":
            with open_attachment(attachment) as fh:
                data = fh.read()
            try:
                reader = PdfReader(io.BytesIO(data))
                if reader.is_encrypted:
                    raise ValueError("the file is encrypted")
                entry.pages = len(reader.pages)
                if entry.pages == 0:
                    raise ValueError("the file has no pages")
                entry.reader, entry.included = reader, True
            except Exception as exc:  # noqa: BLE001 - any unreadable PDF is listed, not embedded
                log.warning("document PDF: %s not embedded: %s", attachment.filename, exc)
                entry.note = "could not be read as PDF pages; not included, listed only"
        else:
            entry.note = "not a PDF; listed only"
        entries.append(entry)
    return entries


def _render(template: str, **context: Any) -> Any:
    return render_html(render_template(template, **context))


def _cover(version: Any, user: Any, files: list[FileEntry], header: dict[str, str],
           watermark: str, copy: str, printed_at: datetime, stamped_pages: int) -> Any:
    signatures = [(s, s.meaning_label) for s in signatures_of(version)]
    cover_pages = 1
    for _attempt in range(3):  # the total in "page X of Y" depends on the cover's own length
        page = cover_pages + 1
        for entry in files:
            if entry.included:
                entry.first_page, page = page, page + entry.pages
        document = _render("documents/pdf_cover.html", version=version, header=header,
                           watermark=watermark, copy=copy, files=files, signatures=signatures,
                           printed_at=utc(printed_at),
                           printed_by=getattr(user, "printed_name", str(user)),
                           total=cover_pages + stamped_pages, utc=utc)
        if len(document.pages) == cover_pages:
            return document
        cover_pages = len(document.pages)
    return document


def _overlays(files: list[FileEntry], header: dict[str, str], watermark: str, first: int,
              total: int) -> PdfReader:
    """One overlay page per original page, sized like it (one WeasyPrint render)."""
    sizes: dict[tuple[float, float], str] = {}
    pages = []
    number = first
    for entry in files:
        if not entry.included:
            continue
        for original in entry.reader.pages:
            box = original.mediabox
            rotated = (original.get("/Rotate") or 0) % 180 == 90
            width, height = float(box.width), float(box.height)
            if rotated:
                width, height = height, width
            size = (round(width, 2), round(height, 2))
            name = sizes.setdefault(size, f"s{len(sizes)}")
            pages.append({"size": name, "number": number, "width": size[0], "height": size[1]})
            number += 1
    document = _render("documents/pdf_overlay.html", header=header, watermark=watermark,
                       sizes=sizes, pages=pages, total=total)
    return PdfReader(io.BytesIO(document.write_pdf()))


def render_version_pdf(version: Any, user: Any, copy: str = "uncontrolled",
                       printed_at: datetime | None = None) -> VersionPdf:
    """The point-of-use PDF of ``version`` for ``user``; ``copy`` is ``controlled`` (viewed in
    the system) or ``uncontrolled`` (printed or downloaded)."""
    if copy not in COPY_TYPES:
        raise ValueError(f"copy must be one of {', '.join(COPY_TYPES)}")
    printed_at = printed_at or utcnow()
    files = _files(version)
    header = header_fields(version)
    watermark = watermark_for(version, copy)
    stamped = sum(entry.pages for entry in files if entry.included)
    cover = _cover(version, user, files, header, watermark, copy, printed_at, stamped)
    total = len(cover.pages) + stamped
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(cover.write_pdf())))
    if stamped:
        overlays = iter(_overlays(files, header, watermark, len(cover.pages) + 1, total).pages)
        for entry in files:
            if not entry.included:
                continue
            for original in entry.reader.pages:
                page = writer.add_page(original)  # a copy in the new PDF; the file is untouched
                if (page.get("/Rotate") or 0) % 360:
                    page.transfer_rotation_to_content()
                box = page.mediabox
                page.merge_transformed_page(
                    next(overlays), Transformation().translate(float(box.left), float(box.bottom)))
    number = header["number"]
    writer.add_metadata({"/Title": f"{number} v{header['version']} {header['title']}",
                         "/Subject": watermark, "/Producer": "CQMS documents"})
    out = io.BytesIO()
    writer.write(out)
    data = out.getvalue()
    return VersionPdf(data, total, copy, watermark, hashlib.sha256(data).hexdigest())
