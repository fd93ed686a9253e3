"""The user's exports and other long work: newest first, progress while it runs (the page
refreshes itself), the file to download once done. Only the user who started a job sees it."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_admin import BaseView, expose
from flask_login import current_user

from core.errors import CQMSError
from core.jobs.service import job_of, jobs_of, result_of
from core.web.files import download_response

REFRESH_SECONDS = 2
STATE_LABELS = {"queued": "Waiting to start", "running": "In progress", "done": "Ready",
                "failed": "Failed"}


class JobsView(BaseView):
    @expose("/")
    def index(self) -> Any:
        jobs = jobs_of(current_user)
        return self.render("core/admin/jobs.html", jobs=jobs, labels=STATE_LABELS,
                           refresh=REFRESH_SECONDS if any(j.active for j in jobs) else None)

    @expose("/<int(max=2147483647):job_id>")
    def details(self, job_id: int) -> Any:
        job = job_of(current_user, job_id)
        if job is None:
            abort(404)
        return self.render("core/admin/job.html", job=job, labels=STATE_LABELS,
                           refresh=REFRESH_SECONDS if job.active else None)

    @expose("/<int(max=2147483647):job_id>/file")
    def download(self, job_id: int) -> Any:
        job = job_of(current_user, job_id)
        if job is None:
            abort(404)
        try:
            produced = result_of(job)
        except CQMSError as exc:
            return self.render("core/admin/job.html", job=job, labels=STATE_LABELS,
                               refresh=None, error=str(exc)), 409
        if produced is None:
            abort(404)
        return download_response(produced.data, produced.media_type, produced.filename)
