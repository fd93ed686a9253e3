"""Gapless numbers without a lock held to commit (PostgreSQL, core.records.numbering): a creation
claims its number in a statement of its own, so another creation of the type need not wait for
it to commit; a claim a creation leaves behind is given to the next one."""

from __future__ import annotations

import threading

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import select, text

from core import create_record
from core.db import db
from core.records import numbering
from core.records.models import NumberClaim, Record

pytestmark = pytest.mark.backends("postgresql")


@pytest.fixture
def app(app_factory, temp_plugin):
    app = app_factory(plugins=["acme"], extra_plugins={"acme": make_plugin(temp_plugin)})
    with app.app_context():
        yield app


@pytest.fixture
def author(app, make_user):
    user = make_user("alice", "author")
    db.session.commit()
    return user


def create(user, title="Widget"):  # type: ignore[no-untyped-def]
    record = create_record("acme_widget", user, title=title, description="x")
    db.session.commit()
    return record.number


def serial(number: str) -> int:
    return int(number.rsplit("-", 1)[1])


def claims() -> list[tuple[int, bool]]:
    """(value, past its lease) of every claim left, read in a transaction of its own."""
    with db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(
            "SELECT value, claimed_at < now() - make_interval(secs => :lease) "
            "FROM core_number_claim ORDER BY value"), {"lease": numbering.CLAIM_LEASE_SECONDS})]


@pytest.mark.req("DI-C3")
def test_a_creation_in_flight_does_not_hold_up_the_next_one(app, author, cqms_backend):
    create_record("acme_widget", author, title="slow", description="x")  # not committed
    done: list[str] = []

    def other() -> None:
        with app.app_context():
            done.append(create(db.session.merge(author), "quick"))
            db.session.remove()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "the second creation waited for the first to commit"
    assert [serial(n) for n in done] == [2]
    assert claims() == [(1, False)]  # the slow one's, its row held by its creation
    db.session.commit()
    assert claims() == []
    assert sorted(serial(n) for n in db.session.scalars(select(Record.number))) == [1, 2]


@pytest.mark.req("DI-C3")
def test_a_rolled_back_creation_hands_its_number_to_the_next(app, author, cqms_backend):
    assert serial(create(author)) == 1
    create_record("acme_widget", author, title="doomed", description="x")
    db.session.rollback()
    assert claims() == [(2, True)]
    assert serial(create(author)) == 2
    assert serial(create(author)) == 3
    assert claims() == []


@pytest.mark.req("DI-C3")
def test_a_claim_of_a_process_that_died_is_reused_after_its_lease(app, author, cqms_backend):
    create_record("acme_widget", author, title="lost", description="x")
    db.session.info.pop(numbering.CLAIMS)  # as if the process died: nothing hands it back
    db.session.rollback()
    assert claims() == [(1, False)]
    assert serial(create(author)) == 2  # within the lease the claim is left alone
    with db.engine.begin() as conn:  # the lease runs out
        conn.execute(text("UPDATE core_number_claim SET claimed_at = claimed_at - "
                          "make_interval(secs => :s)"), {"s": numbering.CLAIM_LEASE_SECONDS + 1})
    assert serial(create(author)) == 1
    assert serial(create(author)) == 3
    assert claims() == []
    assert db.session.scalar(select(NumberClaim).limit(1)) is None


@pytest.mark.req("DI-C3")
def test_a_savepoint_rolled_back_hands_back_only_the_numbers_taken_inside_it(
        app, author, cqms_backend):
    assert serial(create(author)) == 1
    kept = create_record("acme_widget", author, title="kept", description="x")  # claims 2
    savepoint = db.session.begin_nested()
    create_record("acme_widget", author, title="undone", description="x")  # claims 3
    savepoint.rollback()
    # 3 is free at once; 2 stays with the transaction (its row still held by its deletion)
    assert claims() == [(2, False), (3, True)]
    released = db.session.begin_nested()
    again = create_record("acme_widget", author, title="again", description="x")  # takes 3
    released.commit()
    db.session.commit()
    assert (serial(kept.number), serial(again.number)) == (2, 3)
    assert claims() == []
    assert serial(create(author)) == 4


@pytest.mark.req("DI-C3")
def test_a_transaction_rolled_back_after_a_released_savepoint_hands_its_numbers_back(
        app, author, cqms_backend):
    savepoint = db.session.begin_nested()
    create_record("acme_widget", author, title="inside", description="x")  # claims 1
    savepoint.commit()  # a savepoint's release is no commit
    create_record("acme_widget", author, title="outside", description="x")  # claims 2
    db.session.rollback()
    assert claims() == [(1, True), (2, True)]
    assert sorted(serial(create(author)) for _ in range(2)) == [1, 2]
    assert claims() == []


@pytest.mark.req("DI-C3")
def test_a_creation_closed_without_a_commit_hands_its_number_back(app, author, cqms_backend):
    create_record("acme_widget", author, title="abandoned", description="x")
    db.session.close()  # e.g. a worker's session closed after an error, with no rollback
    assert claims() == [(1, True)]
    assert serial(create(db.session.merge(author))) == 1
