"""The trail read fast for verification: rows as tuples in chain order, and their canonical JSON.

``canonical_text`` gives, for a row read by ``stream_entries``, exactly the text whose UTF-8
bytes ``core.audit.chain.canonical`` gives for the same entry read through the ORM type, or
None when it cannot be sure (a timestamp not in the form SQLAlchemy writes): the caller then
falls back to the ORM path. The timestamp is read as text (SQLite) or as UTC wall time
(PostgreSQL), so no timezone-aware datetime is built per row; the JSON is built by the
standard library's C encoder with the same options ``canonical`` uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from json import encoder as json_encoder
from typing import Any

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from core.audit.chain import CHAINED_FIELDS, TIMESTAMP_FORMAT
from core.audit.models import AuditEntry

BATCH = 20_000
SERVER_CURSOR = "cqms_audit_verify"
AT = CHAINED_FIELDS.index("at")
CHAINED = len(CHAINED_FIELDS)
PREV_HASH = CHAINED  # the stream's tuples: the chained fields, prev_hash, hash, chain
HASH = PREV_HASH + 1
CHAIN = HASH + 1
# SQLAlchemy's SQLite DATETIME form; strftime does not pad years below 1000, so none here.
ENCODER_PROBE = [1, None, "Zürich \"q\" \\ \n\u2028 🧪", -7, "", "2026-01-31T23:59:59.000000Z"]
SQLITE_STORED = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}")


def _json_array_encoder() -> Callable[[list[Any]], str]:
    """``json.dumps(values, ensure_ascii=False, separators=(",", ":"))``, set up once."""
    reference = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    if json_encoder.c_make_encoder is None:  # no C accelerator: the same encoder each call
        return reference.encode
    # The arguments JSONEncoder.iterencode passes for these options (no circularity check:
    # a row's values are flat scalars).
    iterencode = json_encoder.c_make_encoder(None, reference.default,
                                             json_encoder.encode_basestring, None, ":", ",",
                                             False, False, True)

    def encode(values: list[Any]) -> str:
        return "".join(iterencode(values, 0))

    # Refuse the shortcut if this Python's encoder takes other arguments or writes otherwise.
    return encode if encode(ENCODER_PROBE) == reference.encode(ENCODER_PROBE) else reference.encode


encode_json_array = _json_array_encoder()


def _sqlite_at(value: Any) -> str | None:
    """The stored text ``YYYY-MM-DD HH:MM:SS.ffffff`` (naive UTC) as canonical, else None."""
    if type(value) is str and SQLITE_STORED.fullmatch(value):
        return f"{value[:10]}T{value[11:]}Z"
    return None


def _utc_wall_time_at(value: Any) -> str:
    """A naive datetime holding UTC wall time as canonical."""
    if value.year >= 1000:  # isoformat pads the year, strftime does not
        return value.isoformat(timespec="microseconds") + "Z"
    return value.strftime(TIMESTAMP_FORMAT)


def _sqlite_canonical_text(row: Sequence[Any]) -> str | None:
    values = list(row[:CHAINED])
    at = values[AT]
    if at is not None:
        at = values[AT] = _sqlite_at(at)
        if at is None:
            return None
    return encode_json_array(values)


def _postgresql_canonical_text(row: Sequence[Any]) -> str | None:
    values = list(row[:CHAINED])
    at = values[AT]
    if at is not None:
        values[AT] = _utc_wall_time_at(at)
    return encode_json_array(values)


def entries_query(dialect_name: str, chains: Sequence[int] | None = None) -> Select[Any]:
    """Every chained column, then prev_hash, hash and chain, in (chain, id) order (of
    ``chains`` only, when given); ``at`` raw (see above)."""
    table = AuditEntry.__table__
    if dialect_name == "sqlite":
        at = type_coerce(table.c.at, String)  # the stored text, no datetime parsing
    else:
        at = func.timezone("UTC", table.c.at)  # timestamptz -> timestamp of UTC wall time
    columns = [at if name == "at" else table.c[name] for name in CHAINED_FIELDS]
    query = (select(*columns, table.c.prev_hash, table.c.hash, table.c.chain)
             .order_by(table.c.chain, table.c.id))
    if chains is not None:
        query = query.where(table.c.chain.in_([int(chain) for chain in chains]))
    return query


def stream_entries(connection: Connection,
                   chains: Sequence[int] | None = None) -> Iterator[Sequence[Any]]:
    """The trail's rows (of ``chains`` only, when given) as plain tuples (``entries_query``),
    read in large batches by the driver's own cursor in ``connection``'s transaction
    (server-side on PostgreSQL): a SQLAlchemy row per entry would cost as much as hashing it."""
    dialect = connection.dialect
    sql = str(entries_query(dialect.name, chains).compile(
        dialect=dialect, compile_kwargs={"literal_binds": True}))
    if not connection.in_transaction():
        connection.begin()  # what executing through ``connection`` would have done
    driver = connection.connection.driver_connection
    cursor = driver.cursor(name=SERVER_CURSOR) if dialect.name == "postgresql" else driver.cursor()
    try:
        cursor.execute(sql)
        while batch := cursor.fetchmany(BATCH):
            yield from batch
    finally:
        cursor.close()


def canonical_text_function(dialect_name: str) -> Callable[[Sequence[Any]], str | None]:
    """For a row of ``stream_entries``: the canonical JSON text of its chained fields, or None
    when the fast path cannot be sure of it."""
    return _sqlite_canonical_text if dialect_name == "sqlite" else _postgresql_canonical_text
