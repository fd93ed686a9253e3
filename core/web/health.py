"""``GET /healthz``: liveness and database reachability, for load balancers and monitors."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, url_for
from sqlalchemy import text

from core.db import db
from core.permissions import public

blueprint = Blueprint("core_health", __name__)


@blueprint.get("/healthz")
@public
def healthz():  # type: ignore[no-untyped-def]
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:  # noqa: BLE001 - report, never raise, from a health probe
        db.session.rollback()
        database = "unreachable"
    status = "ok" if database == "ok" else "degraded"
    return jsonify(status=status, database=database), 200 if status == "ok" else 503


@blueprint.get("/")
@public
def index():  # type: ignore[no-untyped-def]
    return redirect(url_for("admin.index"))
