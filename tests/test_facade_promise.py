"""The facade is the public API (issue 14): docs/facade-api.txt records every name of
``core.__all__`` with its parameters. Removing a name (without a deprecation period, see
``core._DEPRECATED``), removing a parameter or adding one callers must pass fails here; a
compatible addition only asks for the record to be updated."""

from __future__ import annotations

from pathlib import Path

import core
from core.testing_contract import broken_promises, facade_lines

RECORD = Path(__file__).resolve().parent.parent / "docs" / "facade-api.txt"
UPDATE = ("update the record: .venv/bin/python -c \"from core.testing_contract import "
          "facade_lines; print('\\n'.join(facade_lines()))\" > docs/facade-api.txt")


def test_the_facade_keeps_its_recorded_promise():
    recorded = RECORD.read_text().splitlines()
    assert broken_promises(recorded, set(core._DEPRECATED)) == []
    assert sorted(set(facade_lines()) - set(recorded)) == [], UPDATE


def test_the_promise_check_is_not_vacuous():
    assert broken_promises(["create_record(type_key, user, reason=, gone)"], set()) == [
        "create_record: parameter 'gone' removed"]
    assert broken_promises(["create_record(reason=)"], set()) == [
        "create_record: new required parameter 'type_key'",
        "create_record: new required parameter 'user'"]
    assert broken_promises(["retired_helper(x)"], set()) == [
        "retired_helper: removed from core.__all__ without a deprecation"]
    assert broken_promises(["retired_helper(x)"], {"retired_helper"}) == []
