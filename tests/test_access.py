"""Access control and web hardening: deny by default, CSRF, headers, redirects, error pages."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import flask_smorest
import pytest
from flask import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import func, select
from werkzeug.routing.converters import AnyConverter, IntegerConverter

from core.audit.models import AuditEntry
from core.db import utcnow
from core.permissions import (
    checks_in_view,
    login_only,
    policy_for,
    public,
    requires,
    requires_any,
)
from core.testing import DEFAULT_PASSWORD, csrf_token, routes_without_policy
from core.users.models import User

PUBLIC_ENDPOINTS = {
    "static",
    "admin.static",
    "core_auth.login",
    "core_health.healthz",
    "core_health.index",  # only redirects to the dashboard, which is protected
    "core_api_auth.create_token",  # a sign-in: the credentials are in the body
    "core_api_docs.openapi_json",
    "core_api_docs_page.docs_page",
    "core_api_docs_page.docs_asset",
}
ACCOUNT_ENDPOINTS = {"core_auth.logout", "core_auth.change_password", "core_auth.totp_enrol",
                     "core_tokens.tokens", "core_tokens.revoke", "core_devices.authenticator",
                     "core_delegations.delegations", "core_delegations.end"}
API = "/api/"
PROBLEM_JSON = "application/problem+json"
JSON = {"Accept": "application/json"}
SECRET_IN_ERROR = "internal-detail-7f3a"


# Test classes override the harness's ``app_config`` fixture for per-test configuration.


# -- helpers ---------------------------------------------------------------------------------------


def sample_path(rule) -> str:
    """The rule's URL with simple values for its parameters."""
    values = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, IntegerConverter):
            values[name] = 1
        elif isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        else:
            values[name] = "x"
    return rule.build(values)[1]


