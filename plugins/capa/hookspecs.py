"""Hooks the CAPA plugin offers other plugins (registered through ``register_hookspecs``)."""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("cqms")


@hookspec(firstresult=True)
def capa_raise_for(record: object, category: str, user: object, title: str,
                   description: str, significant: bool = False,
                   what: str = "event") -> object | None:
    """Raise a quality event (``what="event"``, linked *raised from* ``record``) or a CAPA
    (``what="capa"``, linked as *addresses* ``record``) for ``record`` of another plugin, in
    its study and site, created by ``user`` (who needs ``capa.create`` there). ``category`` is
    the key of an active event category (``audit_finding``, ``risk``...). Returns the new
    record; flushes, the caller commits. Implemented by the CAPA plugin itself, so that audits
    or risk management raise events without importing it (None when it is not enabled).

    Example::

        if hook_implemented("capa_raise_for"):
            event = call_hook("capa_raise_for", record=finding, category="audit_finding",
                              user=auditor, title=finding.title, description=finding.text,
                              significant=finding.grade == "critical", what="event")
    """
