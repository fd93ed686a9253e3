"""The CQMS pytest plugin (entry point ``pytest11``): the harness our tests and in-house plugins share.

Fixtures
    ``app_factory(plugins=None, extra_plugins=None, **config)``: a new app on a fresh database with
    the schema and the declared roles and permissions in place. ``app``, ``client`` and ``db``
    are built from it. ``make_user(username, *roles, password=...)`` creates an account,
    ``login(client, username, password)`` signs in through the real form (CSRF included),
    ``temp_plugin(key, **hooks)`` builds a throwaway plugin from plain functions.
    ``run_cqms(*args)`` runs the ``cqms`` command in-process on ``app``.

Markers
    ``@pytest.mark.plugins("documents", ...)``: the plugins allowed (and enabled) in ``app``;
    without it (and without ``plugins=``) the app loads the core alone.
    ``@pytest.mark.backends("sqlite", "postgresql")``: run the test once per database backend.
    ``@pytest.mark.browser``: needs Debian's chromium (``CQMS_TEST_CHROMIUM`` overrides the path).

Environment
    ``CQMS_TEST_POSTGRES_URL``: a PostgreSQL server URL (``postgresql+psycopg://...``) whose
    database the suite may wipe; under pytest-xdist each worker uses a fresh database of its own
    beside it (``<name>_gw0``, ...). ``CQMS_TEST_REDIS_URL``: a Redis server for the shared
    attempt limits. ``CQMS_TEST_REQUIRE_SERVICES=1`` (set by ``.ci/run``) turns a missing
    PostgreSQL, Redis or chromium into a failure instead of a skip.
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.app import create_app
from core.audit.context import audit_context
from core.cli import main
from core.db import db as database
from core.db.append_only import append_only_ddl, drop_append_only_ddl
from core.db.migrate import plugin_tables
from core.hookspecs import hookimpl
from core.jobs.queue import wait_for_threads
from core.permissions import policy_for
from core.testing_postgres import end_worker_database, reset_schema, start_worker_database
from core.testing_services import chromium_path as chromium_path  # re-exported for tests
from core.testing_services import missing_service as missing_service
from core.testing_services import postgres_url
from core.testing_services import redis_url as redis_url
from core.testing_templates import SchemaTemplates
from core.testing_templates import enabled as templates_enabled
from core.users.models import Role
from core.users.service import assign_role, create_user, ensure_system_user, system_context, verify_identity
from core.users.sync import seed_reference_data, sync_registry

DEFAULT_PASSWORD = "Correct-Horse-Battery-Staple-7"
#: Configuration for contract and fuzz tests that sign in, ask for tokens and sign far more often
#: than people do: attempt limits (core.rate_limits) out of their way.
UNLIMITED_ATTEMPTS = {"SIGN_IN_RATE_LIMIT": "1000000 per minute",
                      "TOKEN_RATE_LIMIT": "1000000 per minute",
                      "SIGNING_RATE_LIMIT": "1000000 per minute"}
BACKENDS = ("sqlite", "postgresql")
NO_PLUGIN_HINT = ("This test's app loaded no plugin (the core alone): a test that needs one "
                  "names it, e.g. @pytest.mark.plugins(\"documents\") or a module pytestmark.")
# WTForms renders ``name=... type=... value=...``; hand-written forms put ``type`` first.
CSRF_INPUT = re.compile(r'<input[^>]*\bname="csrf_token"[^>]*\bvalue="([^"]+)"')


def pytest_configure(config: pytest.Config) -> None:
    start_worker_database(config)
    for line in (
        "plugins(*keys): the plugins allowed and enabled in this test's app",
        "backends(*names): run once per database backend (sqlite, postgresql)",
        "browser: drives Debian's chromium through Playwright",
        "req(*ids): regulatory requirement IDs this test verifies",
    ):
        config.addinivalue_line("markers", line)


def pytest_unconfigure(config: pytest.Config) -> None:
    end_worker_database(config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and "app_factory" in getattr(item, "fixturenames", ()) and (
            item.get_closest_marker("plugins") is None):
        report.sections.append(("cqms plugins", NO_PLUGIN_HINT))
    return report


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("backends")
    if marker is not None and "cqms_backend" in metafunc.fixturenames:
        names = marker.args or BACKENDS
        metafunc.parametrize("cqms_backend", names, indirect=True)


@pytest.fixture
def cqms_backend(request: pytest.FixtureRequest) -> str:
    """The database backend of this test: ``sqlite`` unless parametrized by ``backends``."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(cqms_backend: str, tmp_path: Path) -> str:
    """An empty database of the test's backend."""
    if cqms_backend == "postgresql":
        url = postgres_url()
        reset_schema(url)
        return url
    return f"sqlite:///{tmp_path / 'cqms-test.sqlite3'}"