def walk(app, methods: set[str] | None = None):
    """(endpoint, method, path) for every rule and method of the URL map."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(rule.methods):
            if methods is None or method in methods:
                yield rule.endpoint, method, sample_path(rule)


def token_for(client, username: str) -> dict[str, str]:
    response = client.post(f"{API}v1/auth/tokens",
                           json={"username": username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def audit_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEntry))


def location_path(response) -> str:
    return urlsplit(response.headers["Location"]).path


def next_of(response) -> list[str]:
    return parse_qs(urlsplit(response.headers["Location"]).query).get("next", [])


# -- deny by default: the URL map walk -------------------------------------------------------------


@pytest.mark.plugins("documents", "training", "capa", "audits")
@pytest.mark.req("SEC-01", "P11-04")
def test_every_route_declares_an_access_policy(app):
    """Web, admin and API routes alike (the API has no implicit policy)."""
    assert routes_without_policy(app) == []
    with app.test_request_context():
        api = [r.endpoint for r in app.url_map.iter_rules() if r.rule.startswith(API)]
        assert len(api) > 20 and all(policy_for(endpoint) for endpoint in api)


@pytest.mark.plugins("documents", "training")
@pytest.mark.req("SEC-01", "P11-04")
def test_plugin_api_routes_declare_the_permission_they_need(app):
    """Documents and training: every API view names its permission (the core checks it before
    the view runs); none relies on a check inside the view alone."""
    state = app.extensions["cqms"]
    owners = {bp.name: plugin for plugin, bp in state.registry.api_blueprints}
    assert set(owners.values()) >= {"documents", "training"}
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            plugin = owners.get(rule.endpoint.rpartition(".")[0])
            if plugin is not None:
                policy = policy_for(rule.endpoint)
                found.append((rule.endpoint, policy.kind if policy else None))
    assert len(found) >= 10
    assert [f for f in found if f[1] != "permission"] == []
    assert all(p.startswith(owners[e.rpartition(".")[0]] + ".")
               for e, _ in found for p in policy_for(e).permissions)


@pytest.mark.plugins("documents", "training", "capa", "audits")
@pytest.mark.req("SEC-01", "SEC-02", "P11-04")
def test_api_caller_without_permissions_is_refused_everywhere(app, client, make_user):
    """A bearer token of a user holding no role: every API route declaring permissions answers
    403 problem+json before its body or query is read; routes checking the record type's
    permission in the view answer 403 (or 404: nothing to find)."""
    make_user("nobody")
    headers = {**JSON, **token_for(client, "nobody")}
    wrong, checked = [], 0
    with app.test_request_context():
        policies = {r.endpoint: policy_for(r.endpoint) for r in app.url_map.iter_rules()}
    for endpoint, method, path in walk(app):
        policy = policies[endpoint]
        if not path.startswith(API) or method in ("OPTIONS", "HEAD") or policy.kind in (
                "public", "login"):
            continue
        path = path.replace("/records/x/", "/records/documents_document/")
        answer = client.open(path, method=method, headers=headers, json={"bogus": "\x01"})
        expected = {403} if policy.kind == "permission" else {403, 404}
        if answer.status_code not in expected or answer.mimetype != PROBLEM_JSON:
            wrong.append((method, path, answer.status_code))
        checked += 1
    assert checked > 20
    assert wrong == []


@pytest.mark.plugins("documents", "training", "capa", "audits")
@pytest.mark.req("SEC-01", "P11-04")
def test_anonymous_requests_are_refused_on_every_route(app, client):
    token = csrf_token(client, "/login")  # a valid token, so the access policy is what answers
    wrong = []
    checked = 0
    for endpoint, method, path in walk(app):
        if endpoint in PUBLIC_ENDPOINTS:
            continue
        data = {"csrf_token": token} if method == "POST" else None
        page = client.open(path, method=method, data=data)
        if path.startswith(API):  # the API never redirects: 401 problem+json
            if method == "OPTIONS" and page.status_code == 200 and not page.data:
                continue  # Flask's automatic answer on a path with a public method
            if page.status_code != 401 or (method != "HEAD" and page.mimetype != PROBLEM_JSON):
                wrong.append((method, path, "api", page.status_code, page.mimetype))
            checked += 1
            continue
        if page.status_code != 302 or location_path(page) != "/login":
            wrong.append((method, path, "html", page.status_code, page.headers.get("Location")))
        elif method == "GET" and next_of(page) != [path]:
            wrong.append((method, path, "next", page.headers["Location"]))
        api = client.open(path, method=method, data=data, headers={**JSON, "X-CSRFToken": token})
        if api.status_code != 401 or (method != "HEAD" and api.mimetype != PROBLEM_JSON):
            wrong.append((method, path, "json", api.status_code, api.mimetype))
        checked += 1
    assert checked > 50  # the walk really covered the admin views
    assert wrong == []


@pytest.mark.req("SEC-01")
def test_public_routes_answer_anonymously(client):
    assert client.get("/login").status_code == 200
    assert client.get("/healthz").status_code == 200
    with client.get("/static/core/cqms.css") as asset:
        assert asset.status_code == 200
    home = client.get("/")
    assert home.status_code == 302 and location_path(home) == "/admin/"
    assert client.get("/admin/").status_code == 302  # ... where sign-in is required


@pytest.mark.plugins("documents", "training", "capa", "audits")
@pytest.mark.req("SEC-01", "SEC-02", "P11-04")
def test_user_without_permissions_is_refused_everywhere(app, client, make_user, login):
    make_user("nobody")  # an account holding no role at all
    assert login(client, "nobody").status_code == 302
    token = csrf_token(client, "/account/password")
    wrong = []
    for endpoint, method, path in walk(app):
        if endpoint in PUBLIC_ENDPOINTS or endpoint in ACCOUNT_ENDPOINTS:
            continue
        data = {"csrf_token": token} if method == "POST" else None
        page = client.open(path, method=method, data=data)
        if path.startswith(API):  # a browser session does not count there
            if method == "OPTIONS" and page.status_code == 200 and not page.data:
                continue  # Flask's automatic answer on a path with a public method
            if page.status_code != 401 or (method != "HEAD" and page.mimetype != PROBLEM_JSON):
                wrong.append((method, path, "api", page.status_code, page.mimetype))
            continue
        if method == "OPTIONS":
            # Flask's automatic OPTIONS answer lists the methods and nothing else.
            if page.status_code not in (200, 403) or page.data:
                wrong.append((method, path, page.status_code, page.data[:80]))
            continue
        if page.status_code != 403:
            wrong.append((method, path, "html", page.status_code, page.headers.get("Location")))
        api = client.open(path, method=method, data=data, headers={**JSON, "X-CSRFToken": token})
        if api.status_code != 403 or (method != "HEAD" and api.mimetype != PROBLEM_JSON):
            wrong.append((method, path, "json", api.status_code, api.mimetype))
    assert wrong == []
    # Their own account pages stay open to them.
    assert client.get("/account/password").status_code == 200
    assert client.get("/account/totp").status_code == 200


@pytest.mark.plugins("documents", "training", "capa", "audits")
@pytest.mark.req("SEC-02", "P11-04")
def test_admin_views_follow_the_declared_role_permissions(app, client, make_user, login):
    """Every role x every admin view: 200 exactly when the role holds the view's permission."""
    state = app.extensions["cqms"]
    views = [v for v in state.admin._views if getattr(v, "cqms_permission", "")]
    assert len(views) >= 10
    mismatches = []
    for role in sorted(state.registry.roles.values(), key=lambda r: r.key):
        make_user(f"u.{role.key}".replace("_", "-"), role.key)
        other = app.test_client()
        assert login(other, f"u.{role.key}".replace("_", "-")).status_code == 302
        for view in views:
            expected = 200 if view.cqms_permission in role.permissions else 403
            got = other.get(view.url.rstrip("/") + "/").status_code
            if got != expected:
                mismatches.append((role.key, view.endpoint, view.cqms_permission, expected, got))
    assert mismatches == []


