"""Inbox: event validation and keys, dedup on append, claim/lease, retries, parking, metrics."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from cache import inbox
from cache.database import open_cache

T0 = datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)


def creation(event_id: int = 1, object_id: int = 101, occurred_at: int = 1_790_000_000_000,
             **extra) -> dict:
    return {"eventId": event_id, "subscriptionId": 7, "portalId": 62515, "appId": 54321,
            "occurredAt": occurred_at, "subscriptionType": "contact.creation", "attemptNumber": 0,
            "objectId": object_id, "changeSource": "CRM", "changeFlag": "NEW", **extra}


def property_change(event_id: int, value: str, **extra) -> dict:
    event = {**creation(event_id), "subscriptionType": "contact.propertyChange",
             "propertyName": "jobtitle", "propertyValue": value, **extra}
    del event["changeFlag"]
    return event


@pytest.fixture
def cache(tmp_path):
    cache = open_cache(tmp_path / "leadsync.db")
    yield cache
    cache.close()


def rows(cache) -> list[dict]:
    return [dict(row) for row in cache.db["inbox"].rows]


def test_event_from_json_keeps_the_event_and_its_identity():
    event = inbox.event_from_json(creation())
    assert event.event_id == 1
    assert event.subscription_type == "contact.creation"
    assert event.object_id == "101"
    assert event.occurred_at == 1_790_000_000_000
    assert json.loads(event.payload) == creation()
    assert len(event.key) == 64


def test_event_from_json_reads_the_older_event_type_name():
    legacy = creation()
    legacy["eventType"] = legacy.pop("subscriptionType")
    assert inbox.event_from_json(legacy).subscription_type == "contact.creation"


def test_association_change_without_object_id_uses_from_object_id():
    event = {"eventId": 9, "portalId": 1, "occurredAt": 5, "subscriptionType":
             "contact.associationChange", "associationType": "CONTACT_TO_COMPANY",
             "fromObjectId": 123, "toObjectId": 456, "associationRemoved": False}
    assert inbox.event_from_json(event).object_id == "123"


@pytest.mark.parametrize("event, message", [
    ([], "is not a JSON object"),
    ("contact.creation", "is not a JSON object"),
    ({k: v for k, v in creation().items() if k != "subscriptionType"}, "has no subscriptionType"),
    (creation(subscriptionType=""), "has no subscriptionType"),
    (creation(subscriptionType=3), "has no subscriptionType"),
    ({k: v for k, v in creation().items() if k != "eventId"}, "has no numeric eventId"),
    (creation(event_id="1"), "has no numeric eventId"),
    (creation(event_id=True), "has no numeric eventId"),
    (creation(event_id=1.5), "has no numeric eventId"),
    (creation(event_id=2**63), "has no numeric eventId"),
    (creation(occurred_at=None), "has no numeric occurredAt"),
    (creation(occurred_at=-1), "has no numeric occurredAt"),
    ({k: v for k, v in creation().items() if k != "objectId"}, "has no numeric objectId"),
    (creation(object_id="101"), "has no numeric objectId"),
])
def test_event_from_json_refuses_events_missing_required_fields(event, message):
    with pytest.raises(ValueError) as err:
        inbox.event_from_json(event)
    assert str(err.value) == message


def test_redelivery_has_the_same_key():
    assert (inbox.event_key(creation(attemptNumber=0))
            == inbox.event_key(creation(attemptNumber=3)))


@pytest.mark.parametrize("other", [
    property_change(1, "VP Sales", portalId=99),
    property_change(1, "Head of Sales"),
    property_change(2, "VP Sales"),
    property_change(1, "VP Sales", objectId=102),
    property_change(1, "VP Sales", occurredAt=1_790_000_000_001),
    property_change(1, "VP Sales", propertyName="company"),
    property_change(1, "VP Sales", subscriptionType="company.propertyChange"),
])
def test_a_reused_event_id_for_a_different_event_has_another_key(other):
    assert inbox.event_key(property_change(1, "VP Sales")) != inbox.event_key(other)


def test_append_adds_exact_rows_and_skips_what_is_already_there(cache):
    first = [inbox.event_from_json(creation(1, 101)), inbox.event_from_json(creation(2, 102))]
    assert inbox.append(cache, first, T0) == 2
    redelivered = [inbox.event_from_json(creation(2, 102, attemptNumber=1)),
                   inbox.event_from_json(creation(3, 103)),
                   inbox.event_from_json(creation(3, 103))]
    assert inbox.append(cache, redelivered, T0 + timedelta(seconds=1)) == 1
    assert inbox.append(cache, [], T0) == 0
    got = rows(cache)
    assert [(r["id"], r["event_id"], r["object_id"], r["status"], r["attempts"], r["received_at"],
             r["next_attempt_at"], r["error"], r["processed_at"]) for r in got] == [
        (1, 1, "101", "pending", 0, "2026-11-01T09:30:00.000Z", "2026-11-01T09:30:00.000Z", None, None),
        (2, 2, "102", "pending", 0, "2026-11-01T09:30:00.000Z", "2026-11-01T09:30:00.000Z", None, None),
        (3, 3, "103", "pending", 0, "2026-11-01T09:30:01.000Z", "2026-11-01T09:30:01.000Z", None, None),
    ]
    assert json.loads(got[1]["payload"])["attemptNumber"] == 0  # the first delivery is kept


def add(cache, *events, at=T0) -> None:
    inbox.append(cache, [inbox.event_from_json(e) for e in events], at)


def test_claim_returns_due_events_oldest_occurrence_first_and_leases_them(cache):
    add(cache, creation(1, 101, occurred_at=30), creation(2, 102, occurred_at=10),
        creation(3, 103, occurred_at=20))
    claimed = inbox.claim(cache, 2, T0, lease=timedelta(seconds=60))
    assert [(e.id, e.event_id, e.occurred_at, e.attempts) for e in claimed] == [(2, 2, 10, 0),
                                                                              (3, 3, 20, 0)]
    assert claimed[0].payload == creation(2, 102, occurred_at=10)
    assert claimed[0].received_at == "2026-11-01T09:30:00.000Z"
    assert [e.id for e in inbox.claim(cache, 10, T0)] == [1]  # the others are leased
    assert inbox.claim(cache, 10, T0 + timedelta(seconds=59)) == []
    # A worker that died: the leases run out and the events come back, in occurrence order.
    assert [e.id for e in inbox.claim(cache, 10, T0 + timedelta(seconds=61))] == [2, 3, 1]


def test_events_received_later_are_not_due_yet(cache):
    add(cache, creation(1), at=T0 + timedelta(seconds=5))
    assert inbox.claim(cache, 10, T0) == []


def test_mark_done_and_dropped_finish_events(cache):
    add(cache, creation(1, 101), creation(2, 102), creation(3, 103))
    assert inbox.mark_done(cache, [1], T0 + timedelta(seconds=2)) == 1
    assert inbox.mark_dropped(cache, [2], "echo of leadsync's own write", T0) == 1
    assert [(r["status"], r["processed_at"], r["error"], r["next_attempt_at"]) for r in rows(cache)] == [
        ("done", "2026-11-01T09:30:02.000Z", None, None),
        ("dropped", "2026-11-01T09:30:00.000Z", "echo of leadsync's own write", None),
        ("pending", None, None, "2026-11-01T09:30:00.000Z"),
    ]
    assert [e.id for e in inbox.claim(cache, 10, T0 + timedelta(days=1))] == [3]


def test_mark_failed_backs_off_exponentially_then_parks(cache):
    add(cache, creation(1))
    backoff = inbox.Backoff(first=timedelta(seconds=10), longest=timedelta(seconds=25))
    now = T0
    schedule = []
    for _ in range(4):
        assert inbox.mark_failed(cache, [1], "HubSpot 503", now, max_attempts=4,
                                 backoff=backoff) == 1
        row = rows(cache)[0]
        schedule.append((row["status"], row["attempts"], row["next_attempt_at"]))
    assert schedule == [("failed", 1, "2026-11-01T09:30:10.000Z"),
                        ("failed", 2, "2026-11-01T09:30:20.000Z"),
                        ("failed", 3, "2026-11-01T09:30:25.000Z"),
                        ("parked", 4, None)]
    assert rows(cache)[0]["error"] == "HubSpot 503"
    assert inbox.claim(cache, 10, T0 + timedelta(days=1)) == []


def test_failed_event_is_claimed_again_after_its_backoff(cache):
    add(cache, creation(1))
    inbox.mark_failed(cache, [1], "boom", T0, max_attempts=5)
    assert inbox.claim(cache, 10, T0 + timedelta(seconds=29)) == []
    [again] = inbox.claim(cache, 10, T0 + timedelta(seconds=30))
    assert (again.id, again.attempts) == (1, 1)


def test_mark_failed_ignores_unknown_ids(cache):
    assert inbox.mark_failed(cache, [42], "boom", T0, max_attempts=5) == 0


def test_default_backoff_doubles_from_thirty_seconds_up_to_an_hour():
    assert [inbox.Backoff().delay(n).total_seconds() for n in (1, 2, 3, 4, 8, 20)] == [
        30, 60, 120, 240, 3600, 3600]


def test_metrics_count_every_state_and_age_the_oldest_unprocessed(cache):
    assert inbox.metrics(cache, T0) == inbox.Metrics(depth=0, oldest_pending_age_s=None,
                                                     processed=0, failed=0, parked=0, dropped=0)
    add(cache, creation(1), creation(2), at=T0)
    add(cache, creation(3), creation(4), creation(5), creation(6), at=T0 + timedelta(seconds=10))
    inbox.mark_failed(cache, [1], "boom", T0, max_attempts=5)
    inbox.mark_done(cache, [2, 3], T0)
    inbox.mark_failed(cache, [4], "boom", T0, max_attempts=1)
    inbox.mark_dropped(cache, [5], "echo", T0)
    assert inbox.metrics(cache, T0 + timedelta(seconds=42.5)) == inbox.Metrics(
        depth=2, oldest_pending_age_s=42.5, processed=2, failed=1, parked=1, dropped=1)


def test_times_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        inbox.iso(datetime(2026, 11, 1))
