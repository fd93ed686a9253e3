"""The training matrix admin page: people x requirements in the viewer's scope, allow-listed
filters (role, study, site, user), keyset pages, and CSV/PDF exports of the whole filtered
matrix (POSTs with a CSRF token that queue a job: plugins.training.matrix_export)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import BaseView, expose

from core import Role, Site, Study, User, current_user, db
from plugins.training.matrix import Filters, build_matrix
from plugins.training.matrix_export import LABELS, start_matrix_export

PAGE_SIZE = 50
ALLOWED_PARAMS = {"role", "study", "site", "user", "after"}


class FilterError(ValueError):
    """A filter the matrix cannot apply: shown above the form with 400, never a stack trace."""


def _text(args: Any, name: str, limit: int = 64) -> str:
    value = args.get(name, "").strip()
    if len(value) > limit:
        raise FilterError(f"{name}: at most {limit} characters")
    return value


def parse_filters(args: Any) -> tuple[Filters, dict[str, str], str | None]:
    """The filters from the query string (validated), the values to keep in links, ``after``."""
    unknown = set(args) - ALLOWED_PARAMS
    if unknown:
        raise FilterError(f"Unknown filter: {', '.join(sorted(unknown))}")
    kept = {k: v.strip() for k, v in args.items() if k != "after" and v.strip()}
    role = _text(args, "role")
    if role and Role.by_key(role) is None:
        raise FilterError(f"role: no role {role!r}")
    study_id = site_id = None
    study = _text(args, "study")
    if study:
        found_study = Study.by_code(study)
        if found_study is None:
            raise FilterError(f"study: no study {study!r}")
        study_id = found_study.id
    site = _text(args, "site", 18)
    if site:
        if not site.isdigit():
            raise FilterError("site: choose a site from the list")
        found = Site.by_id(site)
        if found is None:
            raise FilterError("site: choose a site from the list")
        if study_id is not None and found.study_id != study_id:
            raise FilterError(f"site: {found.audit_label()} is not a site of {study}")
        site_id = found.id
    username = _text(args, "user")
    if username and User.by_username(username) is None:
        raise FilterError(f"user: no user {username!r}")
    after = _text(args, "after") or None
    return Filters(role or None, study_id, site_id, username or None), kept, after


def _describe(kept: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(kept.items())) or "none"


class MatrixView(BaseView):
    def _render(self, **kwargs: Any) -> Any:
        roles = [role.key for role in Role.pick_list()]
        studies, sites = Study.pick_list(), Site.pick_list()
        values = {"matrix": None, "args": {}, "error": "", "labels": LABELS}
        values.update(kwargs)
        return self.render("training/matrix.html", roles=roles, studies=studies, sites=sites,
                           **values)

    def _filtered(self) -> tuple[Filters, dict[str, str], str | None]:
        return parse_filters(request.args)

    @expose("/")
    def index(self) -> Any:
        try:
            filters, kept, after = self._filtered()
        except FilterError as exc:
            kept = {k: v for k, v in request.args.items() if k in ALLOWED_PARAMS and v}
            return self._render(args=kept, error=str(exc)), 400
        matrix = build_matrix(current_user, filters, after=after, limit=PAGE_SIZE)
        return self._render(matrix=matrix, args=kept)

    @expose("/export.csv", methods=["POST"])
    def export_csv(self) -> Any:
        return self._export("csv")

    @expose("/export.pdf", methods=["POST"])
    def export_pdf(self) -> Any:
        return self._export("pdf")

    def _export(self, fmt: str) -> Any:
        """Queue the export of the whole filtered matrix and show its progress."""
        try:
            filters, kept, _after = self._filtered()
        except FilterError as exc:
            return self._render(error=str(exc)), 400
        job = start_matrix_export(current_user._get_current_object(), fmt, filters,
                                  _describe(kept))
        db.session.commit()
        flash("Your export is being prepared. It stays under My exports for you to download.",
              "info")
        return redirect(url_for("core_jobs.details", job_id=job.id))