@pytest.mark.req("SEC-02", "P11-04")
def test_view_permission_does_not_grant_account_actions(client, db, make_user, login, system_actor):
    """qa_manager may view users but not unlock them: the request changes nothing."""
    make_user("quinn", "qa_manager")
    target = make_user("locky", "author")
    target.locked_at = utcnow()
    db.session.commit()
    login(client, "quinn")
    details = f"/admin/core_users/details/?id={target.id}"
    assert client.get(details).status_code == 200
    before = audit_count(db)
    token = csrf_token(client, details)
    response = client.post(
        f"/admin/core_users/{target.id}/unlock", data={"csrf_token": token, "reason": "please"}
    )
    assert response.status_code == 403
    db.session.refresh(target)
    assert target.is_locked
    assert audit_count(db) == before


@pytest.mark.plugins("training")
@pytest.mark.req("SEC-02", "P11-04")
def test_disabled_plugin_routes_answer_404(client, make_user, login):
    make_user("root", "system_admin")
    login(client, "root")
    assert client.get("/admin/training_settings/").status_code == 200
    token = csrf_token(client, "/admin/core_plugins/")
    response = client.post(
        "/admin/core_plugins/training/disable",
        data={"csrf_token": token, "reason": "not used at this company"},
    )
    assert response.status_code == 302
    assert client.get("/admin/training_settings/").status_code == 404
    assert client.get("/admin/training_settings/", headers=JSON).mimetype == PROBLEM_JSON
    # The core's own views do not depend on plugins.
    assert client.get("/admin/core_users/").status_code == 200


# -- a plugin's own routes: deny by default, declared policies, gating, error pages ----------------


def acme_blueprint() -> Blueprint:
    bp = Blueprint("acme", __name__)

    @bp.route("/acme/bare", methods=["GET", "POST"])
    def bare():  # no policy declared: must never be served
        return "served without a policy"

    @bp.get("/acme/mine")
    @login_only
    def mine():
        return "any signed-in user"

    @bp.get("/acme/audit")
    @requires("core.audit.view")
    def audit():
        return "holders of core.audit.view"

    @bp.get("/acme/boom")
    @public
    def boom():
        raise RuntimeError(f"database password is {SECRET_IN_ERROR}")

    return bp


