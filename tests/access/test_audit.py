"""The audit log: chained JSON lines after a genesis record, torn last line tolerated, search and tail, CLI."""

from __future__ import annotations

import json

import pytest

from workbench import audit
from workbench.cli import main
from workbench.errors import UserError

from .conftest import INJECTION, user


def test_events_are_appended_one_json_line_each(state):
    audit.log_login("alice", True)
    audit.write("execute", user("clinicien", ("014-S03",), name="alice"), tables=["person"], rows=3)
    audit.export(user("admin", name="root"), indicator=None, format="xlsx", rows=12, destination="cohorte.xlsx",
                 what="cohorte")
    lines = (state / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["genesis", "login", "execute", "export"]
    assert [json.loads(line)["seq"] for line in lines] == [0, 1, 2, 3]
    lines = lines[1:]
    second = json.loads(lines[1])
    assert (second["user"], second["role"], second["rows"], second["tables"]) == ("alice", "clinicien", 3, ["person"])
    third = json.loads(lines[2])
    assert (third["user"], third["format"], third["rows"], third["destination"]) == ("root", "xlsx", 12, "cohorte.xlsx")


def test_a_torn_last_line_is_skipped(state):
    audit.log_login("alice", True)
    with (state / "audit.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"time": "2026-01-01T00:00:00+00:00", "event": "exec')  # crash mid-write
    assert [e["user"] for e in audit.read()] == ["système", "alice"]
    audit.log_login("bob", False)  # the next writer starts a new line: bob's event survives
    assert [e["user"] for e in audit.read()] == ["système", "alice", "bob"]
    assert audit.verify().intact


def test_search_and_tail():
    for name, ok in [("alice", True), ("bob", False), ("alice", False)]:
        audit.log_login(name, ok)
    audit.write("execute", user("admin", name="alice"), tables=[], rows=1)
    assert [e["ok"] for e in audit.search(user="alice", event="login")] == [True, False]
    assert audit.search(user=INJECTION) == []
    assert [e["event"] for e in audit.tail(2)] == ["login", "execute"]
    assert audit.search(since="2999-01-01") == []
    assert len(audit.search(since="2000-01-01")) == 5  # with the genesis record
    with pytest.raises(UserError, match="--since : date invalide"):
        audit.search(since="hier")


def test_audit_cli_json(capsys):
    audit.log_login("alice", True)
    audit.log_login("bob", False)
    main(["audit", "search", "--user", "bob", "--format", "json"])
    events = json.loads(capsys.readouterr().out)
    assert [(e["user"], e["ok"]) for e in events] == [("bob", False)]
    main(["audit", "tail", "-n", "1", "--format", "json"])
    assert [e["user"] for e in json.loads(capsys.readouterr().out)] == ["bob"]
