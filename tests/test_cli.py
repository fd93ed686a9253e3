"""The ``cqms`` command line, run in-process against a migrated SQLite file."""

import io
import os
import stat

import pytest
from sqlalchemy import create_engine, text

from core.cli import main

PASSWORD = "Correct-Horse-Battery-Staple-7"


@pytest.fixture
def cqms(tmp_path, monkeypatch, capsys):
    """Run ``cqms ARGS``; returns (exit status, stdout, stderr)."""
    for name in list(os.environ):
        if name.startswith("CQMS_") and not name.startswith("CQMS_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CQMS_ENV", "testing")
    monkeypatch.setenv("CQMS_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("CQMS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        try:
            main(list(args))
            status = 0
        except SystemExit as exc:
            status = exc.code
        out, err = capsys.readouterr()
        return status, out, err

    run.db_url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    run.instance = tmp_path / "instance"
    return run


def query(cqms, sql: str) -> list:
    engine = create_engine(cqms.db_url)
    with engine.connect() as conn:
        rows = conn.execute(text(sql)).all()
    engine.dispose()
    return rows


def assert_one_line_error(status, err, fragment):
    assert status == 2
    assert err.startswith("cqms: error: ")
    assert err.count("\n") == 1, err
    assert fragment in err
    assert "Traceback" not in err


def test_upgrade_is_repeatable_and_seeds_roles(cqms):
    status, out, _ = cqms("db", "upgrade")
    assert status == 0
    assert out.startswith("database at audits_0003, capa_0003, core_0016, documents_0005, "
                          "training_0002;")
    assert "10 new roles" in out
    status, out, _ = cqms("db", "upgrade")
    assert status == 0 and "0 new permissions, 0 new roles" in out
    status, out, _ = cqms("db", "current")
    assert "pending: no" in out
    roles = {row[0] for row in query(cqms, "SELECT key FROM core_role")}
    assert {"system_admin", "qa_manager", "inspector", "site_monitor"} <= roles


def test_commands_before_upgrade_say_what_to_do(cqms):
    status, _, err = cqms("demo")
    assert_one_line_error(status, err, "run `cqms db upgrade` first")


def test_demo_is_idempotent_and_keeps_generated_passwords_private(cqms):
    cqms("db", "upgrade")
    status, out, _ = cqms("demo")
    assert status == 0 and "10 accounts created" in out
    for username in ("admin", "qa", "author", "reviewer", "approver", "trainer", "trainee",
                     "auditor", "inspector", "site_monitor"):
        assert f"  {username} " in out
    secrets_file = cqms.instance / "demo-passwords.txt"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    admin_password = dict(line.split(" ", 1) for line in secrets_file.read_text().splitlines())[
        "admin"]
    assert admin_password in out
    status, out, _ = cqms("demo")
    assert status == 0 and "0 accounts created, 10 already present" in out
    assert admin_password in out
    assert query(cqms, "SELECT count(*) FROM core_user WHERE is_service = 0")[0][0] == 10
    scoped = query(cqms, "SELECT r.site_id FROM core_user_role r JOIN core_user u "
                         "ON u.id = r.user_id WHERE u.username = 'site_monitor'")
    assert scoped[0][0] is not None


def test_demo_draws_again_when_a_generated_password_breaks_the_policy(cqms, monkeypatch):
    """A random token can contain a short username such as ``qa``; demo must not fail on it."""
    draws = iter(["xxQAxx-token-1", "qa-in-every-one"] + [f"Fresh-Token-{n:04d}" for n in range(40)])
    monkeypatch.setattr("core.cli.demo.secrets.token_urlsafe", lambda _n: next(draws))
    cqms("db", "upgrade")
    status, out, err = cqms("demo")
    assert status == 0, err
    stored = dict(line.split(" ", 1) for line in (cqms.instance / "demo-passwords.txt")
                  .read_text().splitlines())
    assert stored["admin"] == "xxQAxx-token-1"  # acceptable for admin, refused for qa
    assert "qa" not in stored["qa"].lower()


def test_demo_password_from_environment_and_policy(cqms, monkeypatch):
    cqms("db", "upgrade")
    monkeypatch.setenv("CQMS_DEMO_PASSWORD", "password123")
    status, _, err = cqms("demo")
    assert_one_line_error(status, err, "CQMS_DEMO_PASSWORD is refused by the password policy")
    assert query(cqms, "SELECT count(*) FROM core_user WHERE is_service = 0")[0][0] == 0
    monkeypatch.setenv("CQMS_DEMO_PASSWORD", PASSWORD)
    status, out, _ = cqms("demo")
    assert status == 0 and PASSWORD in out
    assert not (cqms.instance / "demo-passwords.txt").exists()


@pytest.mark.req("P11-18", "SEC-13")
def test_users_create_reads_password_from_stdin_and_refuses_bad_input(cqms):
    cqms("db", "upgrade")
    status, out, _ = cqms("users", "create", "jdoe", "--name", "Jane Doe", "--email",
                          "jane@example.org", "--role", "qa_manager", stdin=PASSWORD + "\n")
    assert status == 0 and "created jdoe (qa_manager)" in out
    status, _, err = cqms("users", "create", "jdoe", "--name", "Other", stdin=PASSWORD + "\n")
    assert_one_line_error(status, err, "exists or existed")
    status, _, err = cqms("users", "create", "kim", "--name", "Kim", "--role", "pope",
                          stdin=PASSWORD + "\n")
    assert_one_line_error(status, err, "Unknown role 'pope'")
    status, _, err = cqms("users", "create", "lee", "--name", "Lee", stdin="short\n")
    assert_one_line_error(status, err, "at least 12 characters")
    status, _, err = cqms("users", "create", "lee", stdin=PASSWORD + "\n")
    assert_one_line_error(status, err, "Missing option '--name'")
    names = {row[0] for row in query(cqms, "SELECT username FROM core_user")}
    assert names == {"system", "jdoe"}


@pytest.mark.req("A11-12", "DI-A")
def test_deactivate_and_unlock_are_audited_as_the_system_principal(cqms):
    cqms("db", "upgrade")
    cqms("users", "create", "jdoe", "--name", "Jane Doe", stdin=PASSWORD + "\n")
    status, _, err = cqms("users", "deactivate", "jdoe")
    assert_one_line_error(status, err, "Missing option '--reason'")
    status, out, _ = cqms("users", "deactivate", "jdoe", "--reason", "Left the company")
    assert status == 0 and "deactivated jdoe" in out
    status, _, err = cqms("users", "deactivate", "jdoe", "--reason", "again")
    assert_one_line_error(status, err, "already deactivated")
    status, _, err = cqms("users", "unlock", "jdoe")
    assert_one_line_error(status, err, "is not locked")
    status, _, err = cqms("users", "unlock", "nobody")
    assert_one_line_error(status, err, "No user named 'nobody'")
    rows = query(cqms, "SELECT actor_name, reason, client, old_value, new_value FROM "
                       "core_audit_entry WHERE entity_type = 'core_user' AND field = 'active'")
    actor, reason, client, old, new = rows[-1]
    assert actor == "CQMS system (system)"
    assert reason == "Left the company"
    assert client.startswith("cli:")
    assert (old, new) == ("true", "false")


@pytest.mark.req("SEC-14")
def test_plugins_list_enable_disable(cqms, monkeypatch):
    cqms("db", "upgrade")
    status, out, _ = cqms("plugins", "list")
    assert status == 0
    header, *rows = out.splitlines()
    assert header.split()[:4] == ["KEY", "VERSION", "ALLOWED", "ENABLED"]
    assert any(r.split()[:4] == ["audits", "0.1.0", "yes", "yes"] for r in rows)
    status, _, err = cqms("plugins", "disable", "core", "--reason", "not used")
    assert_one_line_error(status, err, "The core cannot be disabled")
    status, out, _ = cqms("plugins", "disable", "audits", "--reason", "No audits this year")
    assert status == 0 and "audits: disabled" in out
    cqms("plugins", "disable", "capa", "--reason", "not used")
    status, _, err = cqms("plugins", "enable", "capa", "--reason", "  ")
    assert_one_line_error(status, err, "reason")
    status, out, _ = cqms("plugins", "list")
    assert any(r.split()[:4] == ["capa", "0.1.0", "yes", "no"] for r in out.splitlines())
    rows = query(cqms, "SELECT entity_id, field, new_value, reason FROM core_audit_entry "
                       "WHERE entity_type = 'core_plugin_state' AND field = 'enabled'")
    assert ("audits", "enabled", "false", "No audits this year") in [tuple(r) for r in rows]
    monkeypatch.setenv("CQMS_PLUGINS", "documents,training")
    status, out, _ = cqms("plugins", "list")
    assert any(r.split()[:4] == ["capa", "-", "no", "-"] for r in out.splitlines())
    status, _, err = cqms("plugins", "enable", "capa", "--reason", "x")
    assert_one_line_error(status, err, "not allowed in this deployment")


@pytest.mark.req("SEC-13")
def test_usage_and_config_errors_are_one_line(cqms, monkeypatch):
    status, _, err = cqms("frobnicate")
    assert_one_line_error(status, err, "No such command 'frobnicate'")
    status, _, err = cqms("db", "revision", "--plugin", "nope", "-m", "x")
    assert_one_line_error(status, err, "'nope' has no migration branch")
    status, _, err = cqms("db", "downgrade", "bogus")
    assert_one_line_error(status, err, "unknown revision 'bogus'")
    monkeypatch.setenv("CQMS_LOCKOUT_THRESHOLD", "many")
    status, _, err = cqms("plugins", "list")
    assert_one_line_error(status, err, "CQMS_LOCKOUT_THRESHOLD: expected an integer")
