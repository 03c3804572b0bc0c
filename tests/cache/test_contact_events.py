"""`contact_events` always equals its definition from engagements + associations."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import pytest
from pull_world import ALL, live_contacts, make_client
from score_cache import add_contact, add_event

from analysis.rescore import load_model, rescore
from cache.contact_events import OMITTED
from cache.contact_reader import ContactReader
from cache.database import migrate, open_cache
from cache.records import (Tally, apply_merge, mark_archived, save_associations, save_records,
                           tombstone_unseen)
from cache.schema import MIGRATIONS
from connector.pull import pull
from mappings.streams import select
from sandbox import Sandbox
from scoring import loads

AS_OF = datetime(2026, 11, 22, tzinfo=timezone.utc)
KINDS = ("calls", "emails", "meetings", "notes", "tasks")


def recomputed(conn: sqlite3.Connection) -> set[tuple]:
    """contact_events as its definition says, computed in Python from the source tables."""
    live = {(kind, id_): (at, props) for kind, id_, at, props in conn.execute(
        "SELECT type, id, occurred_at, properties FROM engagements WHERE archived = 0")}
    rows = set()
    for contact, kind, id_ in conn.execute(
            "SELECT from_id, to_type, to_id FROM associations WHERE from_type = 'contacts'"):
        if (kind, id_) not in live or kind not in KINDS:
            continue
        at, props = live[(kind, id_)]
        if not at:
            continue
        kept = {k: v for k, v in json.loads(props).items() if k not in OMITTED}
        seconds = datetime.fromisoformat(at).timestamp()
        rows.add((contact, seconds, kind, id_, json.dumps(kept, sort_keys=True)))
    return rows


def stored(conn: sqlite3.Connection) -> set[tuple]:
    rows = set()
    for contact, at, kind, id_, props in conn.execute("SELECT * FROM contact_events"):
        rows.add((contact, at, kind, id_, json.dumps(json.loads(props), sort_keys=True)))
    return rows


def call(id_: str, at: str | None, status: str = "COMPLETED") -> dict:
    return {"id": id_, "properties": {"hs_timestamp": at, "hs_call_status": status,
                                      "hs_call_body": "long notes", "hs_object_id": id_},
            "createdAt": at, "updatedAt": at, "archived": False}


def test_every_save_path_keeps_contact_events_equal_to_its_definition():
    cache = open_cache(":memory:")
    calls, contacts = select(("calls",))["calls"], select(("contacts",))["contacts"]
    with cache.transaction() as conn:
        save_records(conn, calls, [call("1", "2026-11-01T10:00:00.000Z"),
                                   call("2", "2026-11-02T10:00:00Z"), call("3", None)],
                     "2026-11-22T00:00:00.000Z", Tally())
        save_associations(conn, "contacts", "calls", {"10": [
            {"toObjectId": 1, "associationTypes": [{"typeId": 193}, {"typeId": 194}]},
            {"toObjectId": 3, "associationTypes": [{"typeId": 193}]}]})
        save_associations(conn, "calls", "contacts", {"2": [{"toObjectId": 10},
                                                            {"toObjectId": 11}]})
    assert stored(cache.conn) == recomputed(cache.conn)
    assert {r[0] + "/" + r[3] for r in stored(cache.conn)} == {"10/1", "10/2", "11/2"}
    with cache.transaction() as conn:
        save_records(conn, calls, [call("1", "2026-11-05T10:00:00.000Z", "NO_ANSWER")],
                     "2026-11-23T00:00:00.000Z", Tally())  # changed time and status
        save_records(conn, calls, [call("3", "2026-11-06T10:00:00.000Z")],
                     "2026-11-23T00:00:00.000Z", Tally())  # now dated: it counts
        mark_archived(conn, calls, [call("2", "2026-11-02T10:00:00Z")],
                      "2026-11-23T00:00:00.000Z", Tally())
    assert stored(cache.conn) == recomputed(cache.conn)
    assert {r[0] + "/" + r[3] for r in stored(cache.conn)} == {"10/1", "10/3"}
    with cache.transaction() as conn:
        save_records(conn, contacts, [{"id": "12", "properties": {
            "hs_merged_object_ids": "10"}, "archived": False}], "2026-11-23T00:00:00.000Z",
            Tally())  # 10 merged into 12: its associations go
        save_associations(conn, "calls", "contacts", {"1": [{"toObjectId": 12}]})
        tombstone_unseen(conn, calls, "2026-11-23T00:00:00.000Z")
    assert stored(cache.conn) == recomputed(cache.conn)
    assert {r[0] + "/" + r[3] for r in stored(cache.conn)} == {"12/1"}
    with cache.transaction() as conn:
        apply_merge(conn, "contacts", "13", ["12"])
    assert stored(cache.conn) == recomputed(cache.conn) == set()


def test_the_migration_backfills_a_cache_written_before_it(tmp_path):
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, sql in MIGRATIONS:
        if name != "0009_contact_events":
            conn.executescript(sql)
            conn.execute("INSERT INTO _migrations VALUES (?, 'then')", (name,))
    conn.executemany("INSERT INTO engagements (type, id, occurred_at, properties, archived) "
                     "VALUES (?, ?, ?, ?, ?)", [
                         ("calls", "1", "2026-11-01T10:00:00.000Z", '{"hs_call_status":"X"}', 0),
                         ("notes", "2", "2026-11-02T10:00:00.000Z", '{"hs_note_body":"b"}', 0),
                         ("emails", "3", "2026-11-03T10:00:00.000Z", "{}", 1),
                         ("tasks", "4", None, "{}", 0)])
    conn.executemany("INSERT INTO associations VALUES ('contacts', ?, ?, ?, ?)", [
        ("10", "calls", "1", 193), ("10", "calls", "1", 194), ("11", "notes", "2", 201),
        ("11", "emails", "3", 197), ("11", "tasks", "4", 203), ("11", "companies", "9", 1)])
    assert migrate(conn) == ["0009_contact_events"]
    assert stored(conn) == recomputed(conn) == {
        ("10", 1793527200.0, "calls", "1", '{"hs_call_status": "X"}'),
        ("11", 1793613600.0, "notes", "2", "{}")}


@pytest.fixture
def sb():
    with Sandbox(contacts=300, seed=5) as sandbox:
        yield sandbox


def test_pulls_with_archives_merges_and_reassociations_keep_it_equal(sb, tmp_path):
    cache = open_cache(tmp_path / "leadsync.db")
    pull(cache, make_client(sb), ALL)
    assert stored(cache.conn) == recomputed(cache.conn)
    assert len(stored(cache.conn)) > 300
    portal = sb.portal
    a, b, c, d, e = live_contacts(sb, 5)
    calls = [int(r["id"]) for r in portal.truth("calls") if not r["archived"]]
    notes = [int(r["id"]) for r in portal.truth("notes") if not r["archived"]]
    portal.archive("calls", calls[0])
    portal.update("calls", calls[1], {"hs_call_status": "BUSY"})
    portal.archive("contacts", a)
    portal.merge("contacts", b, c)
    for contact in list(portal.links.targets("notes", notes[0], "contacts")):
        portal.disassociate("notes", notes[0], "contacts", contact)
    portal.associate("notes", notes[0], "contacts", d)
    portal.update("notes", notes[0], {"hs_note_body": "moved"})  # so the pull re-reads its links
    new = portal.create("calls", {"hs_timestamp": "2026-11-01T10:00:00.000Z",
                                  "hs_call_status": "COMPLETED"})
    portal.associate("calls", new.id, "contacts", e)
    pull(cache, make_client(sb), ALL)
    assert stored(cache.conn) == recomputed(cache.conn)
    assert {r[0] for r in stored(cache.conn) if r[3] == str(notes[0])} == {str(d)}
    assert (str(e), 1793527200.0, "calls", str(new.id),
            '{"hs_call_status": "COMPLETED"}') in stored(cache.conn)
    cache.close()


def test_rescore_from_contact_events_equals_rescore_through_associations(sb, tmp_path):
    cache = open_cache(tmp_path / "leadsync.db")
    pull(cache, make_client(sb), ALL)
    model = load_model(None, cache)
    reader = ContactReader(cache, model)
    assert reader.clustered
    reader.clustered = False
    slow = [row for chunk in reader.chunks(None, 50) for row in chunk]
    fast = [row for chunk in ContactReader(cache, model).chunks(None, 50) for row in chunk]
    assert len(fast) == len(slow) > 250
    names = reader.event_names

    def seen(rows: list) -> list:
        """Each contact's events as the model reads them (order within a contact is free)."""
        return [(r[0], r[1], sorted(((kind, at, {n: p.get(n) for n in names[kind]})
                                     for kind, at, p in r[2]), key=repr), r[3]) for r in rows]
    assert seen(fast) == seen(slow)
    first = rescore(cache, model, AS_OF)
    assert first.scored == len(fast) and first.updated == len(fast)
    assert rescore(cache, model, AS_OF).updated == 0
    cache.close()


