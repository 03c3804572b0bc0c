"""`/_sandbox/*`: change the portal as a HubSpot user would, read the ground truth, and turn
the knobs. No auth, no rate limit, not counted in stats."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .catalog import OBJECT_TYPES
from .clock import parse_ms
from .errors import invalid
from .router import Route, object_type
from .shapes import record_json
from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .backend import Backend


def health(b: Backend, req: Request) -> Response:
    return json_response(200, {"ok": True, "counts": {
        t: sum(1 for _ in b.portal.live(t)) for t in OBJECT_TYPES}})


def stats(b: Backend, req: Request) -> Response:
    return json_response(200, b.stats.snapshot())


def reset_stats(b: Backend, req: Request) -> Response:
    b.stats.reset()
    return json_response(200, b.stats.snapshot())


def get_settings(b: Backend, req: Request) -> Response:
    return json_response(200, b.portal.settings.to_json())


def change_settings(b: Backend, req: Request) -> Response:
    b.portal.settings.apply(req.json_object())
    return json_response(200, b.portal.settings.to_json())


def get_faults(b: Backend, req: Request) -> Response:
    return json_response(200, b.faults.to_json())


def add_fault(b: Backend, req: Request) -> Response:
    spec = req.json_object()
    allowed = {"status", "times", "path_prefix", "method", "drop", "delay_ms", "retry_after",
               "body"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise invalid(f"Unknown fault field(s): {', '.join(unknown)}")
    try:
        rule = b.faults.add(**spec)
    except ValueError as exc:
        raise invalid(str(exc)) from None
    return json_response(201, rule.to_json())


def clear_faults(b: Backend, req: Request) -> Response:
    b.faults.clear()
    return Response(204)


def fail_records(b: Backend, req: Request) -> Response:
    spec = req.json_object()
    b.faults.fail_records(object_type(spec.get("objectType", "contacts")), spec.get("ids", []),
                          category=spec.get("category", "VALIDATION_ERROR"),
                          message=spec.get("message", "Injected write failure"),
                          status=int(spec.get("status", 400)))
    return json_response(200, b.faults.to_json())


def clear_record_failures(b: Backend, req: Request) -> Response:
    b.faults.clear_records()
    return Response(204)


def truth(b: Backend, req: Request, type: str) -> Response:
    return json_response(200, {"results": b.portal.truth(type)})


def create(b: Backend, req: Request, type: str) -> Response:
    body = req.json_object()
    links = [(object_type(a["type"]), int(a["id"]), bool(a.get("primary", False)))
             for a in body.get("associations") or []]
    created = parse_ms(str(body["createdAt"])) if body.get("createdAt") else None
    record = b.portal.create(type, body.get("properties") or {}, source=_source(body),
                             associations=links, created_ms=created)
    return json_response(201, _full(record))


def update(b: Backend, req: Request, type: str, id: str) -> Response:
    body = req.json_object()
    record = b.portal.update(type, id, body.get("properties") or {}, source=_source(body))
    return json_response(200, _full(record))


def archive(b: Backend, req: Request, type: str, id: str) -> Response:
    body = req.json_object()
    record = b.portal.archive(type, id, source=_source(body),
                              privacy=bool(body.get("privacy", False)))
    return json_response(200, _full(record))


def restore(b: Backend, req: Request, type: str, id: str) -> Response:
    return json_response(200, _full(b.portal.restore(type, id,
                                                     source=_source(req.json_object()))))


def merge(b: Backend, req: Request, type: str) -> Response:
    body = req.json_object()
    survivor = b.portal.merge(type, body["primaryId"], body["mergedId"], source=_source(body))
    return json_response(200, _full(survivor))


def touch(b: Backend, req: Request, type: str) -> Response:
    body = req.json_object()
    at = parse_ms(str(body["at"])) if body.get("at") else None
    ids = b.portal.touch(type, ids=body.get("ids"), count=body.get("count"), at_ms=at)
    return json_response(200, {"touched": len(ids), "ids": [str(i) for i in ids]})


def associate(b: Backend, req: Request) -> Response:
    body = req.json_object()
    changed = b.portal.associate(object_type(body["fromType"]), body["fromId"],
                                 object_type(body["toType"]), body["toId"],
                                 primary=bool(body.get("primary", False)),
                                 source=_source(body))
    return json_response(200, {"changed": changed})


def disassociate(b: Backend, req: Request) -> Response:
    body = req.json_object()
    changed = b.portal.disassociate(object_type(body["fromType"]), body["fromId"],
                                    object_type(body["toType"]), body["toId"],
                                    source=_source(body))
    return json_response(200, {"changed": changed})


def move(b: Backend, req: Request) -> Response:
    body = req.json_object()
    removed = b.portal.move(object_type(body["fromType"]), body["fromId"],
                            object_type(body["toType"]), body["toId"],
                            primary=bool(body.get("primary", True)), source=_source(body))
    return json_response(200, {"removed": [str(i) for i in removed]})


def demo_request(b: Backend, req: Request, id: str) -> Response:
    return json_response(200, _full(b.portal.demo_request(id)))


def get_webhooks(b: Backend, req: Request) -> Response:
    config = b.webhooks.config
    return json_response(200, {
        "config": config.to_json() if config else None,
        "delivered": len(b.webhooks.delivered), "pending": len(b.webhooks.pending),
        "failed": len(b.webhooks.failed),
        "attempts": [{"eventIds": list(a.event_ids), "attemptNumber": a.attempt_number,
                      "status": a.status, "error": a.error, "duplicate": a.duplicate}
                     for a in list(b.webhooks.attempts)]})


def configure_webhooks(b: Backend, req: Request) -> Response:
    body = req.json_object()
    try:
        config = b.webhooks.configure(**body)
    except (TypeError, ValueError) as exc:
        raise invalid(f"Invalid webhook configuration: {exc}") from None
    return json_response(200, {"config": config.to_json()})


def disable_webhooks(b: Backend, req: Request) -> Response:
    b.webhooks.disable()
    return Response(204)


def _source(body: dict[str, Any]) -> str:
    return str(body.get("source") or "CRM")


def _full(record: Any) -> dict[str, Any]:
    return record_json(record, sorted(record.properties))


def _admin(method: str, template: str, handler: Any) -> Route:
    return Route(method, "/_sandbox" + template, handler, admin=True)


ROUTES = [
    _admin("GET", "/health", health),
    _admin("GET", "/stats", stats),
    _admin("POST", "/stats/reset", reset_stats),
    _admin("GET", "/settings", get_settings),
    _admin("PATCH", "/settings", change_settings),
    _admin("POST", "/settings", change_settings),
    _admin("POST", "/faults/records", fail_records),
    _admin("DELETE", "/faults/records", clear_record_failures),
    _admin("GET", "/faults", get_faults),
    _admin("POST", "/faults", add_fault),
    _admin("DELETE", "/faults", clear_faults),
    _admin("GET", "/truth/{type}", truth),
    _admin("POST", "/objects/{type}/merge", merge),
    _admin("POST", "/objects/{type}/touch", touch),
    _admin("POST", "/objects/{type}", create),
    _admin("PATCH", "/objects/{type}/{id}", update),
    _admin("POST", "/objects/{type}/{id}/archive", archive),
    _admin("POST", "/objects/{type}/{id}/restore", restore),
    _admin("POST", "/associations/move", move),
    _admin("POST", "/associations", associate),
    _admin("DELETE", "/associations", disassociate),
    _admin("POST", "/contacts/{id}/demo-request", demo_request),
    _admin("GET", "/webhooks", get_webhooks),
    _admin("POST", "/webhooks", configure_webhooks),
    _admin("DELETE", "/webhooks", disable_webhooks),
]
