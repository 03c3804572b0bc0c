"""The request pipeline in front of the handlers: routing, faults, latency, auth, rate
limits, counting, and HubSpot-shaped errors. Pure Python; the transport only moves bytes."""
from __future__ import annotations

import time
import traceback
from typing import Any

from .backend import Backend
from .errors import ApiError, PropertyValueError, invalid
from .faults import FaultRule
from .router import Match, Router
from .wire import Request, Response, correlation_id, error_response, json_response

_RATE_MESSAGES = {"TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
                  "DAILY": "You have reached your daily limit.",
                  "SECONDLY": "You have reached your secondly limit."}
_UNAUTHORIZED = ("Authentication credentials not found. This API supports OAuth 2.0 "
                 "authentication and you can find more details at "
                 "https://developers.hubspot.com/docs/methods/auth/oauth-overview")


class Gateway:
    """`handle(request) -> response`, callable from tests without any socket."""

    def __init__(self, backend: Backend, router: Router, sleep: Any = time.sleep) -> None:
        self.backend = backend
        self.router = router
        self._sleep = sleep

    def handle(self, req: Request) -> Response:
        settings = self.backend.portal.settings
        if len(req.target) > settings.max_url_length:
            self.backend.stats.record(f"{req.method} <uri too long>", 414)
            return error_response(ApiError(414, "VALIDATION_ERROR",
                                           f"Request-URI Too Long ({len(req.target)} chars)"))
        try:
            match = self.router.match(req.method, req.path)
        except ApiError as exc:
            self.backend.stats.record(f"{req.method} <unmatched>", exc.status)
            return error_response(exc)
        if match is None:
            self.backend.stats.record(f"{req.method} <unmatched>", 404)
            return error_response(ApiError(404, "OBJECT_NOT_FOUND",
                                           f"No route for {req.method} {req.path}"))
        if match.route.admin:
            return self._call(match, req)
        response = self._serve(match, req)
        fault = response.headers.pop("X-Sandbox-Fault", None) is not None
        # A dropped connection has no status; it is counted as 0.
        self.backend.stats.record(match.stats_key, 0 if response.drop else response.status,
                                  fault=fault)
        return response

    def _serve(self, match: Match, req: Request) -> Response:
        fault = self.backend.faults.take(req.method, req.path)
        if fault is not None:
            if fault.delay_ms:
                self._sleep(fault.delay_ms / 1000)
            if fault.drop or fault.status:
                return self._fault_response(fault)
        latency = self.backend.portal.settings.latency_ms
        if latency:
            self._sleep(latency / 1000)
        if req.headers.get("authorization", "") != f"Bearer {self.backend.token}":
            return json_response(401, {"status": "error", "message": _UNAUTHORIZED,
                                       "correlationId": correlation_id(),
                                       "category": "INVALID_AUTHENTICATION"})
        admission = self.backend.limiter.admit(self.backend.token, search=match.route.search)
        if not admission.allowed:
            return self._rate_limited(admission.policy or "TEN_SECONDLY_ROLLING",
                                      admission.headers)
        response = error_response(match.forbidden) if match.forbidden else self._call(match, req)
        response.headers.update(admission.headers)
        return response

    def _call(self, match: Match, req: Request) -> Response:
        try:
            return match.route.handler(self.backend, req, **match.params)
        except ApiError as exc:
            return error_response(exc)
        except KeyError as exc:
            return error_response(invalid(f"Missing required field {exc.args[0]!r}"))
        except PropertyValueError as exc:
            return error_response(invalid(exc.message, errors=[
                {"message": exc.message, "code": exc.code,
                 "context": {"propertyName": [exc.property_name]}}]))
        except Exception as exc:  # a sandbox bug must still answer like a server would
            traceback.print_exc()
            return error_response(ApiError(500, "INTERNAL_ERROR",
                                           f"Sandbox error: {type(exc).__name__}: {exc}"))

    def _rate_limited(self, policy: str, headers: dict[str, str],
                      retry_after: int | None = None) -> Response:
        body = {"status": "error", "message": _RATE_MESSAGES[policy], "errorType": "RATE_LIMIT",
                "correlationId": correlation_id(), "policyName": policy}
        extra = dict(headers)
        retry = retry_after if retry_after is not None else \
            self.backend.portal.settings.retry_after_s
        if retry is not None:
            extra["Retry-After"] = str(retry)
        return json_response(429, body, extra)

    def _fault_response(self, fault: FaultRule) -> Response:
        if fault.drop:
            response = Response(200, {"status": "COMPLETE", "results": [{"id": "0"}] * 50},
                                {"Content-Type": "application/json"},
                                drop="mid" if fault.drop == "mid" else "before")
        elif fault.status == 429:
            response = self._rate_limited("TEN_SECONDLY_ROLLING", {}, fault.retry_after)
        else:
            body = fault.body if fault.body is not None else {
                "status": "error", "message": f"Injected fault: HTTP {fault.status}",
                "correlationId": correlation_id(), "category": "INTERNAL_ERROR"}
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            response = json_response(int(fault.status or 500), body, headers)
        response.headers["X-Sandbox-Fault"] = "1"
        return response
