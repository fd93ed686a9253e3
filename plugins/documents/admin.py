"""Admin page of the document types (reference data); documents and versions get the core's
record pages."""

from __future__ import annotations

from wtforms.validators import NumberRange

from core import CQMSModelView


class DocumentTypeAdmin(CQMSModelView):
    manage_permission = "documents.manage"
    allow_create = True
    allow_edit = True
    column_list = ("code", "label", "number_prefix", "review_interval_months",
                   "retain_obsolete_for_months", "training_required", "approver_role", "active")
    column_searchable_list = ("code", "label")
    column_default_sort = "code"
    form_columns = ("code", "label", "number_prefix", "review_interval_months",
                    "retain_obsolete_for_months", "training_required", "approver_role",
                    "active", "reason")
    form_args = {
        "review_interval_months": {"validators": [NumberRange(1, 120)]},
        "retain_obsolete_for_months": {
            "validators": [NumberRange(0, 1200)],
            "description": "Months an obsolete document is kept before it may be disposed of"},
    }
