"""``/api/v1/jobs``: the caller's long work (exports): its state and progress, then its file.
Another user's job answers 404, as one that does not exist."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import fields

from core.api import schemas
from core.errors import ConflictError
from core.jobs.service import job_of, jobs_of, result_of
from core.permissions import login_only
from core.web.files import download_response

blp = Blueprint("core_api_jobs", __name__, url_prefix="/api/v1", description="Jobs (exports)")


class JobOut(schemas.Schema):
    id = fields.Integer()
    kind = fields.String()
    label = fields.String()
    state = fields.String(metadata={"description": "queued, running, done or failed"})
    step = fields.String(metadata={"description": "what it is doing now"})
    done = fields.Integer()
    total = fields.Integer()
    percent = fields.Integer()
    error = fields.String(metadata={"description": "why it failed"})
    created_at = fields.AwareDateTime()
    finished_at = fields.AwareDateTime(allow_none=True)
    file = fields.Function(lambda job: {
        "filename": job.result_name, "media_type": job.result_type, "size": job.result_size,
        "sha256": job.result_sha256, "href": f"/api/v1/jobs/{job.id}/file",
    } if job.state == "done" and job.result_name else None)


class JobList(schemas.Schema):
    items = fields.List(fields.Nested(JobOut))


def _own(job_id: int) -> Any:
    job = job_of(current_user, job_id)
    if job is None:
        abort(404, description=f"You have no job {job_id}.")
    return job


@blp.route("/jobs")
@login_only
@blp.response(200, JobList)
@blp.alt_response(401, schema=schemas.Problem)
def list_jobs() -> Any:
    """Your 50 newest jobs, newest first."""
    return {"items": jobs_of(current_user)}


@blp.route("/jobs/<int(max=2147483647):job_id>")
@login_only
@blp.response(200, JobOut)
@blp.alt_response(401, schema=schemas.Problem)
@blp.alt_response(404, schema=schemas.Problem)
def get_job(job_id: int) -> Any:
    """One of your jobs: poll it until ``state`` is done or failed."""
    return _own(job_id)


@blp.route("/jobs/<int(max=2147483647):job_id>/file")
@login_only
@blp.response(200, content_type="application/octet-stream")
@blp.alt_response(401, schema=schemas.Problem)
@blp.alt_response(404, schema=schemas.Problem)
@blp.alt_response(409, schema=schemas.Problem)
def job_file(job_id: int) -> Any:
    """The file a finished job made (its SHA-256 is checked before it is sent)."""
    job = _own(job_id)
    produced = result_of(job)
    if produced is None:
        raise ConflictError(f"job {job_id} has no file ({job.state})")
    return download_response(produced.data, produced.media_type, produced.filename)
