"""Obsolete documents are not used by mistake (ISO-06): a record is ``governed_by`` only an
effective document or an effective version of one (``validate_link``, answered with 409)."""

from __future__ import annotations

from typing import Any

from core import LinkKind

GOVERNED_BY = "governed_by"
SUPERSEDES = "supersedes"
LINK_KINDS = (
    # Any record (a CAPA, an audit, a training assignment...) follows a procedure.
    LinkKind(GOVERNED_BY, "governed by", "governs",
             target_types=("documents_document", "documents_version")),
    LinkKind(SUPERSEDES, "supersedes", "superseded by", source_types=("documents_version",),
             target_types=("documents_version",), cardinality="one"),
)


def link_reasons(target: Any, kind: str) -> list[str]:
    if kind != GOVERNED_BY:
        return []
    if target.type == "documents_document" and target.state != "effective":
        return [f"{target.number} is {target.state}: only an effective document governs new "
                "records"]
    if target.type == "documents_version" and target.state != "effective":
        return [f"{target.number} is {target.state.replace('_', ' ')}: only the effective "
                "version of a document governs new records"]
    return []
