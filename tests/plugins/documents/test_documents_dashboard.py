"""The documents dashboard cards: documents by state (a chart and its table) and periodic reviews
due within the reminder window or overdue, counted in what the reader may see."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from documents_helpers import draft, people, seeded, sig, step, to_effective

from core import db, update_record, utcnow
from core.testing import csrf_token

pytestmark = pytest.mark.plugins("documents")


@pytest.fixture
def documents(app, make_user, system_actor):
    """Drafts: 2; effective: 3 (one overdue, one due in 10 days, one due in two years);
    obsolete: 1."""
    seeded(system_actor)
    author, reviewer, approver, qa = people(make_user)
    make_user("audrey", "auditor")
    make_user("tina", "trainee")
    today = utcnow().date()
    effective = []
    for title in ("Freezer cleaning", "Balance calibration", "Temperature mapping"):
        document, version = draft(author, title=title)
        to_effective(version, author, reviewer, approver, qa)
        effective.append(document)
    overdue, due, _later = effective
    for document, day in ((overdue, today - timedelta(days=3)), (due, today + timedelta(days=10))):
        update_record(document, author, expected_version=document.version,
                      next_review_date=day,  # documents.create edits documents
                      reason="Review date carried over from the paper system")
        db.session.commit()
    retired, old = draft(author, title="Old balance")
    to_effective(old, author, reviewer, approver, qa)
    step(old, "obsolete", approver, reason="Retired", signature=sig())
    draft(author, title="New draft")
    draft(author, title="Another draft")
    return overdue, due


def card(page: str, key: str) -> str:
    return re.search(rf'id="widget-{key}">(.*?)</section>', page, re.S).group(1)


def state_rows(page: str) -> dict[str, int]:
    body = card(page, "documents_by_state")
    return {name: int(count) for name, count in re.findall(
        r'<tr><td>(\w+)</td><td class="text-right">(\d+)</td></tr>', body)}


def test_documents_by_state_and_periodic_reviews(client, login, documents):
    overdue, due = documents
    login(client, "rita")  # a reviewer: work in progress, no history
    page = client.get("/admin/").get_data(as_text=True)
    assert state_rows(page) == {"draft": 2, "effective": 3, "obsolete": 0, "disposed": 0}
    assert 'src="data:image/svg+xml;base64,' in card(page, "documents_by_state")
    reviews = card(page, "documents_reviews")
    assert re.search(r'id="documents-review-overdue">1<', reviews)
    assert re.search(r'id="documents-review-due">1<', reviews)
    assert "Due within 30 days" in reviews
    overdue_list = re.search(r'id="documents-review-overdue-list">(.*?)</ul>', reviews, re.S)
    assert overdue.number in overdue_list.group(1) and due.number not in overdue_list.group(1)
    assert due.number in re.search(r'id="documents-review-due-list">(.*?)</ul>', reviews,
                                   re.S).group(1)

    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    login(client, "audrey")  # history: the obsolete one too
    page = client.get("/admin/").get_data(as_text=True)
    assert state_rows(page) == {"draft": 2, "effective": 3, "obsolete": 1, "disposed": 0}

    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    login(client, "tina")  # a plain reader: effective documents only
    page = client.get("/admin/").get_data(as_text=True)
    assert state_rows(page) == {"draft": 0, "effective": 3, "obsolete": 0, "disposed": 0}
    assert re.search(r'id="documents-review-overdue">1<', card(page, "documents_reviews"))
