"""What a file really is: its media type from content (magic bytes), never from its name.

Recognised: PDF, PNG, JPEG, Word .docx and Excel .xlsx (ZIP packages whose
``[Content_Types].xml`` declares the main part; macro-enabled packages are not recognised) and
text (valid UTF-8 without NUL bytes; ``text/csv`` when named ``.csv``). Anything else, an
executable included, is unknown. The name's extension and the type the client declared must
agree with the content.
"""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
import zipfile
from pathlib import Path

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TEXT = "text/plain"
CSV = "text/csv"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# The extensions a file of each type may carry.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg"),
    TEXT: (".txt", ".text", ".log"),
    CSV: (".csv",),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
}
# Types browsers declare for our types, beyond the canonical one (Windows sends the Excel type
# for .csv files). A declared type that is not listed must equal the detected one.
DECLARED_ALIASES: dict[str, frozenset[str]] = {
    "image/jpg": frozenset({JPEG}),
    "image/pjpeg": frozenset({JPEG}),
    "application/x-pdf": frozenset({PDF}),
    "text/x-csv": frozenset({CSV}),
    "application/csv": frozenset({CSV}),
    "text/comma-separated-values": frozenset({CSV}),
    "application/vnd.ms-excel": frozenset({CSV, XLSX}),
}
# Declared types that say nothing (treated as not declared).
UNDECLARED = frozenset({"", "application/octet-stream", "binary/octet-stream"})

MAGIC = ((b"%PDF-", PDF), (b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG))
ZIP_MAGIC = b"PK\x03\x04"
OFFICE_MAIN = {
    DOCX: (b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
           "word/document.xml"),
    XLSX: (b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
           "xl/workbook.xml"),
}
MAX_CONTENT_TYPES_BYTES = 1024 * 1024
CHUNK = 64 * 1024
MAX_NAME = 255


def detect(path: Path, filename: str) -> str | None:
    """The media type of the file at ``path`` from its content, or None when not recognised.

    ``filename`` only tells plain text from CSV, which content alone cannot.
    """
    with path.open("rb") as fh:
        head = fh.read(8)
    for magic, media_type in MAGIC:
        if head.startswith(magic):
            return media_type
    if head.startswith(ZIP_MAGIC):
        return _office_type(path)
    if _is_text(path):
        return CSV if extension(filename) in EXTENSIONS[CSV] else TEXT
    return None


def _office_type(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as package:
            names = set(package.namelist())
            info = package.getinfo("[Content_Types].xml")
            if info.file_size > MAX_CONTENT_TYPES_BYTES:
                return None
            declared = package.read(info)
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, NotImplementedError,
            EOFError, ValueError):
        return None
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        return None  # macros: never a plain .docx/.xlsx
    for media_type, (main, part) in OFFICE_MAIN.items():
        if main in declared and part in names:
            return media_type
    return None


def _is_text(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                if b"\x00" in chunk:
                    return False
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def extension(filename: str) -> str:
    return os.path.splitext(filename)[1].lower()


def declared_matches(declared: str | None, media_type: str) -> bool:
    """Whether the type the client declared (e.g. the upload's Content-Type) fits the content."""
    declared = (declared or "").split(";", 1)[0].strip().lower()
    if declared in UNDECLARED:
        return True
    return declared == media_type or media_type in DECLARED_ALIASES.get(declared, ())


def clean_filename(raw: str | None) -> str:
    """The user's file name made safe to display and to offer for download: no folders, no
    control or bidirectional-override characters, no characters Windows forbids, at most 255
    characters (the extension kept). Empty when nothing usable is left."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = re.sub(r'[<>:"|?*]', "_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if len(name) > MAX_NAME:
        stem, ext = os.path.splitext(name)
        ext = ext if len(ext) <= 16 else ""
        name = stem[: MAX_NAME - len(ext)].rstrip(" .") + ext
    return name
