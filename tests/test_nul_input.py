"""A NUL character (or a lone surrogate) anywhere in a request's text is refused before it can
reach a query: 400 for the path, query string and form fields (problem+json naming the
parameter under /api/), 422 naming the field for API bodies. PostgreSQL cannot store NUL in
text and answered 500. File contents are bytes and stay untouched."""

from __future__ import annotations

import io

import pytest
from flask import url_for
from flask_admin.contrib.sqla import ModelView
from kernel_plugin import make_plugin
from sqlalchemy import func, select

from core import create_record
from core.attachments.models import Attachment
from core.db import db
from core.records.models import Record
from core.testing import DEFAULT_PASSWORD, csrf_token
from core.users.models import Role
from core.users.service import get_user

API = "/api/v1"
NUL = "\x00"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n\x00\x00 binary\n%%EOF\n"

pytestmark = pytest.mark.backends("sqlite", "postgresql")


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["documents", "training", "capa", "audits", "acme"],
            "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def everyone(app, make_user):
    """``root`` holds every role, so every admin list is open to them."""
    return make_user("root", *db.session.scalars(select(Role.key)).all())


@pytest.fixture
def signed_in(client, everyone, login):
    assert login(client, "root").status_code == 302
    return client


@pytest.fixture
def bearer(client, everyone):
    response = client.post(f"{API}/auth/tokens", json={"username": "root",
                                                       "password": DEFAULT_PASSWORD})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def _root():  # type: ignore[no-untyped-def]
    return get_user("root")


def admin_pages(app):  # type: ignore[no-untyped-def]
    """(view, URL of its list or page) for every admin view."""
    pages = []
    for view in app.extensions["cqms"].admin._views:
        name = "index_view" if hasattr(view, "index_view") else "index"
        with app.test_request_context():
            pages.append((view, url_for(f"{view.endpoint}.{name}")))
    assert len(pages) >= 25
    return pages


def assert_refused(response, status=400, field=None):  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    if response.mimetype == "application/problem+json":
        body = response.get_json()
        assert "NUL" in body["detail"]
        if field is not None:
            assert field in body["errors"], body


@pytest.mark.plugins("documents", "training", "capa", "audits")
@pytest.mark.req("SEC-13", "SEC-05")
def test_every_admin_list_refuses_nul_in_search_and_filters(app, signed_in):
    client = signed_in
    filters = 0
    for view, url in admin_pages(app):
        assert client.get(url).status_code == 200, url
        assert_refused(client.get(url, query_string={"search": f"x{NUL}y"}))
        if isinstance(view, ModelView):
            for index in range(len(view._filters or ())):
                assert_refused(client.get(url, query_string={f"flt0_{index}": f"{NUL}1"}))
                filters += 1
    assert filters >= 40  # a pick list per state filter, not six text operations


@pytest.mark.req("SEC-13", "A11-04")
def test_the_api_refuses_nul_in_path_query_and_body(app, bearer, client):
    record = create_record("acme_widget", _root(), title="Pump")
    db.session.commit()
    assert_refused(client.get(f"{API}/records/by-number/%00", headers=bearer), field="path")
    for name in ("q", "state", "owner", "after", "sort"):
        assert_refused(client.get(f"{API}/records/acme_widget", headers=bearer,
                                  query_string={name: f"a{NUL}"}), field=name)
    assert_refused(client.get(f"{API}/audit", headers=bearer,
                              query_string={"record": NUL}), field="record")
    before = db.session.scalar(select(func.count()).select_from(Record))
    assert_refused(client.post(f"{API}/records/acme_widget", headers=bearer,
                               json={"title": f"Pump{NUL}"}), 422, "title")
    assert_refused(client.post(f"{API}/records/acme_widget", headers=bearer,
                               json={"title": "Pump", f"ti{NUL}tle": "x"}), 422)
    url = f"{API}/records/acme_widget/{record.id}"
    assert_refused(client.post(f"{url}/links", headers=bearer,
                               json={"target": NUL, "kind": "relates_to"}), 422, "target")
    assert_refused(client.post(f"{url}/attachments", headers=bearer, data={
        "file": (io.BytesIO(PDF), "spec.pdf", "application/pdf"), "reason": NUL}), 422, "reason")
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Record)) == before


def test_file_contents_with_nul_bytes_are_accepted(app, bearer, client):
    record = create_record("acme_widget", _root(), title="Pump")
    db.session.commit()
    response = client.post(f"{API}/records/acme_widget/{record.id}/attachments", headers=bearer,
                           data={"file": (io.BytesIO(PDF), "spec.pdf", "application/pdf")})
    assert response.status_code == 201, response.get_json()
    assert db.session.scalar(select(Attachment.size)) == len(PDF)


@pytest.mark.req("SEC-13")
def test_forms_and_the_sign_in_page_refuse_nul(app, signed_in):
    client = signed_in
    token = csrf_token(client, "/admin/core_studies/new/")
    response = client.post("/admin/core_studies/new/", data={
        "csrf_token": token, "code": f"S{NUL}1", "title": "Study", "reason": "test"})
    assert_refused(response)
    assert "NUL" in response.get_data(as_text=True)
    anonymous = app.test_client()
    token = csrf_token(anonymous, "/login")
    assert_refused(anonymous.post("/login", data={"csrf_token": token, "username": f"root{NUL}",
                                                  "password": "x", "totp": ""}))
