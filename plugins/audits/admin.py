"""Admin page of the checklist templates (versioned: a version never changes; retire it and
save the next version under the same key)."""

from __future__ import annotations

from core import CQMSModelView


class TemplateAdmin(CQMSModelView):
    manage_permission = "audits.plan"
    allow_create = True
    allow_edit = True
    column_list = ("title", "key", "version", "active")
    column_default_sort = ("key", False)
    form_columns = ("key", "version", "title", "questions", "active", "reason")
    form_args = {"questions": {"description": "One question a line: the question | the evidence "
                                              "expected. Fixed once saved (a new version is a "
                                              "new template of the same key)."},
                 "key": {"description": "Lower-case letters, digits and _ (site_gcp)."}}
