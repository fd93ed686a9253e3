"""Schemathesis against our own OpenAPI document: every operation, as two roles, with generated
valid and invalid input. No 5xx, status codes and content types as documented, JSON bodies that
match their schemas. Derandomized, so a failure reproduces in CI."""

from __future__ import annotations

import io

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from kernel_plugin import make_plugin
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core import add_attachment, create_record, link_records, transition
from core.db import db
from core.studies import Site, Study
from core.testing import DEFAULT_PASSWORD, UNLIMITED_ATTEMPTS, end_test_read

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# Invalid input: whatever the answer, never a server error and never an undocumented shape.
NEGATIVE_CHECKS = [not_a_server_error, content_type_conformance]
EXAMPLES = 25
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)},
            **UNLIMITED_ATTEMPTS}


@pytest.fixture
def seeded(app, make_user, system_actor):
    study = Study(code="ST-1", title="Study one")
    site = Site(study=study, code="101", name="Berlin")
    db.session.add_all([study, site])
    db.session.commit()
    alice = make_user("alice", "author")
    make_user("quinn", "qa_manager")
    make_user("sam", "site_monitor", site=site)
    first = create_record("acme_widget", alice, title="First", description="Blue")
    second = create_record("acme_widget", alice, title="Second", description="Red",
                           study_id=study.id, site_id=site.id)
    db.session.commit()
    link_records(first, second, "relates_to", alice)
    add_attachment(first, alice, "spec.pdf", io.BytesIO(PDF))
    transition(second, "submit", alice)
    db.session.commit()
    return app


def fresh_g(app):  # type: ignore[no-untyped-def]
    """The app as a WSGI callable giving each request its own ``flask.g`` (the test's app
    context is otherwise reused, and with it the previous request's user), as the core's
    test client does."""
    from flask.globals import app_ctx

    def wsgi(environ, start_response):  # type: ignore[no-untyped-def]
        ctx = app_ctx._get_current_object()
        outer, ctx.g = ctx.g, app.app_ctx_globals_class()
        end_test_read()
        try:
            return app(environ, start_response)
        finally:
            ctx.g = outer

    return wsgi


class Bearer:
    """The caller's token, minted again if a generated DELETE revoked it."""

    def __init__(self, client, username):
        self.client, self.username = client, username
        self.renew()

    def renew(self):
        response = self.client.post("/api/v1/auth/tokens", json={
            "username": self.username, "password": DEFAULT_PASSWORD})
        assert response.status_code == 201, response.get_json()
        self.headers = {"Authorization": f"Bearer {response.get_json()['token']}"}


def fuzz(operation, mode, checks, bearer, failures) -> None:  # type: ignore[no-untyped-def]
    """Generated requests for one operation; failures are collected, not raised."""

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):  # type: ignore[no-untyped-def]
        response = case.call(headers=bearer.headers)
        try:
            case.validate_response(response, checks=checks)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported by the test
            failures.append(f"{operation.label} ({mode.value}): {exc}\n{case.as_curl_command()}")
        if response.status_code in (204, 401):
            bearer.renew()
        db.session.rollback()

    run()


@pytest.mark.req("SEC-03", "SEC-06")
@pytest.mark.parametrize("username", ["alice", "sam"])
def test_every_operation_holds_its_contract(seeded, username):
    app = seeded
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fresh_g(app))
    bearer = Bearer(app.test_client(), username)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        fuzz(operation, GenerationMode.POSITIVE, CHECKS, bearer, failures)
        fuzz(operation, GenerationMode.NEGATIVE, NEGATIVE_CHECKS, bearer, failures)
    assert not failures, "\n\n".join(failures[:10])