class CQMSClient(FlaskClient):
    """The test client of CQMS apps: every request gets a fresh ``flask.g`` and transaction, as
    in production.

    The ``app`` fixture keeps an app context pushed for the test body and Flask reuses an active
    context of the same app for requests, so ``g`` (the CSRF token, the signed-in user,
    per-request permission and plugin-state caches) would otherwise leak between requests.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        from flask import has_app_context
        from flask.globals import app_ctx

        if not has_app_context() or app_ctx.app is not self.application:
            return super().open(*args, **kwargs)
        ctx = app_ctx._get_current_object()
        outer = ctx.g
        ctx.g = self.application.app_ctx_globals_class()
        end_test_read()
        try:
            return super().open(*args, **kwargs)
        finally:
            ctx.g = outer


def end_test_read() -> None:
    """End the read the test's session (which requests share) has open, as a new request's
    session would start afresh: a job thread's commit meanwhile must not leave the next request
    writing from an outdated SQLite snapshot. Changes not yet flushed stay pending."""
    session = database.session()
    if session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()


def create_schema(app: Flask) -> None:
    """Create the tables of every loaded plugin and sync permissions and roles (no Alembic)."""
    with app.app_context():
        tables = plugin_tables(app)
        database.metadata.create_all(database.engine, tables=[t for n, t in database.metadata.tables.items()
                                                 if n in tables])
        ctx = system_context("pytest")
        with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name, client=ctx.client):
            sync_registry(app.extensions["cqms"].registry)
            database.session.commit()
            seed_reference_data(app.extensions["cqms"].host)


@pytest.fixture(scope="session")
def schema_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchemaTemplates | None]:
    """This session's template databases (``core.testing_templates``); None when turned off."""
    if not templates_enabled():
        yield None
        return
    templates = SchemaTemplates(tmp_path_factory.mktemp("schema-templates"),
                                os.environ.get("CQMS_TEST_POSTGRES_URL", ""))
    yield templates
    templates.close()
    _template_stats.update(templates.stats)


_template_stats: dict[str, int] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _template_stats:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(_template_stats.items()))
        terminalreporter.write_line(f"cqms schema set-ups: {counts}")


@pytest.fixture
def app_factory(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str,
    schema_templates: SchemaTemplates | None,
) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def factory(
        plugins: list[str] | None = None,
        extra_plugins: dict[str, Any] | None = None,
        schema: bool = True,
        **config: Any,
    ) -> Flask:
        if plugins is None:
            marker = request.node.get_closest_marker("plugins")
            plugins = list(marker.args) if marker else []  # the core alone unless named
        overrides = {
            "ENV": "testing",
            "INSTANCE_PATH": str(tmp_path / f"instance{len(apps)}"),
            "DATABASE_URL": database_url,
            "PLUGINS": plugins,
            **config,
        }
        app = create_app(overrides, extra_plugins=extra_plugins, environ={})
        app.test_client_class = CQMSClient
        if schema and schema_templates is not None:
            schema_templates.prepare(app, overrides, extra_plugins, create_schema)
        elif schema:
            create_schema(app)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        close_app(app)