def test_a_model_testing_an_omitted_property_reads_engagements_instead(tmp_path):
    cache = open_cache(tmp_path / "c.db")
    add_contact(cache, "7", email="x@y.z")
    add_event(cache, "7", "notes", "n1", "2026-11-20T10:00:00.000Z", type_ids=(201,),
              hs_note_body="Asked for pricing")
    add_event(cache, "7", "notes", "n2", "2026-11-21T10:00:00.000Z", type_ids=(201,),
              hs_note_body="Out of office")
    model = loads("""
[model]
name = "notes"
version = "1"
[[engagement.rules]]
name = "Pricing notes"
event = "note"
where = { hs_note_body = { contains = "pricing" } }
points = 7
count = "each"
""")
    reader = ContactReader(cache, model)
    assert not reader.clustered
    [[(_, _, events, _, _)]] = list(reader.chunks(None, 10))
    assert sorted(events) == [("notes", 1795168800.0, {"hs_note_body": "Asked for pricing"}),
                              ("notes", 1795255200.0, {"hs_note_body": "Out of office"})]
    assert rescore(cache, model, AS_OF).grades == {"none": 1}
    [(engagement,)] = cache.conn.execute("SELECT engagement FROM scores").fetchall()
    assert engagement == 7.0
    cache.close()
