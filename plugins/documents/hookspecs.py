"""Hooks the documents plugin offers other plugins (registered through ``register_hookspecs``)."""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("cqms")


@hookspec
def documents_version_effective(document: object, version: object) -> None:
    """Called after the transaction in which ``version`` of ``document`` became effective
    committed (the previously effective version is superseded by then). React here, e.g. assign
    read-and-understood training when ``version.training_required``; commit what you write.

    Example::

        @hookimpl
        def documents_version_effective(document, version):
            if version.training_required: assign_training(document, version)
    """


@hookspec(firstresult=True)
def documents_version_in_effect(document_id: int, at: object = None) -> object | None:
    """Return the version of document ``document_id`` (a ``core_record`` id) that was
    effective at the UTC datetime ``at`` (None: now), or None (no such document, not yet
    effective, or obsolete by then). Implemented by the documents plugin itself, so that others
    (training) can ask without importing it.

    Example::

        version = call_hook("documents_version_in_effect", document_id=doc_id, at=None)
        if version is not None: print(version.version_label, version.effective_at)
    """


@hookspec(firstresult=True)
def documents_versions_in_effect(document_ids: list[int]) -> dict[int, object]:
    """Return ``{document id: version}`` for those of ``document_ids`` that have an effective
    version now (one query; e.g. for a matrix of many documents).

    Example::

        versions = call_hook("documents_versions_in_effect", document_ids=[3, 8])
        label = versions[3].version_label if 3 in versions else None
    """


@hookspec(firstresult=True)
def documents_document(document_id: int | None = None, number: str | None = None,
                       title: str | None = None) -> object | None:
    """Return the controlled document (a ``documents_document`` record) with this id or this
    number, or None when no document has it: other plugins never name documents' record type.
    With only a ``title``: the effective document of that title (the oldest if several), else
    the oldest of that title.

    Example::

        document = call_hook("documents_document", document_id=None, number="SOP-0003")
    """


@hookspec(firstresult=True)
def documents_version_pdf_url(version_id: int) -> str | None:
    """Return the address of the point-of-use PDF of document version ``version_id`` (a POST
    target that records the copy), or None: other plugins never name documents' endpoints.

    Example::

        url = call_hook("documents_version_pdf_url", version_id=assignment.document_version_id)
    """