class TestPluginRoutes:
    @pytest.fixture
    def app_config(self, temp_plugin) -> dict[str, Any]:
        blueprint = acme_blueprint()
        plugin = temp_plugin("acme", register_blueprints=lambda: [blueprint])
        return {"plugins": ["acme"], "extra_plugins": {"acme": plugin}}

    @pytest.mark.req("SEC-01", "P11-04")
    def test_route_without_policy_is_refused_to_everyone(self, app, client, make_user, login):
        anonymous = client.get("/acme/bare")
        assert anonymous.status_code == 403
        assert "served without a policy" not in anonymous.get_data(as_text=True)
        make_user("root", "system_admin")
        login(client, "root")
        assert client.get("/acme/bare").status_code == 403
        token = csrf_token(client, "/account/password")
        assert client.post("/acme/bare", data={"csrf_token": token}).status_code == 403

    @pytest.mark.req("SEC-01", "SEC-02", "P11-04")
    def test_declared_policies_are_enforced(self, app, client, make_user, login):
        make_user("arthur", "author")
        make_user("ingrid", "inspector")
        assert location_path(client.get("/acme/mine")) == "/login"
        assert client.get("/acme/audit", headers=JSON).status_code == 401
        login(client, "arthur")
        assert client.get("/acme/mine").get_data(as_text=True) == "any signed-in user"
        assert client.get("/acme/audit").status_code == 403
        inspector = app.test_client()
        login(inspector, "ingrid")
        assert inspector.get("/acme/audit").status_code == 200

    @pytest.mark.req("SEC-02", "P11-04")
    def test_disabled_plugin_routes_are_gone(self, app, client, make_user, login):
        make_user("root", "system_admin")
        login(client, "root")
        assert client.get("/acme/mine").status_code == 200
        token = csrf_token(client, "/admin/core_plugins/")
        client.post(
            "/admin/core_plugins/acme/disable", data={"csrf_token": token, "reason": "trial over"}
        )
        assert client.get("/acme/mine").status_code == 404
        assert client.get("/acme/audit").status_code == 404

    @pytest.mark.req("SEC-13")
    def test_unexpected_error_is_generic(self, client):
        page = client.get("/acme/boom")
        assert page.status_code == 500
        text = page.get_data(as_text=True)
        assert "Something went wrong on our side" in text
        for leak in (SECRET_IN_ERROR, "Traceback", "RuntimeError", 'File "'):
            assert leak not in text
        assert page.headers["X-Content-Type-Options"] == "nosniff"

        api = client.get("/acme/boom", headers=JSON)
        assert api.status_code == 500
        assert api.mimetype == PROBLEM_JSON
        body = api.get_json()
        assert body["status"] == 500 and body["title"]
        assert SECRET_IN_ERROR not in api.get_data(as_text=True)
        assert "Traceback" not in api.get_data(as_text=True)


def acme_api_blueprint() -> Any:
    blp = flask_smorest.Blueprint("acme_api", __name__, url_prefix="/api/v1/acme")

    class Body(Schema):
        name = fields.String(required=True)

    @blp.route("/bare")
    def bare():  # no permission declared: must never be served
        return {"served": "without a policy"}

    @blp.route("/sneaky")
    @checks_in_view  # the core's own marker means nothing on a plugin's view
    def sneaky():
        return {"served": "without a declared permission"}

    @blp.route("/trail")
    @requires("core.audit.view")
    def trail():
        return {"served": "to holders of core.audit.view"}

    @blp.route("/notes", methods=["POST"])
    @requires("core.audit.view")
    @blp.arguments(Body)
    def notes(body):
        return {"name": body["name"]}

    @blp.route("/either")
    @requires_any("core.plugins.manage", "core.users.view")
    def either():
        return {"served": "to holders of either"}

    return blp


