"""Admin pages of the lists administrators keep: event categories and root causes (retired,
never deleted). Events and CAPAs get the core's record pages, the board its own (``board``)."""

from __future__ import annotations

from core import CQMSModelView

CONFIGURE = "capa.configure"


class CategoryAdmin(CQMSModelView):
    manage_permission = CONFIGURE
    allow_create = True
    allow_edit = True
    column_list = ("label", "key", "check_required", "active")
    column_labels = {"key": "Key (fixed)", "check_required": "Effectiveness check required"}
    column_default_sort = "label"
    form_columns = ("key", "label", "description", "check_required", "active", "reason")
    form_args = {"key": {"description": "Lower-case letters and _, fixed once saved "
                                        "(protocol_deviation)."},
                 "check_required": {"description": "A CAPA of this category closes only after "
                                                   "an effective check, unless a signed "
                                                   "rationale says why none is needed."}}


class RootCauseAdmin(CQMSModelView):
    manage_permission = CONFIGURE
    allow_create = True
    allow_edit = True
    column_list = ("label", "key", "active")
    column_labels = {"key": "Key (fixed)"}
    column_default_sort = "label"
    form_columns = ("key", "label", "active", "reason")
