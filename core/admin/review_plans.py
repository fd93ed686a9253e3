"""Study audit-trail review plans (E6-17): which studies get their own audit-trail review and
how often. Written with a reason; retired, never deleted."""

from __future__ import annotations

from typing import Any

from wtforms.validators import NumberRange

from core.admin.base import CQMSModelView


class StudyReviewPlanAdmin(CQMSModelView):
    manage_permission = "core.studies.manage"
    allow_create = True
    allow_edit = True
    column_list = ("study", "audit_review_days", "active", "created_at")
    column_labels = {"audit_review_days": "Days between reviews", "created_at": "Created (UTC)"}
    column_formatters = {"study": lambda v, c, m, n: m.study.code}
    column_formatters_export = column_formatters
    column_filters = ("active",)
    column_default_sort = "id"
    form_columns = ("study", "audit_review_days", "active", "reason")
    form_args: dict[str, Any] = {
        "audit_review_days": {"label": "Days between reviews",
                              "validators": [NumberRange(1, 366, message="From 1 to 366 days.")]},
    }
