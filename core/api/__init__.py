"""The JSON API under ``/api/v1`` (flask-smorest, OpenAPI 3.1).

Bearer tokens only (``POST /api/v1/auth/tokens``); session cookies are ignored there, so the
API needs no CSRF token. Errors are problem+json from ``core.web.errors``. Plugins add
blueprints with ``register_api_blueprints``; they join the same OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api

from core.api import (
    audit,
    docs,
    jobs,
    records,
    system_review,
    tasks,
    tokens_views,
    verifications,
)
from core.extensions import csrf
from core.state import CQMSState

API_PREFIX = "/api/v1"


class CQMSApi(Api):
    """flask-smorest's Api without its app-wide error handler: the core's handler answers
    problem+json under /api/ and HTML pages elsewhere."""

    def _register_error_handlers(self) -> None:
        pass


def install_api(app: Flask, state: CQMSState) -> CQMSApi:
    app.config.update(
        API_TITLE="CQMS API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        API_SPEC_OPTIONS={
            "info": {"description": "Every action of the user interface. Authenticate with "
                                    "`Authorization: Bearer <token>` from POST /auth/tokens."},
            "servers": [{"url": "/"}],
            "security": [{"bearer": []}],
        },
    )
    api = CQMSApi(app)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    blueprints: list[Any] = [tokens_views.blp, records.blp, audit.blp, tasks.blp, jobs.blp,
                              system_review.blp, docs.blp, verifications.blp]
    blueprints += [bp for _plugin, bp in state.registry.api_blueprints]
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
        csrf.exempt(blueprint)
        state.api_blueprints.add(blueprint.name)
    app.register_blueprint(docs.page)
    state.api = api
    return api
