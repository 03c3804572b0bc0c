"""Legacy engagements v1: `/engagements/v1/engagements/paged` (every engagement, id order) and
`/engagements/v1/engagements/modified/after` (incremental: oldest change first, with a
cursor to resume from).

One v1 engagement stands for a record of any of the five activity types:
`{"engagement": {"id", "type", "createdAt", "lastUpdated", "timestamp", ...},
"associations": {"contactIds", "companyIds", ...}, "attachments": [], "metadata": {...}}`,
times in epoch ms. The email direction is the v1 type (`EMAIL`, `INCOMING_EMAIL`,
`FORWARDED_EMAIL`). Archived engagements are left out.
"""
from __future__ import annotations

import base64
import heapq
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .catalog import ENGAGEMENT_TYPES
from .clock import parse_ms
from .errors import invalid
from .records import Record
from .router import Route
from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .backend import Backend
    from .portal import Portal

MAX_PAGED_LIMIT = 250          # legacy docs: default 100, maximum 250
MAX_MODIFIED_LIMIT = 1_000     # docs: default 100, maximum 1000
V1_TYPES = {"calls": "CALL", "emails": "EMAIL", "meetings": "MEETING", "notes": "NOTE",
            "tasks": "TASK"}
# metadata key → (property, converter) per type; only set values are sent.
_METADATA: dict[str, dict[str, tuple[str, Callable[[str], Any]]]] = {
    "calls": {"title": ("hs_call_title", str), "status": ("hs_call_status", str),
              "durationMilliseconds": ("hs_call_duration", int),
              "disposition": ("hs_call_disposition", str)},
    "emails": {"subject": ("hs_email_subject", str), "status": ("hs_email_status", str)},
    "meetings": {"title": ("hs_meeting_title", str),
                 "meetingOutcome": ("hs_meeting_outcome", str),
                 "startTime": ("hs_meeting_start_time", parse_ms),
                 "endTime": ("hs_meeting_end_time", parse_ms)},
    "notes": {"body": ("hs_note_body", str)},
    "tasks": {"subject": ("hs_task_subject", str), "status": ("hs_task_status", str),
              "taskType": ("hs_task_type", str), "priority": ("hs_task_priority", str)},
}


def engagement_v1(portal: Portal, record: Record) -> dict[str, Any]:
    kind = record.object_type
    values = record.properties
    v1_type = V1_TYPES[kind]
    if kind == "emails" and values.get("hs_email_direction"):
        v1_type = values["hs_email_direction"]
    metadata = {key: convert(values[name]) for key, (name, convert) in _METADATA[kind].items()
                if values.get(name)}
    if kind == "tasks":
        metadata["forObjectType"] = "CONTACT"
    return {
        "engagement": {"id": record.id, "portalId": portal.portal_id, "active": True,
                       "createdAt": record.created_ms, "lastUpdated": record.updated_ms,
                       "type": v1_type,
                       "timestamp": parse_ms(values.get("hs_timestamp", "")) or
                       record.created_ms},
        "associations": {
            "contactIds": [i for i, _ in portal.associated(kind, record.id, "contacts")],
            "companyIds": [i for i, _ in portal.associated(kind, record.id, "companies")],
            "dealIds": [], "ownerIds": [], "workflowIds": [], "ticketIds": []},
        "attachments": [],
        "metadata": metadata,
    }


def _live_engagements(portal: Portal, start_id: int = 0) -> Iterator[Record]:
    for kind in ENGAGEMENT_TYPES:  # id ranges ascend in this order, so this is id order
        yield from portal.live(kind, start_id)


def engagements_paged(b: Backend, req: Request) -> Response:
    """Every live engagement in id order; `offset` is the last id of the previous page."""
    limit = min(max(req.int_param("limit", 100), 1), MAX_PAGED_LIMIT)
    offset = req.int_param("offset", 0)
    with b.portal.lock:
        page: list[Record] = []
        more = False
        for record in _live_engagements(b.portal, offset + 1):
            if len(page) == limit:
                more = True
                break
            page.append(record)
        results = [engagement_v1(b.portal, r) for r in page]
    return json_response(200, {"results": results, "hasMore": more,
                               "offset": page[-1].id if page else offset})


def engagements_modified_after(b: Backend, req: Request) -> Response:
    """Oldest change first. `after` is epoch ms (changes at or after it) or the cursor a
    previous answer returned (changes strictly after that one); the answer's `after` resumes
    here, and stays put when nothing is left."""
    limit = min(max(req.int_param("limit", 100), 1), MAX_MODIFIED_LIMIT)
    position = _position(req.param("after") or "0")
    with b.portal.lock:
        later = ((r.updated_ms, r.id, r) for r in _live_engagements(b.portal)
                 if (r.updated_ms, r.id) >= position)
        chosen = heapq.nsmallest(limit + 1, later, key=lambda item: (item[0], item[1]))
        page = [record for _, _, record in chosen[:limit]]
        results = [engagement_v1(b.portal, r) for r in page]
    cursor = _cursor(page[-1].updated_ms, page[-1].id) if page else req.param("after") or "0"
    return json_response(200, {"results": results, "hasMore": len(chosen) > limit,
                               "after": cursor})


def _cursor(updated_ms: int, record_id: int) -> str:
    """Opaque to clients: the last (lastUpdated, id) returned."""
    return base64.urlsafe_b64encode(f"{updated_ms}:{record_id}".encode()).decode().rstrip("=")


def _position(after: str) -> tuple[int, int]:
    """The smallest (lastUpdated, id) still to return."""
    if after.isdigit():
        return int(after), 0
    try:
        decoded = base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode()
        updated, record_id = (int(part) for part in decoded.split(":"))
    except ValueError:
        raise invalid(f"Invalid value for after: {after!r} (epoch ms or a cursor)") from None
    return updated, record_id + 1


ROUTES = [
    Route("GET", "/engagements/v1/engagements/paged", engagements_paged),
    Route("GET", "/engagements/v1/engagements/modified/after", engagements_modified_after),
]
