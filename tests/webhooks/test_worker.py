"""The webhook worker against the sandbox over real HTTP: each event type's action, echoes,
duplicates and reordering, failures, retries and parking. Events are filed straight into the
inbox (the receiver has its own tests); the worker drains them synchronously."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from webhook_world import FAST, WebhookWorld, changed, event
from writeback_world import make_client

from cache import inbox
from cache.database import open_cache
from cache.inbox import Backoff
from flows import status as status_mod
from foundation.errors import CacheBusy
from scoring.reasons import parse as parse_reasons
from webhooks.triage import EchoFilter
from webhooks.worker import WorkerConfig, open_worker


@pytest.fixture
def world(tmp_path):
    w = WebhookWorld.primed(str(tmp_path / "leadsync.db"))
    w.open_worker()
    yield w
    w.close()


def statuses(world: WebhookWorld) -> list[tuple[str, str | None]]:
    return [(status, error) for _, _, status, error in world.inbox()]


def live_contact(world: WebhookWorld) -> str:
    return world.candidates()[0]


# ---- one action per event type ----------------------------------------------------------------

def test_creation_reads_the_contact_and_its_company_then_scores_and_pushes_it(world):
    company = world.query("SELECT id FROM companies WHERE archived = 0 ORDER BY id LIMIT 1")[0][0]
    record = world.sb.portal.create("contacts", {
        "email": "ada@newco.example", "jobtitle": "VP Marketing", "firstname": "Ada"},
        associations=[("companies", int(company), True)])
    contact = str(record.id)
    world.file(event("creation", contact, changeFlag="NEW"))

    [report] = world.worker.drain()

    assert (report.events, report.done, report.read, report.scored, report.written) == \
        (1, 1, 1, 1, 1)
    assert world.cached(contact)["jobtitle"] == "VP Marketing"
    assert world.query("SELECT DISTINCT to_id FROM associations WHERE from_id = ? AND to_type = "
                       "'companies'", (contact,)) == [(company,)]
    total, grade, _ = world.score(contact)
    assert world.hubspot(contact)["leadsync_score"] == f"{total:g}"
    assert world.hubspot(contact)["leadsync_grade"] == grade
    assert world.history(contact) == [(None, total, None, world.score(contact)[2])]
    assert statuses(world) == [("done", None)]


def meetings_rule(world: WebhookWorld, contact: str) -> tuple[int, float]:
    reasons = parse_reasons(world.query("SELECT reasons FROM scores WHERE contact_id = ?",
                                        (contact,))[0][0])
    found = [(r.occurrences, r.points) for r in reasons if r.rule == "Meeting held or booked"]
    return found[0] if found else (0, 0.0)


def test_association_change_reads_the_new_meeting_and_scores_it(world):
    contact = live_contact(world)
    occurrences, points = meetings_rule(world, contact)
    meeting = world.sb.portal.create("meetings", {
        "hs_timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds")[:23] + "Z",
        "hs_meeting_outcome": "SCHEDULED", "hs_meeting_title": "Demo"},
        associations=[("contacts", int(contact), False)])
    world.file(event("associationChange", contact, associationType="CONTACT_TO_MEETING",
                     fromObjectId=int(contact), toObjectId=meeting.id, associationRemoved=False),
               event("associationChange", meeting.id, associationType="MEETING_TO_CONTACT",
                     fromObjectId=meeting.id, toObjectId=int(contact), associationRemoved=False))

    [report] = world.worker.drain()

    assert (report.done, report.read, report.written) == (2, 1, 1)
    assert world.query("SELECT json_extract(properties, '$.hs_meeting_outcome') FROM engagements "
                       "WHERE type = 'meetings' AND id = ?", (str(meeting.id),)) == [("SCHEDULED",)]
    now_occurrences, now_points = meetings_rule(world, contact)
    assert now_occurrences == occurrences + 1
    assert now_points == pytest.approx(min(points + 15, 30), abs=0.2)


def test_deletion_tombstones_and_a_stale_deletion_does_not(world):
    gone, back = world.candidates()[:2]
    world.sb.portal.archive("contacts", gone)
    world.sb.portal.archive("contacts", back)
    world.sb.portal.restore("contacts", back)  # restored after its deletion was announced
    world.file(event("deletion", gone), event("deletion", back))

    [report] = world.worker.drain()

    assert (report.done, report.tombstoned) == (2, 1)
    assert world.query("SELECT id, archived FROM contacts WHERE id IN (?, ?) ORDER BY id",
                       tuple(sorted((gone, back)))) == sorted([(gone, 1), (back, 0)])


def test_privacy_deletion_erases_the_cached_personal_properties(world):
    contact = live_contact(world)
    assert world.cached(contact)["email"]
    world.sb.portal.archive("contacts", contact, privacy=True)
    world.file(event("privacyDeletion", contact), event("deletion", contact))

    [report] = world.worker.drain()

    assert (report.done, report.erased) == (2, 1)
    assert world.query("SELECT properties, email, archived FROM contacts WHERE id = ?",
                       (contact,)) == [("{}", None, 1)]
    assert world.query("SELECT count(*) FROM scores WHERE contact_id = ?", (contact,)) == [(0,)]
    assert world.query("SELECT count(*) FROM pushed WHERE contact_id = ?", (contact,)) == [(0,)]


def test_merge_points_the_old_id_at_the_survivor_and_rescores_the_survivor(world):
    survivor, merged = world.candidates()[:2]
    history = len(world.query("SELECT id FROM score_history WHERE contact_id IN (?, ?)",
                              (survivor, merged)))
    world.sb.portal.merge("contacts", survivor, merged)
    world.file(event("merge", survivor, primaryObjectId=int(survivor),
                     mergedObjectIds=[int(merged)], newObjectId=int(survivor)),
               changed(merged, "jobtitle", "late news about the merged-away id"))

    [report] = world.worker.drain()

    assert (report.done, report.merged, report.tombstoned) == (2, 1, 0)
    assert world.query("SELECT merged_into FROM contacts WHERE id = ?", (merged,)) == [(survivor,)]
    assert world.query("SELECT count(*) FROM scores WHERE contact_id = ?", (merged,)) == [(0,)]
    # The merged-away id's history now belongs to the survivor.
    assert len(world.query("SELECT id FROM score_history WHERE contact_id = ?",
                           (survivor,))) >= history
    assert world.query("SELECT count(*) FROM score_history WHERE contact_id = ?",
                       (merged,)) == [(0,)]
    assert world.cached(survivor)["hs_merged_object_ids"] == merged


def test_restore_reads_the_contact_back_to_life(world):
    contact = live_contact(world)
    world.sb.portal.archive("contacts", contact)
    world.file(event("deletion", contact))
    world.worker.drain()
    world.sb.portal.restore("contacts", contact)
    world.file(event("restore", contact))

    [report] = world.worker.drain()

    assert (report.done, report.read) == (1, 1)
    assert world.query("SELECT archived FROM contacts WHERE id = ?", (contact,)) == [(0,)]


def test_events_leadsync_does_not_use_are_dropped_with_the_reason(world):
    contact = live_contact(world)
    world.file({**event("creation", 10_000_001), "subscriptionType": "company.creation"},
               {**event("propertyChange", 5), "subscriptionType": "object.propertyChange",
                "objectTypeId": "0-3"},
               event("associationChange", contact, associationType="CONTACT_TO_DEAL",
                     fromObjectId=int(contact), toObjectId=7))

    [report] = world.worker.drain()

    assert (report.dropped, report.read, report.api_calls) == (3, 0, 0)
    assert statuses(world) == [
        ("dropped", "not a contact event (company.creation)"),
        ("dropped", "not a contact event (objectTypeId 0-3)"),
        ("dropped", "association CONTACT_TO_DEAL does not affect scores")]


# ---- echoes -----------------------------------------------------------------------------------

def test_echo_rule_own_properties_and_values_pushed_within_24_hours(world):
    contact = live_contact(world)
    stage = world.query("SELECT value FROM pushed WHERE contact_id = ? AND property = "
                        "'lifecyclestage'", (contact,))
    conn = world.worker.cache.conn
    now = datetime.now(timezone.utc)
    recent = EchoFilter(conn, {"leadsync_score"}, (now - timedelta(hours=24)).isoformat())
    assert recent.reason(contact, "leadsync_score", "12") == \
        "echo: leadsync_score is written only by leadsync"
    pushed = world.query("SELECT value, pushed_at FROM pushed WHERE contact_id = ? AND "
                         "property = 'leadsync_grade'", (contact,))[0]
    assert recent.reason(contact, "leadsync_grade", pushed[0]) == \
        f"echo: leadsync pushed leadsync_grade={pushed[0]!r} at {pushed[1]}"
    assert recent.reason(contact, "leadsync_grade", "Z9") is None  # someone else's value
    assert recent.reason(contact, "jobtitle", "CEO") is None
    later = EchoFilter(conn, set(), (now + timedelta(minutes=1)).isoformat())
    assert later.reason(contact, "leadsync_grade", pushed[0]) is None  # older than the window
    assert stage == [] or recent.reason(contact, "lifecyclestage", stage[0][0]) is not None


def test_a_users_change_to_lifecycle_stage_is_not_an_echo(world):
    contact = live_contact(world)
    world.sb.portal.update("contacts", contact, {"lifecyclestage": "salesqualifiedlead"})
    world.file(changed(contact, "lifecyclestage", "salesqualifiedlead"))

    [report] = world.worker.drain()

    assert (report.done, report.dropped, report.read) == (1, 0, 1)
    assert world.cached(contact)["lifecyclestage"] == "salesqualifiedlead"


# ---- duplicates, reordering, idempotence ------------------------------------------------------

def test_reordered_and_duplicated_events_give_one_history_row_per_real_change(world):
    contact = live_contact(world)
    world.sb.reset_stats()
    t0 = int(time.time() * 1000)
    world.sb.portal.update("contacts", contact, {"jobtitle": "Student"})
    first = changed(contact, "jobtitle", "Student", at=t0)
    world.sb.portal.demo_request(contact)
    demo = changed(contact, "recent_conversion_event_name", "Demo request", at=t0 + 5)
    world.file(demo, demo, dict(demo, attemptNumber=1))  # the newer change, three times
    world.worker.drain()
    after_demo = world.score(contact)
    world.file(first, dict(first, attemptNumber=2), demo)  # the older one arrives late

    world.worker.drain()

    assert world.cached(contact)["jobtitle"] == "Student"  # HubSpot's current value
    assert world.cached(contact)["recent_conversion_event_name"] == "Demo request"
    assert world.score(contact) == after_demo
    assert len(world.history(contact)) == 1
    assert world.query("SELECT count(*) FROM inbox") == [(2,)]  # duplicates never filed
    assert world.write_calls() == 1


def test_rescoring_the_same_contact_again_writes_no_history_and_no_update(world):
    contact = live_contact(world)
    world.sb.portal.demo_request(contact)
    world.file(changed(contact, "recent_conversion_event_name", "Demo request"))
    world.worker.drain()
    rows = world.query("SELECT count(*) FROM score_history")
    world.sb.reset_stats()
    world.file(changed(contact, "recent_conversion_event_name", "Demo request"))  # a new event

    [report] = world.worker.drain()

    assert (report.done, report.scored, report.changed, report.written) == (1, 1, 0, 0)
    assert world.query("SELECT count(*) FROM score_history") == rows
    assert world.write_calls() == 0


# ---- failures ---------------------------------------------------------------------------------

def test_failed_events_are_retried_with_backoff_then_parked_and_shown(world):
    world.worker.close()
    clock = [datetime.now(timezone.utc) + timedelta(seconds=1)]
    world.open_worker(WorkerConfig(window=0, max_attempts=3, backoff=Backoff(
        first=timedelta(seconds=30))), clock=lambda: clock[0])
    contact = live_contact(world)
    world.sb.faults.add(status=503, times=None, path_prefix="/crm/v3/objects/contacts/batch/read")
    world.file(changed(contact, "jobtitle", "CTO"))

    [first] = world.worker.drain()
    assert (first.failed, first.error is not None) == (1, True)
    assert world.worker.drain() == []  # not due until the backoff has passed
    clock[0] += timedelta(seconds=31)
    assert world.worker.drain()[0].failed == 1
    clock[0] += timedelta(seconds=61)
    assert world.worker.drain()[0].failed == 1
    clock[0] += timedelta(hours=2)
    assert world.worker.drain() == []  # parked: never retried

    [(status, attempts, error)] = world.query("SELECT status, attempts, error FROM inbox")
    assert (status, attempts) == ("parked", 3)
    assert error.startswith("Unavailable: ")
    report = status_mod.status(world.worker.cache, clock[0])
    assert report["webhooks"] == {"depth": 0, "oldest_pending_age_s": None, "processed": 0,
                                  "failed": 0, "parked": 1, "dropped": 0}
    assert "0 waiting, 0 processed, 0 failed (to retry), 1 parked, 0 dropped" in \
        status_mod.render(report)
    world.sb.faults.clear()
    url = world.serve()
    with requests.get(url.replace("/webhooks/hubspot", "/healthz"), timeout=5) as health:
        assert health.json()["parked"] == 1


def test_a_contact_whose_write_fails_fails_only_its_own_events(world):
    bad, good = world.candidates()[:2]
    for contact in (bad, good):
        world.sb.portal.demo_request(contact)
    world.sb.faults.fail_records("contacts", [bad])
    world.file(changed(bad, "recent_conversion_event_name", "Demo request"),
               changed(good, "recent_conversion_event_name", "Demo request"))

    [report] = world.worker.drain()

    assert (report.done, report.failed, report.written) == (1, 1, 1)
    rows = world.query("SELECT object_id, status, error FROM inbox ORDER BY object_id = ?", (bad,))
    assert rows[0] == (good, "done", None)
    assert rows[1][:2] == (bad, "failed")
    assert rows[1][2].startswith("write-back failed: VALIDATION_ERROR")


# ---- one worker per cache, and a killed worker's claims ---------------------------------------

def test_a_second_worker_on_the_same_cache_is_refused(world):
    with pytest.raises(CacheBusy, match="already has a webhook worker running"):
        open_worker(world.db_path, world.settings, lambda: make_client(world.sb), config=FAST)


def test_a_new_worker_releases_what_a_dead_worker_had_claimed(world):
    contact = live_contact(world)
    world.file(changed(contact, "jobtitle", "CTO"))
    cache = open_cache(world.db_path)
    try:
        assert len(inbox.claim(cache, 10, datetime.now(timezone.utc))) == 1  # then it "died"
    finally:
        cache.close()
    world.worker.close()
    world.worker = None

    worker = world.open_worker()

    assert [r.done for r in worker.drain()] == [1]