def close_app(app: Flask) -> None:
    """End the app's session and close its database connections."""
    wait_for_threads(app, 30)  # no job thread left using the database
    with app.app_context():
        database.session.remove()
        for engine in database.engines.values():
            engine.dispose()


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Keyword arguments for ``app_factory`` when building ``app`` (configuration keys,
    ``plugins``, ``extra_plugins``); override it in a test module or class."""
    return {}


@pytest.fixture
def app(app_factory: Callable[..., Flask], app_config: dict[str, Any]) -> Iterator[Flask]:
    app = app_factory(**app_config)
    with app.app_context():
        yield app


@pytest.fixture
def db(app: Flask) -> Any:
    return database


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def system_actor(app: Flask) -> Iterator[Any]:
    """Run the test body as the system principal (for setting up audited data directly)."""
    ctx = system_context("pytest")
    with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name, client=ctx.client):
        yield ctx


@pytest.fixture
def make_user(app: Flask) -> Callable[..., Any]:
    """``make_user("alice", "qa_manager", password=..., site=<Site>)``: an account, committed,
    its identity verified (``identity_verified=False`` leaves it unverified: it cannot sign)."""
    def factory(username: str, *roles: str, password: str = DEFAULT_PASSWORD,
                study: Any = None, site: Any = None, identity_verified: bool = True,
                **fields: Any) -> Any:
        ctx = system_context("pytest")
        with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name, client=ctx.client):
            user = create_user(
                username,
                fields.pop("full_name", username.title() + " Tester"),
                fields.pop("email", f"{username}@example.org"),
                password,
                **fields,
            )
            for key in roles:
                role = database.session.query(Role).filter_by(key=key).one()
                assign_role(user, role, reason="test set-up", study=study, site=site)
            if identity_verified:  # as an administrator would before the person signs
                verify_identity(user, ensure_system_user(), reason="test set-up")
            database.session.commit()  # inside: the grants' reactions act as the system principal
        return user

    return factory


@contextmanager
def triggers_bypassed(table: str) -> Iterator[Any]:
    """A connection on which ``table``'s append-only triggers are off, as a rogue database
    administrator would have it; they are put back afterwards (covering the tracks). For tests
    that prove tampering below the application is still found."""
    database.session.commit()
    with database.engine.begin() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            for statement in drop_append_only_ddl(table, "sqlite"):
                conn.exec_driver_sql(statement)
        else:
            conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        yield conn
        if sqlite:
            for statement in append_only_ddl(table, "sqlite"):
                conn.exec_driver_sql(statement)
        else:
            conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def post_with_token(client: FlaskClient, url: str, *, query: dict[str, Any] | None = None,
                    data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """POST ``url`` (e.g. an export) with a valid CSRF token taken from the dashboard."""
    token = csrf_token(client, "/admin/")
    return client.post(url, query_string=query or {}, data={"csrf_token": token, **(data or {})},
                       **kwargs)


def job_file(client: FlaskClient, started: Any, timeout: float = 60) -> Any:
    """Follow the redirect of a POST that started a job (e.g. an export) to the job's page, wait
    for this process's job threads, and return the job's file download (its page if it has no
    file)."""
    assert started.status_code == 302, f"expected a redirect to the job, got {started.status_code}"
    location = started.headers["Location"]
    database.session.rollback()  # the test's session outlives requests: hold no lock meanwhile
    wait_for_threads(client.application, timeout)
    page = client.get(location)
    if 'id="job-download"' not in page.get_data(as_text=True):
        return page
    return client.get(location.rstrip("/") + "/file")


def routes_without_policy(app: Flask) -> list[str]:
    """Endpoints of ``app`` (web, admin and API, plugins' included) that declare no access
    policy: each answers 403 to everyone. A plugin's own suite asserts this list is empty."""
    with app.test_request_context():
        return sorted({rule.endpoint for rule in app.url_map.iter_rules()
                       if policy_for(rule.endpoint) is None})


def csrf_token(client: FlaskClient, url: str) -> str:
    """The CSRF token of the form on ``url`` (the page must render one)."""
    page = client.get(url)
    match = CSRF_INPUT.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {url} (status {page.status_code})"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str = DEFAULT_PASSWORD,
          totp: str = "") -> Any:
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": password, "totp": totp},
    )


@pytest.fixture(name="login")
def login_fixture() -> Callable[..., Any]:
    return login


@pytest.fixture
def run_cqms(app: Flask, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[Any, str, str]]:
    """``run_cqms("backup", "verify", folder)``: the ``cqms`` command run in-process on ``app``;
    returns (exit status, stdout, stderr)."""
    def run(*args: str) -> tuple[Any, str, str]:
        database.session.commit()  # the test's session must not hold the SQLite write lock
        try:
            main(list(args), app=app)
            status: Any = 0
        except SystemExit as exc:
            status = exc.code
        out, err = capsys.readouterr()
        database.session.expire_all()
        return status, out, err

    return run


@pytest.fixture
def temp_plugin() -> Callable[..., Any]:
    """``temp_plugin("acme", register_permissions=lambda: [...], REQUIRES=("capa",))``.

    Functions become hook implementations (their parameter names must match the hookspec);
    other keyword arguments become module attributes. Pass the result to
    ``app_factory(plugins=[..., "acme"], extra_plugins={"acme": plugin})``.
    """

    def factory(key: str, doc: str = "", **members: Any) -> types.ModuleType:
        module = types.ModuleType(f"cqms_test_plugin_{key}", doc or f"Test plugin {key}.")
        for name, value in members.items():
            setattr(module, name, hookimpl(value) if callable(value) else value)
        return module

    return factory