class TestPluginApiRoutes:
    """Deny by default for plugin APIs: a view without a declared permission answers 403."""

    @pytest.fixture
    def app_config(self, temp_plugin) -> dict[str, Any]:
        blueprint = acme_api_blueprint()
        plugin = temp_plugin("acme", register_api_blueprints=lambda: [blueprint])
        return {"plugins": ["acme"], "extra_plugins": {"acme": plugin}}

    @pytest.mark.req("SEC-01", "P11-04")
    @pytest.mark.backends("sqlite", "postgresql")
    def test_the_route_walk_names_an_undeclared_api_route(self, app):
        assert routes_without_policy(app) == ["acme_api.bare", "acme_api.sneaky"]

    @pytest.mark.req("SEC-01", "P11-04")
    def test_undeclared_api_route_is_refused_to_everyone(self, client, make_user):
        make_user("root", "system_admin", "inspector")
        headers = token_for(client, "root")
        for path in ("/api/v1/acme/bare", "/api/v1/acme/sneaky"):
            for answer in (client.get(path), client.get(path, headers=headers)):
                assert answer.status_code == 403 and answer.mimetype == PROBLEM_JSON
                assert "served" not in answer.get_data(as_text=True)

    @pytest.mark.req("SEC-01", "SEC-02", "P11-04")
    def test_declared_api_permissions_are_enforced_before_the_body(self, client, make_user):
        make_user("arthur", "author")
        make_user("ingrid", "inspector")
        arthur, ingrid = token_for(client, "arthur"), token_for(client, "ingrid")
        assert client.get("/api/v1/acme/trail").status_code == 401
        refused = client.get("/api/v1/acme/trail", headers=arthur)
        assert refused.status_code == 403 and refused.mimetype == PROBLEM_JSON
        assert refused.get_json()["detail"] == "core.audit.view is required."
        assert client.get("/api/v1/acme/trail", headers=ingrid).status_code == 200
        # 403 before the body is validated: the body's rules are not the caller's business.
        assert client.post("/api/v1/acme/notes", json={}, headers=arthur).status_code == 403
        assert client.post("/api/v1/acme/notes", json={}, headers=ingrid).status_code == 422
        assert client.post("/api/v1/acme/notes", json={"name": "x"},
                           headers=ingrid).get_json() == {"name": "x"}
        either = client.get("/api/v1/acme/either", headers=arthur)
        assert either.get_json()["detail"] == ("core.plugins.manage or core.users.view is "
                                               "required.")
        # The inspector holds core.users.view, not core.plugins.manage: one is enough.
        assert client.get("/api/v1/acme/either", headers=ingrid).status_code == 200


# -- CSRF ------------------------------------------------------------------------------------------


@pytest.mark.req("SEC-03")
def test_login_without_csrf_token_is_refused(client, db, make_user):
    make_user("alice", "qa_manager")
    client.get("/login")
    before = audit_count(db)
    response = client.post("/login", data={"username": "alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == 400
    assert "The form expired or was not sent from this site" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    assert audit_count(db) == before


@pytest.mark.req("SEC-03")
def test_logout_without_csrf_token_is_refused(client, make_user, login):
    make_user("alice", "qa_manager")
    login(client, "alice")
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/admin/").status_code == 200  # still signed in


@pytest.mark.req("SEC-03", "A11-12")
def test_admin_account_action_needs_csrf_token(client, db, make_user, login, system_actor):
    make_user("root", "system_admin")
    target = make_user("locky", "author")
    target.locked_at = utcnow()
    db.session.commit()
    login(client, "root")
    action = f"/admin/core_users/{target.id}/unlock"
    before = audit_count(db)
    response = client.post(action, data={"reason": "verified by phone"})
    assert response.status_code == 400
    db.session.refresh(target)
    assert target.is_locked
    assert audit_count(db) == before

    token = csrf_token(client, f"/admin/core_users/details/?id={target.id}")
    response = client.post(action, data={"csrf_token": token, "reason": "verified by phone"})
    assert response.status_code == 302
    db.session.refresh(target)
    assert not target.is_locked
    [entry] = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "user.unlocked",
                                 AuditEntry.entity_id == str(target.id))
    )
    assert entry.reason == "verified by phone"
    assert entry.actor_name == "Root Tester (root)"


