"""21 CFR 11.100(b): an administrator verifies a person's identity before they may sign."""

from __future__ import annotations

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import select

from core import (
    ConflictError,
    PermissionDenied,
    SignatureRequest,
    ValidationError,
    attest,
    create_record,
    signatures_of,
    transition,
)
from core.audit.models import AuditEntry
from core.cli import main
from core.db import db
from core.testing import DEFAULT_PASSWORD, post_with_token
from core.users.models import User
from core.users.service import ensure_system_user, verify_identity

pytestmark = pytest.mark.req("P11-19")


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def widget(app, make_user):
    author = make_user("alice", "author")
    record = create_record("acme_widget", author, title="Pump", description="Blue")
    transition(record, "submit", author)
    db.session.commit()
    return record


def _signer(make_user, **kwargs):
    user = make_user("bob", "approver", full_name="Bob Approver", **kwargs)
    attest(user, DEFAULT_PASSWORD)
    db.session.commit()
    return user


@pytest.mark.backends("sqlite", "postgresql")
def test_an_unverified_person_cannot_sign_until_an_administrator_verifies_them(
        app, widget, make_user, client, login):
    bob = _signer(make_user, identity_verified=False)
    admin = make_user("ada", "system_admin", full_name="Ada Admin")
    with pytest.raises(PermissionDenied, match="identity has not been verified"):
        transition(widget, "approve", bob, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.rollback()
    assert signatures_of(widget) == [] and widget.state == "in_review"

    login(client, "ada")
    page = client.get(f"/admin/core_users/details/?id={bob.id}").get_data(as_text=True)
    assert "Identity not verified" in page and 'id="verify-identity' in page
    refused = post_with_token(client, f"/admin/core_users/{bob.id}/verify-identity")
    assert refused.status_code == 302  # no reason: nothing recorded
    db.session.refresh(bob)
    assert bob.identity_verified_at is None
    done = post_with_token(client, f"/admin/core_users/{bob.id}/verify-identity",
                           data={"reason": "Passport checked in person"})
    assert done.status_code == 302
    db.session.refresh(bob)
    assert bob.identity_verified_by_id == admin.id and bob.identity_verified_at is not None
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_type == "core_user", AuditEntry.entity_id == str(bob.id),
        AuditEntry.field == "identity_verified_by_id")).one()
    assert (entry.actor_id, entry.reason) == (admin.id, "Passport checked in person")
    page = client.get(f"/admin/core_users/details/?id={bob.id}").get_data(as_text=True)
    assert "by Ada Admin (ada): may sign" in page

    transition(widget, "approve", bob, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    assert widget.state == "approved"


def test_nobody_verifies_themselves_twice_or_the_system_account(app, make_user):
    ada = make_user("ada", "system_admin", identity_verified=False)
    with pytest.raises(ValidationError, match="Nobody verifies their own identity"):
        verify_identity(ada, ada, reason="me")
    with pytest.raises(ValidationError, match="A reason is required|reason"):
        verify_identity(ada, ensure_system_user(), reason=" ")
    with pytest.raises(ValidationError, match="The system account never signs"):
        verify_identity(ensure_system_user(), ada, reason="why not")
    verified = make_user("bob", "approver")
    with pytest.raises(ConflictError, match="already verified"):
        verify_identity(verified, ada, reason="again")


def test_only_account_managers_verify_identities(app, make_user, client, login):
    bob = make_user("bob", "approver", identity_verified=False)
    make_user("quinn", "qa_manager")
    login(client, "quinn")
    response = post_with_token(client, f"/admin/core_users/{bob.id}/verify-identity",
                               data={"reason": "I know him"})
    assert response.status_code == 403
    db.session.refresh(bob)
    assert bob.identity_verified_at is None


def test_the_cli_verifies_an_identity_with_a_reason(app, make_user, capsys):
    make_user("bob", "approver", identity_verified=False)
    with pytest.raises(SystemExit) as missing:
        main(["users", "verify-identity", "bob"], app=app)
    assert missing.value.code == 2 and "--reason" in capsys.readouterr().err
    main(["users", "verify-identity", "bob", "--reason", "ID card seen by J. Doe"], app=app)
    assert "identity of bob verified" in capsys.readouterr().out
    db.session.expire_all()
    bob = db.session.scalar(select(User).where(User.username == "bob"))
    assert bob.identity_verified_at is not None
