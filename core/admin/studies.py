"""Studies and sites: the clinical dimension. Edited with a reason; never deleted."""

from __future__ import annotations

from typing import Any

from wtforms.validators import Length, Regexp

from core.admin.base import CQMSModelView

CODE_RULES = [Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$",
                     message="Use up to 40 letters, digits, '.', '_' or '-'.")]


class StudyAdmin(CQMSModelView):
    manage_permission = "core.studies.manage"
    allow_create = True
    allow_edit = True
    column_list = ("code", "title", "active", "created_at")
    column_searchable_list = ("code", "title")
    column_sortable_list = ("code", "title", "created_at")
    column_filters = ("active",)
    column_default_sort = "code"
    form_columns = ("code", "title", "description", "active", "reason")
    form_args = {"code": {"validators": CODE_RULES}, "title": {"validators": [Length(max=300)]}}


class SiteAdmin(CQMSModelView):
    manage_permission = "core.studies.manage"
    allow_create = True
    allow_edit = True
    column_list = ("study", "code", "name", "country", "active")
    column_formatters = {"study": lambda v, c, m, n: m.study.code}
    column_formatters_export = column_formatters
    column_searchable_list = ("code", "name")
    column_sortable_list = ("code", "name", "country")
    column_filters = ("active", "country")
    column_default_sort = "code"
    form_columns = ("study", "code", "name", "country", "active", "reason")
    form_args: dict[str, Any] = {
        "code": {"validators": CODE_RULES},
        "country": {"validators": [Regexp(r"^([A-Z]{2})?$", message="Two upper-case letters (ISO 3166).")]},
    }