@pytest.mark.plugins("documents", "training", "capa", "audits")
@pytest.mark.req("SEC-03")
def test_every_post_endpoint_refuses_a_missing_token(app, client, db, make_user, login):
    """A signed-in administrator, every POST route: 400 and nothing written."""
    make_user("root", "system_admin")
    login(client, "root")
    before = audit_count(db)
    users_before = db.session.scalar(select(func.count()).select_from(User))
    wrong = []
    for endpoint, _method, path in walk(app, {"POST"}):
        data = {"reason": "no token", "username": "mallory", "full_name": "Mallory",
                "initial_password": "Whatever-Long-Enough-1", "action": "delete", "rowid": "1"}
        response = client.post(path, data=data)
        # The API takes no cookie (so no CSRF token either): the session is not enough (401);
        # the token sign-in wants JSON credentials (422).
        expected = (422 if endpoint == "core_api_auth.create_token"
                    else 401 if path.startswith(API) else 400)
        if response.status_code != expected:
            wrong.append((path, response.status_code))
    assert wrong == []
    assert audit_count(db) == before
    assert db.session.scalar(select(func.count()).select_from(User)) == users_before
    assert client.get("/admin/").status_code == 200  # logout without a token did nothing


# -- security headers ------------------------------------------------------------------------------


def assert_hardened(response) -> None:
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin")


@pytest.mark.req("SEC-10")
@pytest.mark.backends("sqlite", "postgresql")
def test_login_page_headers_and_csp_nonce(client):
    first = client.get("/login")
    assert_hardened(first)
    assert first.headers["Cache-Control"] == "no-store"
    nonce = re.search(r"'nonce-([^']+)'", first.headers["Content-Security-Policy"]).group(1)
    page_nonces = set(re.findall(r'nonce="([^"]+)"', first.get_data(as_text=True)))
    assert page_nonces == {nonce}  # every inline-capable tag carries this response's nonce
    second = client.get("/login")
    assert f"'nonce-{nonce}'" not in second.headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in first.headers  # plain HTTP in tests


@pytest.mark.plugins("documents", "training", "capa", "audits")
@pytest.mark.req("SEC-10")
def test_every_html_page_of_a_signed_in_user_is_hardened(app, client, make_user, login):
    make_user("root", "system_admin")
    login(client, "root")
    checked = 0
    for endpoint, _method, path in walk(app, {"GET"}):
        # Swagger UI needs inline styles on its page (scripts stay nonce-only: tested in test_api)
        if endpoint.endswith("static") or endpoint in ("core_auth.login",
                                                       "core_api_docs_page.docs_page"):
            continue
        response = client.get(path)
        assert_hardened(response)
        assert response.headers.get("Cache-Control") == "no-store", path
        checked += response.mimetype == "text/html"
    assert checked > 20


@pytest.mark.req("SEC-10")
def test_anonymous_error_pages_are_hardened(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert_hardened(response)


class TestForceHttps:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"FORCE_HTTPS": True}

    @pytest.mark.req("SEC-10", "P11-14")
    def test_plain_http_is_redirected_and_hsts_sent(self, client):
        response = client.get("/login?x=1", base_url="http://localhost")
        assert response.status_code in (301, 308)
        assert response.headers["Location"] == "https://localhost/login?x=1"
        secure = client.get("/login", base_url="https://localhost")
        assert secure.status_code == 200
        assert "max-age=" in secure.headers["Strict-Transport-Security"]
        assert_hardened(secure)

    def test_the_health_probe_answers_on_plain_http(self, client):
        # A load balancer checks each node on its private port; sign-in pages stay redirected.
        probe = client.get("/healthz", base_url="http://localhost")
        assert probe.status_code == 200 and probe.get_json()["status"] == "ok"


