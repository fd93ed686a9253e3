"""The vendors plugin's own tests, on the core's fixtures (core.testing: app, db, make_user,
login, system_actor ...; every user's password is DEFAULT_PASSWORD)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cqms_vendors.reminders import remind_due
from sqlalchemy import select

from core import (
    SignatureRequest,
    WorkflowError,
    attest,
    create_record,
    db,
    transition,
    utcnow,
)
from core.db import migrate
from core.notifications.models import Notification
from core.testing import DEFAULT_PASSWORD
from core.testing_contract import plugin_contract

pytestmark = pytest.mark.plugins("vendors")


@pytest.mark.backends("sqlite", "postgresql")
def test_a_record_is_drafted_submitted_and_approved_with_a_signature(app, make_user):
    author, approver = make_user("alice", "author"), make_user("bob", "approver")
    attest(approver, DEFAULT_PASSWORD)
    record = create_record("vendors_vendor", author, title="First", description="Why it matters")
    db.session.commit()
    assert record.number.startswith("VEND-") and record.state == "draft"
    transition(record, "submit", author)
    transition(record, "approve", approver, signature=SignatureRequest(DEFAULT_PASSWORD))
    db.session.commit()
    assert record.state == "approved"


def test_submitting_needs_a_description(app, make_user):
    author = make_user("alice", "author")
    record = create_record("vendors_vendor", author, title="Empty")
    db.session.commit()
    with pytest.raises(WorkflowError, match="list the services it provides"):
        transition(record, "submit", author)


def test_owners_are_reminded_of_records_due_soon(app, make_user, system_actor):
    author = make_user("alice", "author")
    create_record("vendors_vendor", author, title="Due", description="d",
                  due_date=utcnow().date() + timedelta(days=2))
    db.session.commit()
    assert remind_due(utcnow()) == 1
    assert remind_due(utcnow()) == 0  # once per due date
    assert "is due on" in db.session.scalar(select(Notification.subject))


# Routes with policies, refused to strangers, only the core's facade imported, migrations equal
# to the models, nothing served while disabled: the contract every plugin keeps.
test_contract = plugin_contract("vendors")


@pytest.mark.backends("sqlite", "postgresql")
def test_the_migration_builds_the_models_schema(app_factory, cqms_backend):
    app = app_factory(schema=False)
    migrate.upgrade(app)
    assert migrate.schema_differences(app) == []


def test_the_form_offers_countries_and_reads_in_the_declared_labels(app, make_user, login,
                                                                    client):
    make_user("alice", "author")
    login(client, "alice")
    form = client.get("/admin/vendors_vendor/new/").get_data(as_text=True)
    assert '<option value="DE">Germany</option>' in form
    assert "Services provided" in form and "Re-qualification due" in form
    fields = form[form.index("<form"):]
    assert fields.index('name="country"') < fields.index('name="description"')
