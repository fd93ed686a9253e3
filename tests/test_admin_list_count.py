"""Admin lists count matches only up to a cap (issue 13): past it they say "more than N"."""

import re

from core.admin.base import CQMSModelView
from core.admin.counting import CappedCount
from core.testing import login
from core.users.models import User


def _list_heading(client, url):
    page = client.get(url)
    assert page.status_code == 200
    match = re.search(r'class="nav-link active">List([^<]*)</a>', page.get_data(as_text=True))
    assert match, "no list heading"
    return match.group(1).strip()


def test_a_capped_count_stops_at_cap_plus_one_and_keeps_narrowing(app, db, make_user):
    for name in ("ann", "ben", "cat", "dan", "eve"):
        make_user(name)
    everyone = db.session.query(User).count()
    count = CappedCount(db.session.query(User), cap=3)
    assert count.scalar() == 4  # stopped after cap + 1 rows
    assert CappedCount(db.session.query(User), cap=1000).scalar() == everyone
    narrowed = count.filter(User.username.in_(["ann", "ben"]))
    assert isinstance(narrowed, CappedCount) and narrowed.scalar() == 2


def test_the_list_says_more_than_the_cap_and_counts_exactly_below_it(
        app, client, make_user, monkeypatch):
    make_user("alice", "system_admin")
    for name in ("ann", "ben", "cat", "dan"):
        make_user(name)
    login(client, "alice")
    exact = _list_heading(client, "/admin/core_users/")
    assert re.fullmatch(r"\(\d+\)", exact)
    monkeypatch.setattr(CQMSModelView, "list_count_cap", 3)
    assert _list_heading(client, "/admin/core_users/") == "(more than 3)"
    # A search narrows the count too: one match is counted exactly.
    assert _list_heading(client, "/admin/core_users/?search=alice") == "(1)"
