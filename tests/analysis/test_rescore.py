"""Rescoring the cache: what is read, what is written, and that a repeat writes nothing."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from score_cache import add_company, add_contact, add_event

from analysis.rescore import rescore
from cache.contact_reader import ContactReader
from cache.database import Cache, open_cache
from scoring import loads

AS_OF = datetime(2026, 11, 22, tzinfo=timezone.utc)
MODEL = """
[model]
name = "test"
version = "1"
[[fit.rules]]
name = "VP"
when = { jobtitle = { contains = "vp" } }
points = 20
[[fit.rules]]
name = "Software company"
when = { company.industry = "COMPUTER_SOFTWARE" }
points = 10
[[engagement.rules]]
name = "Meetings"
event = "meeting"
where = { hs_meeting_outcome = "COMPLETED" }
points = 10
count = "each"
[[engagement.rules]]
name = "Calls"
event = "call"
points = 5
count = "each"
[grades]
fit = { A = 30, B = 10 }
engagement = { 1 = 20, 2 = 5 }
[stages]
managed = ["lead", "marketingqualifiedlead"]
[stages.lead]
when = { email = { exists = true } }
[stages.marketingqualifiedlead]
when = { score = { gte = 40 } }
"""


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    cache = open_cache(tmp_path / "leadsync.db")
    add_contact(cache, "1", email="ann@acme.io", jobtitle="VP Sales", lifecyclestage="lead")
    add_company(cache, "900", "1", industry="COMPUTER_SOFTWARE")
    add_event(cache, "1", "meetings", "m1", "2026-11-20T10:00:00.000Z", hs_meeting_outcome="COMPLETED")
    add_event(cache, "1", "meetings", "m2", "2026-11-21T10:00:00.000Z", hs_meeting_outcome="NO_SHOW")
    add_event(cache, "1", "calls", "c1", "2026-11-21T11:00:00.000Z", type_ids=(193,))
    add_contact(cache, "2", email="bo@example.com", jobtitle="Engineer")
    add_contact(cache, "3", email="cy@gone.io", jobtitle="VP", archived=1)
    add_contact(cache, "4", email="di@old.io", jobtitle="VP", merged_into="1")
    add_event(cache, "3", "calls", "c3", "2026-11-21T11:00:00.000Z", type_ids=(193,))
    yield cache
    cache.close()


def scores(cache: Cache) -> list[tuple]:
    return cache.conn.execute("SELECT contact_id, model_name, model_version, as_of, fit, engagement, "
                              "total, grade, stage, inactive, reasons FROM scores "
                              "ORDER BY contact_id").fetchall()


def history(cache: Cache) -> list[tuple]:
    return cache.conn.execute("SELECT contact_id, as_of, model_version, trigger, old_total, new_total, "
                              "old_grade, new_grade, old_stage, new_stage, run_id, pushed_at "
                              "FROM score_history ORDER BY id").fetchall()


def test_first_rescore_stores_scores_and_history_for_live_contacts_only(cache: Cache) -> None:
    summary = rescore(cache, loads(MODEL), AS_OF)
    reasons = ('[["VP","fit",20.0,1],["Software company","fit",10.0,1],'
               '["Meetings","engagement",10.0,1],["Calls","engagement",5.0,1]]')
    as_of = "2026-11-22T00:00:00.000Z"
    assert scores(cache) == [
        ("1", "test", "1", as_of, 30.0, 15.0, 45.0, "A2", "marketingqualifiedlead", 0,
         reasons),
        ("2", "test", "1", as_of, 0.0, 0.0, 0.0, "C3", "lead", 0, "[]"),
    ]
    run_id = summary.run_id
    assert history(cache) == [
        ("1", as_of, "1", "score", None, 45.0, None, "A2", None, "marketingqualifiedlead", run_id, None),
        ("2", as_of, "1", "score", None, 0.0, None, "C3", None, "lead", run_id, None),
    ]
    assert (summary.scored, summary.changed, summary.updated, summary.promoted) == (2, 2, 2, 2)
    assert summary.grades == {"A2": 1, "C3": 1}
    run = cache.conn.execute("SELECT command, outcome, records FROM runs WHERE id = ?", (run_id,)).fetchone()
    assert run == ("score", "ok", 2)


def test_rescoring_the_same_data_with_the_same_model_and_as_of_writes_nothing(cache: Cache) -> None:
    model = loads(MODEL)
    rescore(cache, model, AS_OF)
    before = (scores(cache), history(cache), cache.conn.execute("SELECT * FROM scores").fetchall())
    summary = rescore(cache, model, AS_OF)
    assert (summary.scored, summary.changed, summary.updated) == (2, 0, 0)
    assert (scores(cache), history(cache), cache.conn.execute("SELECT * FROM scores").fetchall()) == before


def test_only_contacts_whose_score_changed_get_history(cache: Cache) -> None:
    model = loads(MODEL)
    rescore(cache, model, AS_OF)
    add_event(cache, "1", "calls", "c2", "2026-11-21T12:00:00.000Z", type_ids=(193,))
    summary = rescore(cache, model, AS_OF, trigger="webhook")
    assert (summary.changed, summary.updated) == (1, 1)
    assert history(cache)[-1][:10] == ("1", "2026-11-22T00:00:00.000Z", "1", "webhook", 45.0, 50.0,
                                        "A2", "A1", "marketingqualifiedlead", "marketingqualifiedlead")


def test_a_new_model_version_with_equal_totals_updates_scores_but_not_history(cache: Cache) -> None:
    rescore(cache, loads(MODEL), AS_OF)
    summary = rescore(cache, loads(MODEL.replace('version = "1"', 'version = "2"')), AS_OF)
    assert (summary.changed, summary.updated) == (0, 2)
    assert {row[2] for row in scores(cache)} == {"2"}


def test_rescoring_chosen_contacts_reports_the_unscorable(cache: Cache) -> None:
    summary = rescore(cache, loads(MODEL), AS_OF, contact_ids=["2", "3", "4"], trigger="sync")
    assert (summary.scored, summary.missing) == (1, ("3", "4"))
    assert [row[0] for row in scores(cache)] == ["2"]


def test_callers_inside_a_run_pass_their_run_id(cache: Cache) -> None:
    run_id = cache.start_run("sync")
    summary = rescore(cache, loads(MODEL), AS_OF, run_id=run_id, trigger="sync")
    assert summary.run_id == run_id
    assert {row[10] for row in history(cache)} == {run_id}
    assert cache.conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_reader_yields_events_once_skips_archived_and_picks_the_primary_company(tmp_path: Path) -> None:
    cache = open_cache(tmp_path / "c.db")
    add_contact(cache, "7", email="x@y.z")
    add_company(cache, "500", "7", type_id=279, industry="RETAIL")
    add_company(cache, "501", "7", type_id=1, industry="COMPUTER_SOFTWARE")
    add_company(cache, "501", "7", type_id=279)
    add_event(cache, "7", "meetings", "m1", "2026-11-20T10:00:00.000Z", type_ids=(199, 7),
              hs_meeting_outcome="COMPLETED")
    add_event(cache, "7", "meetings", "m2", "2026-11-20T10:00:00.000Z", archived=1,
              hs_meeting_outcome="COMPLETED")
    add_event(cache, "7", "notes", "n1", "2026-11-20T10:00:00.000Z", type_ids=(201,))
    [[row]] = list(ContactReader(cache, loads(MODEL)).chunks(None, 10))
    contact_id, contact, events, company, stored = row
    assert contact_id == "7" and stored is None
    assert contact == {"id": "7", "email": "x@y.z", "jobtitle": None, "lifecyclestage": None,
                       "createdate": None}
    assert company == {"industry": "COMPUTER_SOFTWARE"}
    assert events == [("meetings", 1795168800.0, {"hs_meeting_outcome": "COMPLETED"})]


def test_chunks_cover_every_contact_exactly_once(tmp_path: Path) -> None:
    cache = open_cache(tmp_path / "c.db")
    for n in range(7):
        add_contact(cache, f"{n:03d}", email=f"p{n}@acme.io")
        add_event(cache, f"{n:03d}", "calls", f"c{n}", "2026-11-21T11:00:00.000Z", type_ids=(193,))
    summary = rescore(cache, loads(MODEL), AS_OF, chunk_size=3)
    assert summary.scored == 7
    assert [row[6] for row in scores(cache)] == [5.0] * 7


def test_column_chunks_hold_what_chunks_hold(tmp_path: Path) -> None:
    """The batch path reads the same contacts, companies (primary label, else the lowest id),
    events and stored scores as the per-contact path, and scores them the same."""
    from scoring import score
    from scoring.batch import batch_scorer
    cache = open_cache(tmp_path / "c.db")
    add_contact(cache, "1", email="a@b.c", jobtitle="VP Sales", lifecyclestage="lead")
    add_contact(cache, "2", archived=1, email="gone@b.c")
    add_contact(cache, "3", email="c@gmail.com")
    add_contact(cache, "4", merged_into="3", email="old@b.c")
    add_contact(cache, "5")
    add_company(cache, "503", "3", type_id=279, industry="RETAIL")
    add_company(cache, "502", "3", type_id=279, industry="COMPUTER_SOFTWARE")
    add_company(cache, "501", "1", type_id=1, industry="INTERNET")
    for contact_id in ("1", "2", "3", "4"):
        add_event(cache, contact_id, "meetings", f"m{contact_id}", "2026-11-20T10:00:00.000Z",
                  hs_meeting_outcome="COMPLETED")
        add_event(cache, contact_id, "calls", f"c{contact_id}", "2026-11-21T11:00:00.000Z",
                  type_ids=(193,))
    model = loads(MODEL)
    rescore(cache, model, AS_OF, contact_ids=["1"])
    reader = ContactReader(cache, model)
    for wanted in (None, ["5", "3", "1", "2"]):
        rows = [row for chunk in reader.chunks(wanted, 2) for row in chunk]
        batches = list(reader.column_chunks(wanted, 2))
        assert [i for b in batches for i in b.ids] == [row[0] for row in rows] == ["1", "3", "5"]
        assert [s for b in batches for s in b.stored] == [row[4] for row in rows]
        assert rows[0][4] is not None and rows[1][4] is None
        assert [row[3] for row in rows] == [{"industry": "INTERNET"},
                                            {"industry": "COMPUTER_SOFTWARE"}, None]
        scored = [batch_scorer(model, AS_OF).score(b.chunk) for b in batches]
        assert [s.score(i) for s in scored for i in range(len(s.fit))] == [
            score(contact, events, company, model, AS_OF)
            for _, contact, events, company, _ in rows]


WINDOWED = """
[model]
name = "windows"
version = "1"
[engagement]
half_life_days = 30
activity = ["meeting", "call", "email", "recent_conversion_date"]
[[engagement.rules]]
name = "Meetings this quarter"
event = "meeting"
points = 10
count = "each"
window_days = 90
[[engagement.rules]]
name = "Any call in a month"
event = "call"
points = 5
count = "once"
window_days = 30
[[engagement.rules]]
name = "Calls ever"
event = "call"
where = { hs_call_status = "COMPLETED" }
points = 1
count = "daily"
[stages]
managed = ["lead"]
[stages.lead]
when = { days_since_last_engagement = { lte = 100 } }
[inactive]
after_days = 60
"""


def test_windowed_columns_read_only_countable_events_and_the_latest_activity(tmp_path: Path) -> None:
    """Given as-of, the batch path skips events no rule can count (kinds no rule reads, ages
    beyond every window of their kind, with a day's margin) but keeps each contact's latest
    activity; the scores equal the engine's on every event."""
    from scoring import score
    from scoring.batch import batch_scorer
    from scoring.engine import epoch
    cache = open_cache(tmp_path / "c.db")
    add_contact(cache, "1", email="a@b.c", recent_conversion_date="2026-06-01T00:00:00.000Z")
    add_contact(cache, "2", email="d@e.f")  # only an old email: no countable event, latest kept
    add_contact(cache, "3", email="g@h.i")  # nothing at all
    add_contact(cache, "4", email="j@k.l")  # only a future meeting: not yet happened
    add_event(cache, "1", "meetings", "m1", "2026-11-01T10:00:00.000Z")  # 20.6 days: in
    add_event(cache, "1", "meetings", "m2", "2026-08-24T10:00:00.000Z")  # 89.6 days: in
    add_event(cache, "1", "meetings", "m3", "2026-08-23T10:00:00.000Z")  # 90.6: margin, read
    add_event(cache, "1", "meetings", "m4", "2026-08-01T10:00:00.000Z")  # 112.6: skipped
    add_event(cache, "1", "calls", "c1", "2025-01-05T10:00:00.000Z", type_ids=(193,),
              hs_call_status="COMPLETED")  # no window on "Calls ever": read
    add_event(cache, "1", "notes", "n1", "2026-11-21T10:00:00.000Z", type_ids=(201,))
    add_event(cache, "2", "emails", "e1", "2026-09-01T10:00:00.000Z", type_ids=(197,))
    add_event(cache, "4", "meetings", "m5", "2026-12-01T10:00:00.000Z")
    model = loads(WINDOWED)
    now = epoch(AS_OF)
    windowed = ContactReader(cache, model, now)
    full = ContactReader(cache, model)
    for wanted in (None, ["4", "3", "2", "1"]):
        [batch] = list(windowed.column_chunks(wanted, 10))
        [everything] = list(full.column_chunks(wanted, 10))
        rows = [row for chunk in full.chunks(wanted, 10) for row in chunk]
        assert batch.ids == everything.ids == ["1", "2", "3", "4"]
        events = batch.chunk.events
        assert events.owner.tolist() == [0, 0, 0, 0, 3]
        assert sorted(events.at.tolist()) == sorted(
            epoch(datetime.fromisoformat(t)) for t in (
                "2025-01-05T10:00:00+00:00", "2026-08-23T10:00:00+00:00",
                "2026-08-24T10:00:00+00:00", "2026-11-01T10:00:00+00:00",
                "2026-12-01T10:00:00+00:00"))
        assert everything.chunk.latest is None and len(everything.chunk.events.at) == 7  # no notes
        latest = batch.chunk.latest.tolist()
        assert latest[:2] == [epoch(datetime(2026, 11, 1, 10, tzinfo=timezone.utc)),
                              epoch(datetime(2026, 9, 1, 10, tzinfo=timezone.utc))]
        assert latest[2] != latest[2] and latest[3] != latest[3]  # NaN: none yet
        scorer_ = batch_scorer(model, AS_OF)
        windowed_scores = scorer_.score(batch.chunk)
        assert [windowed_scores.score(i) for i in range(4)] == [
            scorer_.score(everything.chunk).score(i) for i in range(4)] == [
            score(contact, events, company, model, AS_OF)
            for _, contact, events, company, _ in rows]
    results = [windowed_scores.score(i) for i in range(4)]
    assert [(r.days_since_last_engagement, r.stage, r.inactive) for r in results] == [
        (20.6, "lead", False), (81.6, "lead", True), (None, None, True), (None, None, True)]
    assert [(r.rule, r.occurrences) for r in results[0].reasons] == [
        ("Meetings this quarter", 2), ("Calls ever", 1)]
    summary = rescore(cache, model, AS_OF)
    assert (summary.scored, summary.changed) == (4, 4)


def test_a_rescore_keeps_no_statement_open_across_its_commits_so_the_wal_stays_small(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read left open across the chunks' commits pins the WAL: it then grows by everything
    written and every page read looks through all of it. Checkpointing after every commit,
    the WAL must stay about one chunk's writes in size."""
    monkeypatch.setattr("analysis.rescore._CHECKPOINT_PAGES", 1)
    cache = open_cache(tmp_path / "c.db")
    conn = cache.conn
    conn.execute("BEGIN")
    for n in range(1000):
        add_contact(cache, f"{n:05d}", email=f"p{n}@acme.io", jobtitle="VP Sales")
    conn.executemany("INSERT INTO engagements (type, id, occurred_at, properties) VALUES "
                     "('calls', ?, '2026-11-20T10:00:00.000Z', '{}')",
                     [(str(n),) for n in range(30_000)])
    conn.executemany("INSERT INTO associations VALUES ('contacts', ?, 'calls', ?, 193)",
                     [(f"{n % 1000:05d}", str(n)) for n in range(30_000)])
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    summary = rescore(cache, loads(MODEL), AS_OF, chunk_size=50)
    assert (summary.scored, summary.updated, summary.changed) == (1000, 1000, 1000)
    pages = conn.execute("PRAGMA page_size").fetchone()[0]
    one_chunk = (tmp_path / "c.db-wal").stat().st_size // pages
    assert one_chunk < 40, one_chunk  # with the WAL pinned: 265 pages
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)  # as it was


def _marks(cache: Cache) -> dict[str, int]:
    return dict(cache.conn.execute("SELECT contact_id, seq FROM push_dirty"))


def test_a_rescore_marks_each_contact_it_wrote_once_for_every_model(cache: Cache) -> None:
    from scoring.models import ContactModel, ModelSet

    model = loads(MODEL)
    challenger = loads(MODEL.replace('version = "1"', 'version = "2"'))
    models = ModelSet((ContactModel("main", model, drives_stages=True),
                       ContactModel("challenger", challenger, shadow=True)))
    cache.conn.execute("INSERT INTO push_dirty (contact_id) VALUES ('2')")  # an older mark
    before = _marks(cache)["2"]
    rescore(cache, models, AS_OF)
    marks = _marks(cache)
    # two score rows and two history rows each, one mark each, renewed after the older one
    assert sorted(marks) == ["1", "2"] and marks["2"] > before
    assert cache.conn.execute("SELECT count(*) FROM scores").fetchone()[0] == 4
    assert cache.conn.execute(
        "SELECT count(*) FROM push_plan_state WHERE key = 'defer_marks'").fetchone()[0] == 0
    cache.conn.execute("DELETE FROM push_dirty")
    rescore(cache, models, AS_OF)  # nothing changed: nothing written, nobody marked
    assert _marks(cache) == {}
    # another writer (no rescore transaction) is still marked by the triggers, row by row
    cache.conn.execute("UPDATE scores SET total = 1 WHERE contact_id = '1' AND model = 'main'")
    assert sorted(_marks(cache)) == ["1"]


def test_a_rescore_that_fails_mid_write_leaves_neither_rows_nor_the_deferral_flag(
        cache: Cache, monkeypatch: pytest.MonkeyPatch) -> None:
    import analysis.rescore as rescore_module

    original = rescore_module._Store.flush

    def failing(self, conn, now, touched):
        original(self, conn, now, touched)
        raise KeyboardInterrupt  # Ctrl-C after the rows went in, before the commit

    monkeypatch.setattr(rescore_module._Store, "flush", failing)
    with pytest.raises(KeyboardInterrupt):
        rescore(cache, loads(MODEL), AS_OF)
    conn = cache.conn
    assert conn.execute("SELECT count(*) FROM scores").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM push_plan_state").fetchone()[0] == 0
    assert _marks(cache) == {}
    monkeypatch.undo()
    rescore(cache, loads(MODEL), AS_OF)
    assert sorted(_marks(cache)) == ["1", "2"]
