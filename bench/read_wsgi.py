"""What bench.read serves with gunicorn (``bench.read_wsgi:application``): the CQMS app with
the bench plugin and one bare route inside it (``/bench/bare/<id>``: one select, no
authentication, but the app's request hooks), and mounted beside it a plain Flask app with no
CQMS code at all (``/plain/bench/bare/<id>``: the same select on its own engine). Configuration
comes from CQMS_* like wsgi.py."""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy import create_engine, select
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from bench.kernel_app import _Plugin
from core.app import create_app
from core.db import db
from core.permissions import public
from core.records.models import Record

app = create_app(extra_plugins={"bench": _Plugin})


@app.get("/bench/bare/<int:record_id>")
@public
def bare(record_id: int):  # type: ignore[no-untyped-def]
    row = db.session.execute(select(Record.id, Record.number, Record.title, Record.state,
                                    Record.version).where(Record.id == record_id)).one()
    return jsonify(dict(row._mapping))


plain = Flask("plain")
engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
RECORDS = Record.__table__


@plain.get("/bench/bare/<int:record_id>")
def plain_bare(record_id: int):  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        row = connection.execute(select(RECORDS.c.id, RECORDS.c.number, RECORDS.c.title,
                                        RECORDS.c.state, RECORDS.c.version)
                                 .where(RECORDS.c.id == record_id)).one()
    return jsonify(dict(row._mapping))


application = DispatcherMiddleware(app, {"/plain": plain})
