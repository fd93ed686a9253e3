"""Periodic testing of sign-in devices (21 CFR 11.300(e), P11-28): the date an authenticator was
enrolled or last re-verified is recorded; its user re-verifies it with a current code; devices
not re-verified within ``core.mfa_reverify_days`` are flagged on the user page, in the user list
and in the user-access review snapshot."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select, text

from core.audit.models import AuditEntry
from core.cli.context import system_principal
from core.db import db, utcnow
from core.reviews.snapshot import access_snapshot
from core.settings import set_setting
from core.testing import csrf_token
from core.users.devices import reverify, reverify_overdue
from core.users.models import User
from core.web.auth import TOTP_PENDING_KEY

pytestmark = [pytest.mark.plugins(), pytest.mark.backends("sqlite", "postgresql")]
PAGE = "/account/authenticator"


def _user(name: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.username == name))


def _code(secret: str, steps_ahead: int = 0) -> str:
    """The code of the current 30 s step (or a later one: a step is accepted only once)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def _enrolled_days_ago(name: str, days: int) -> str:
    """Give ``name`` an authenticator enrolled ``days`` ago (set-up: time passing)."""
    secret = pyotp.random_base32()
    db.session.execute(text("UPDATE core_user SET totp_secret = :s, totp_enabled_at = :at "
                            "WHERE username = :u"),
                       {"s": secret, "at": utcnow() - timedelta(days=days), "u": name})
    db.session.commit()
    return secret


@pytest.mark.req("P11-28")
def test_enrolment_counts_as_a_verification_and_the_user_re_verifies_with_a_code(
        make_user, client, login):
    make_user("tom", "author")
    login(client, "tom")
    client.get("/account/totp")
    with client.session_transaction() as session:
        secret = session[TOTP_PENDING_KEY]
    client.post("/account/totp", data={"csrf_token": csrf_token(client, "/account/totp"),
                                       "code": _code(secret)})
    tom = _user("tom")
    assert tom.totp_enabled_at is not None and tom.totp_last_verified == tom.totp_enabled_at
    assert not reverify_overdue(tom)
    page = client.get(PAGE).get_data(as_text=True)
    assert "Next re-verification due by" in page and "overdue" not in page

    wrong = client.post(PAGE, data={"csrf_token": csrf_token(client, PAGE), "code": "000000"},
                        follow_redirects=True).get_data(as_text=True)
    assert "The code does not match" in wrong
    tom = _user("tom")
    assert tom.totp_verified_at is None and tom.failed_logins == 1  # counts like a sign-in
    done = client.post(PAGE, data={"csrf_token": csrf_token(client, PAGE),
                                   "code": _code(secret, 1)}, follow_redirects=True)
    assert "Authenticator re-verified." in done.get_data(as_text=True)
    tom = _user("tom")
    assert tom.totp_verified_at is not None and tom.totp_last_verified == tom.totp_verified_at
    [entry] = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "totp.reverified")).all()
    assert entry.entity_id == str(tom.id) and entry.actor_name.endswith("(tom)")


@pytest.mark.req("P11-28")
def test_an_authenticator_not_re_verified_within_the_period_is_flagged(make_user, client, login):
    make_user("admin", "system_admin")
    make_user("tom", "author", full_name="Tom Token")
    make_user("vic", "author", full_name="Vic Valid")
    make_user("fred", "author", full_name="Fred Free")  # no authenticator: nothing to test
    stale = _enrolled_days_ago("tom", 400)
    _enrolled_days_ago("vic", 10)
    login(client, "admin")
    listing = client.get("/admin/core_users/").get_data(as_text=True)
    cells = re.findall(r'class="col-username">\s*(\S+)\s*</td>.*?class="col-authenticator">'
                       r"\s*(.*?)\s*</td>", listing, re.S)
    rows = dict(cells)
    assert "re-verification overdue" in rows["tom"]
    assert "overdue" not in rows["vic"] and "verified" in rows["vic"]
    assert "overdue" not in rows["fred"]
    tom_id = _user("tom").id
    details = client.get(f"/admin/core_users/details/?id={tom_id}").get_data(as_text=True)
    assert "Authenticator: re-verification overdue" in details

    lines, flagged = access_snapshot(utcnow(), 90)
    by_name = {line.split(" (")[0].split(" ")[-1]: line for line in lines.splitlines()}
    assert by_name["tom"].startswith("AUTHENTICATOR-OVERDUE tom (Tom Token)")
    assert not by_name["vic"].startswith("AUTHENTICATOR") and not by_name["fred"].startswith(
        "AUTHENTICATOR")
    assert flagged >= 1

    with system_principal():
        set_setting("core.mfa_reverify_days", 500)
        db.session.commit()
    assert not reverify_overdue(_user("tom"))
    assert "AUTHENTICATOR-OVERDUE" not in access_snapshot(utcnow(), 90)[0]
    with system_principal():
        set_setting("core.mfa_reverify_days", 30)
        db.session.commit()
    assert reverify_overdue(_user("tom"))
    tom = _user("tom")
    reverify(tom, _code(stale))  # the user proves the device works: no longer overdue
    db.session.commit()
    assert not reverify_overdue(_user("tom"))
