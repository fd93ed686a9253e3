"""Record search (issue 13): a piece of a number or title finds the record, in the API and the
admin list, through the backend's index (FTS5 trigram on SQLite, pg_trgm on PostgreSQL)."""

from __future__ import annotations

import pytest
from kernel_plugin import make_plugin
from sqlalchemy import select

from core import create_record, update_record
from core.db import db, migrate
from core.records.models import Record
from core.records.search import create_search_index, drop_search_index, search_clause
from core.testing import DEFAULT_PASSWORD, login
from core.users.service import get_user

API = "/api/v1"
BOTH = pytest.mark.backends("sqlite", "postgresql")
TITLES = ("Corrective action plan", "Monitoring visit report", "100% source data check",
          "Lab_manual annex", 'The "quoted" title', "Café closing visit", "ab")


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def widgets(make_user):
    alice = make_user("alice", "author")
    made = {title: create_record("acme_widget", get_user("alice"), title=title)
            for title in TITLES}
    db.session.commit()
    assert alice is not None
    return made


def found(term: str) -> set[str]:
    dialect = db.session.get_bind().dialect.name
    return set(db.session.scalars(select(Record.title).where(
        Record.type == "acme_widget", search_clause(term, dialect))))


@BOTH
def test_a_piece_of_a_title_or_number_finds_the_record_in_any_case(app, widgets, cqms_backend):
    assert found("rective") == {"Corrective action plan"}
    assert found("MONITORING VISIT") == {"Monitoring visit report"}
    assert found("visit") == {"Monitoring visit report", "Café closing visit"}
    assert found("100%") == {"100% source data check"}  # % and _ are plain characters
    assert found("0% s") == {"100% source data check"}
    assert found("b_m") == {"Lab_manual annex"}
    assert found('"quoted"') == {'The "quoted" title'}
    assert found("café") == {"Café closing visit"}
    assert found("ab") == {"ab", "Lab_manual annex"}  # under 3 characters: a scan, same meaning
    number = widgets["Corrective action plan"].number
    assert found(number[-6:]) >= {"Corrective action plan"}
    assert found("nothing like it") == set()


@BOTH
def test_every_word_must_be_there_short_ones_too(app, widgets, cqms_backend):
    dialect = db.session.get_bind().dialect.name

    def words(text: str) -> set[str]:
        return set(db.session.scalars(select(Record.title).where(
            Record.type == "acme_widget", search_clause(text, dialect, every_word=True))))

    assert words("visit MONIT") == {"Monitoring visit report"}
    assert words("ab annex") == {"Lab_manual annex"}  # a 2-character word is scanned for
    assert words("visit annex") == set()
    assert words("  ") == {t for t in TITLES}  # no words: no condition


@BOTH
def test_a_renamed_record_is_found_by_its_new_title_only(app, widgets, cqms_backend):
    widget = widgets["Monitoring visit report"]
    update_record(widget, get_user("alice"), expected_version=widget.version,
                  title="Site initiation report")
    db.session.commit()
    assert found("initiation") == {"Site initiation report"}
    assert found("Monitoring") == set()


@BOTH
def test_the_api_and_the_admin_list_search_through_the_index(app, client, widgets, cqms_backend):
    token = client.post(f"{API}/auth/tokens", json={"username": "alice",
                                                    "password": DEFAULT_PASSWORD}).get_json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    page = client.get(f"{API}/records/acme_widget", query_string={"q": "rective"},
                      headers=headers).get_json()
    assert [item["title"] for item in page["items"]] == ["Corrective action plan"]
    login(client, "alice")
    listing = client.get("/admin/acme_widget/?search=visit+monit").get_data(as_text=True)
    assert "Monitoring visit report" in listing  # every word must be there
    assert "Café closing visit" not in listing and "Corrective action plan" not in listing


@BOTH
def test_the_search_reads_the_index_not_every_row(app, widgets, cqms_backend):
    dialect = db.session.get_bind().dialect
    stmt = select(Record.id).where(search_clause("rective", dialect.name))
    compiled = stmt.compile(dialect=dialect)
    connection = db.session.connection()
    if dialect.name == "sqlite":
        params = tuple(compiled.params[name] for name in compiled.positiontup)
        plan = " ".join(row[-1] for row in connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(compiled), params))
        assert "VIRTUAL TABLE INDEX" in plan, plan
    else:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a tiny table
        plan = " ".join(row[0] for row in connection.exec_driver_sql(
            "EXPLAIN " + str(compiled), compiled.params))
        assert "ix_core_record_title_trgm" in plan and "ix_core_record_number_trgm" in plan, plan
    db.session.rollback()


@BOTH
def test_the_migration_indexes_records_already_there(app, widgets, cqms_backend):
    """core_0009 runs ``create_search_index`` over a filled table: it indexes what is there."""
    drop_search_index(db.session.connection())  # as before core_0009
    db.session.commit()
    create_record("acme_widget", get_user("alice"), title="Written before the index existed")
    db.session.commit()
    create_search_index(db.session.connection())
    db.session.commit()
    assert found("rective") == {"Corrective action plan"}
    assert found("before the index") == {"Written before the index existed"}
    db.session.commit()
    assert migrate.schema_differences(app) == []  # the index is not a difference
