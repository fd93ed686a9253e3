"""Two versions of a document side by side: their details field by field, and the text of
their files (PDF text as pypdf extracts it, plain text as is) as a line-by-line difference."""

from __future__ import annotations

import difflib
import io
from dataclasses import dataclass
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from core import CQMSError, attachments_of, open_attachment

FIELDS = (("title", "Title"), ("version_label", "Version"), ("change_summary", "What changed"),
          ("change_reason", "Why"), ("planned_effective_date", "Planned effective date"),
          ("training_required", "Training required"), ("reviews_required", "Reviews required"),
          ("effective_at", "Effective from"), ("obsoleted_at", "Ended"), ("state", "State"))
MAX_LINES = 400


@dataclass(frozen=True)
class Comparison:
    fields: list[tuple[str, str, str, bool]]  # label, older, newer, changed
    diff: list[tuple[str, str]]  # (kind: "same" / "removed" / "added" / "gap", line)
    truncated: bool
    unreadable: list[str]


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "hour") else value.isoformat()
    return str(value)


def version_text(version: Any, unreadable: list[str]) -> list[str]:
    lines: list[str] = []
    for attachment in attachments_of(version):
        try:
            with open_attachment(attachment) as fh:
                data = fh.read()
        except CQMSError as exc:  # missing or altered: named, not compared
            unreadable.append(str(exc))
            continue
        if attachment.media_type == "application/pdf":
            try:
                pages = PdfReader(io.BytesIO(data)).pages
                text = "\n".join(page.extract_text() or "" for page in pages)
            except (PdfReadError, ValueError, KeyError) as exc:
                unreadable.append(f"{attachment.filename}: its text cannot be read ({exc})")
                continue
        elif attachment.media_type.startswith("text/"):
            text = data.decode("utf-8", "replace")
        else:
            unreadable.append(f"{attachment.filename}: {attachment.media_type} has no text to "
                              "compare")
            continue
        lines += [f"[{attachment.filename}]", *(line.rstrip() for line in text.splitlines())]
    return lines


def compare(older: Any, newer: Any) -> Comparison:
    fields = []
    for name, label in FIELDS:
        a, b = _shown(getattr(older, name, None)), _shown(getattr(newer, name, None))
        if name == "state":
            a, b = a.replace("_", " "), b.replace("_", " ")
        fields.append((label, a, b, a != b))
    unreadable: list[str] = []
    diff: list[tuple[str, str]] = []
    for line in difflib.unified_diff(version_text(older, unreadable),
                                     version_text(newer, unreadable), lineterm="", n=2):
        if line.startswith(("---", "+++")):
            continue
        kind = {"-": "removed", "+": "added", "@": "gap"}.get(line[:1], "same")
        diff.append((kind, line[1:] if kind != "gap" else "..."))
    return Comparison(fields, diff[:MAX_LINES], len(diff) > MAX_LINES, unreadable)
