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
