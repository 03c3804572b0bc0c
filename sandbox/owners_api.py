"""`/crm/v3/owners`: the portal's owners (sandbox/owners.py), paged as HubSpot pages them."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import invalid, not_found
from .owners import BY_ID, ROSTER
from .router import Route
from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .backend import Backend

MAX_LIMIT = 500


def list_owners(b: Backend, req: Request) -> Response:
    """GET /crm/v3/owners: `limit` (≤ 500, default 100), `after` (an opaque cursor), `email`,
    `archived` (the sandbox has no archived owners)."""
    limit = min(max(req.int_param("limit", 100), 1), MAX_LIMIT)
    after = req.param("after")
    start = 0
    if after:
        if not after.isdigit():
            raise invalid(f"Invalid after cursor {after!r}")
        start = int(after)
    owners = [] if req.flag("archived") else list(ROSTER)
    email = (req.param("email") or "").lower()
    if email:
        owners = [o for o in owners if o.email == email]
    page = owners[start:start + limit]
    body: dict[str, Any] = {"results": [o.to_json() for o in page]}
    if start + limit < len(owners):
        body["paging"] = {"next": {"after": str(start + limit),
                                   "link": f"?after={start + limit}"}}
    return json_response(200, body)


def get_owner(b: Backend, req: Request, id: str) -> Response:
    owner = BY_ID.get(id)
    if owner is None:
        raise not_found(f"Owner {id} not found")
    return json_response(200, owner.to_json())


ROUTES = [
    Route("GET", "/crm/v3/owners", list_owners),
    Route("GET", "/crm/v3/owners/{id}", get_owner),
]