# -- open redirects --------------------------------------------------------------------------------


@pytest.mark.req("SEC-12")
@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "evil.example",
    ],
)
def test_login_next_refuses_other_origins(client, make_user, login, target):
    make_user("alice", "qa_manager")
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"csrf_token": token, "username": "alice", "password": DEFAULT_PASSWORD},
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location == "/admin/", location


@pytest.mark.req("SEC-12")
def test_login_next_follows_same_origin_paths(client, make_user):
    make_user("alice", "qa_manager")
    token = csrf_token(client, "/login")
    response = client.post(
        "/login?next=/admin/core_audit/?page=2",
        data={"csrf_token": token, "username": "alice", "password": DEFAULT_PASSWORD},
    )
    assert response.headers["Location"] == "/admin/core_audit/?page=2"


@pytest.mark.req("SEC-12")
def test_anonymous_redirect_round_trip_keeps_the_path(client, make_user):
    make_user("alice", "qa_manager")
    bounced = client.get("/admin/core_users/")
    assert bounced.status_code == 302
    login_url = bounced.headers["Location"]
    token = csrf_token(client, login_url)
    response = client.post(
        login_url, data={"csrf_token": token, "username": "alice", "password": DEFAULT_PASSWORD}
    )
    assert response.headers["Location"] == "/admin/core_users/"


@pytest.mark.req("SEC-12")
@pytest.mark.parametrize("target", ["https://evil.example/x", "//evil.example", "/\\evil.example"])
def test_admin_url_parameter_refuses_other_origins(client, make_user, login, target):
    make_user("root", "system_admin")
    login(client, "root")
    # Flask-Admin's edit view without an id goes straight back to ``url``.
    response = client.get("/admin/core_users/edit/", query_string={"url": target})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost")
    assert not location.path.startswith(("//", "/\\"))
    assert location.path == "/admin/core_users/"


@pytest.mark.req("SEC-12")
@pytest.mark.backends("sqlite", "postgresql")
def test_admin_url_parameter_follows_same_origin_paths(client, make_user, login):
    make_user("root", "system_admin")
    login(client, "root")
    response = client.get("/admin/core_users/edit/", query_string={"url": "/admin/core_audit/"})
    assert response.headers["Location"] == "/admin/core_audit/"


# -- errors and health -----------------------------------------------------------------------------


@pytest.mark.req("SEC-13")
def test_error_pages_are_generic_html_or_problem_json(client, make_user, login):
    make_user("alice", "qa_manager")
    login(client, "alice")
    page = client.get("/admin/no-such-view/")
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    assert "This page does not exist" in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)

    api = client.get("/admin/no-such-view/", headers=JSON)
    assert api.status_code == 404
    assert api.mimetype == PROBLEM_JSON
    assert api.get_json()["status"] == 404

    not_allowed = client.delete("/healthz", headers=JSON)
    assert not_allowed.status_code == 405
    assert not_allowed.mimetype == PROBLEM_JSON
    assert "GET" in not_allowed.headers["Allow"]

    expired = client.post("/logout", headers=JSON)
    assert expired.status_code == 400
    assert expired.mimetype == PROBLEM_JSON
    assert "form expired" in expired.get_json()["detail"]


@pytest.mark.req("SEC-01")
def test_healthz_reports_json_without_sign_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "ok", "database": "ok"}
    assert response.headers.get("Set-Cookie") is None  # no session for probes


@pytest.mark.req("SEC-13")
def test_healthz_reports_an_unreachable_database(app_factory, tmp_path):
    broken = app_factory(schema=False, DATABASE_URL=f"sqlite:///{tmp_path}/missing/dir/db.sqlite3")
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "degraded", "database": "unreachable"}
