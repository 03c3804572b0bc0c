"""Rate limits, injected faults, latency, request counting and server lifecycle."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import hubspot
import pytest
import requests
import urllib3
from hubspot.crm.contacts import PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import ApiException

from sandbox import PortInUseError, Sandbox
from sandbox.ratelimit import RateLimiter
from sandbox.settings import Settings

ANCHOR = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture
def sb():
    with Sandbox(contacts=30, seed=2, anchor=ANCHOR) as sandbox:
        yield sandbox


def get(sb: Sandbox, path: str = "/crm/v3/objects/contacts", **kw) -> requests.Response:
    return requests.get(sb.base_url + path, headers={"Authorization": f"Bearer {sb.token}"},
                        **kw)


def search_api(sb: Sandbox):
    return hubspot.Client.create(access_token=sb.token, host=sb.base_url,
                                 retry=urllib3.Retry(0)).crm.contacts.search_api


def test_every_response_carries_rate_limit_headers_until_the_budget_is_spent():
    with Sandbox(contacts=10, seed=1, rate_limit=3, anchor=ANCHOR) as sb:
        remaining = []
        for _ in range(3):
            reply = get(sb)
            assert reply.status_code == 200
            assert reply.headers["X-HubSpot-RateLimit-Max"] == "3"
            assert reply.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
            assert reply.headers["X-HubSpot-RateLimit-Daily"] == "1000000"
            remaining.append(reply.headers["X-HubSpot-RateLimit-Remaining"])
        assert remaining == ["2", "1", "0"]
        assert get(sb).headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(1_000_000 - 3)


def test_spent_budget_answers_429_with_hubspot_body_through_the_sdk():
    with Sandbox(contacts=10, seed=1, rate_limit=2, anchor=ANCHOR) as sb:
        api = hubspot.Client.create(access_token=sb.token, host=sb.base_url,
                                    retry=urllib3.Retry(0)).crm.contacts.basic_api
        api.get_page()
        api.get_page()
        with pytest.raises(ApiException) as err:
            api.get_page()
        body = json.loads(err.value.body)
        assert err.value.status == 429
        assert {k: v for k, v in body.items() if k != "correlationId"} == {
            "status": "error", "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}
        assert err.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert "Retry-After" not in err.value.headers
        assert sb.stats()["rate_limited"] == 1


def test_retry_after_is_a_setting():
    with Sandbox(contacts=10, seed=1, rate_limit=1, anchor=ANCHOR) as sb:
        sb.settings.retry_after_s = 2
        get(sb)
        assert get(sb).headers["Retry-After"] == "2"


def test_daily_budget():
    with Sandbox(contacts=10, seed=1, daily_limit=2, anchor=ANCHOR) as sb:
        assert get(sb).headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
        get(sb)
        reply = get(sb)
        assert reply.status_code == 429
        assert reply.json()["policyName"] == "DAILY"
        assert reply.json()["message"] == "You have reached your daily limit."


def test_search_has_its_own_per_second_limit_and_no_headers(sb):
    sb.settings.rate_limit = 1  # search is exempt from the 10-second budget
    api = search_api(sb)
    statuses, headers = [], None
    for _ in range(6):
        try:
            api.do_search(PublicObjectSearchRequest(limit=1), _preload_content=False)
            statuses.append(200)
        except ApiException as exc:
            statuses.append(exc.status)
            body, headers = json.loads(exc.body), exc.headers
    assert statuses == [200] * 5 + [429]
    assert body["message"] == "You have reached your secondly limit."
    assert body["policyName"] == "SECONDLY"
    assert not [h for h in headers if h.lower().startswith("x-hubspot-ratelimit")]
    assert get(sb).status_code == 200


def test_rolling_window_frees_budget_and_refusals_do_not_count():
    now = [0.0]
    limiter = RateLimiter(Settings(rate_limit=2), monotonic=lambda: now[0])
    assert [limiter.admit("t").allowed for _ in range(3)] == [True, True, False]
    now[0] = 5.0
    assert limiter.admit("t").allowed is False       # refused again, still not counted
    now[0] = 10.01
    admitted = limiter.admit("t")
    assert admitted.allowed and admitted.headers["X-HubSpot-RateLimit-Remaining"] == "1"


def test_injected_5xx_fires_the_given_number_of_times(sb):
    sb.faults.add(status=503, times=2, path_prefix="/crm/v3/objects/contacts", method="GET")
    assert [get(sb).status_code for _ in range(3)] == [503, 503, 200]
    assert requests.post(sb.base_url + "/crm/v3/objects/contacts/search", json={},
                         headers={"Authorization": f"Bearer {sb.token}"}).status_code == 200
    assert sb.stats()["faults"] == 2


def test_injected_429_looks_like_hubspot(sb):
    sb.faults.add(status=429, retry_after=1)
    reply = get(sb)
    assert reply.status_code == 429
    assert reply.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert reply.headers["Retry-After"] == "1"


def test_dropped_connection_without_any_reply(sb):
    sb.faults.add(drop=True, method="POST")
    with pytest.raises(requests.ConnectionError):
        requests.post(sb.base_url + "/crm/v3/objects/contacts/batch/read", json={"inputs": []},
                      headers={"Authorization": f"Bearer {sb.token}"})
    assert get(sb).status_code == 200


def test_connection_cut_mid_response(sb):
    sb.faults.add(drop="mid")
    with pytest.raises(requests.RequestException):
        get(sb)
    assert get(sb).status_code == 200


def test_sdk_sees_dropped_connection_as_an_error(sb):
    sb.faults.add(drop=True)
    api = hubspot.Client.create(access_token=sb.token, host=sb.base_url,
                                retry=urllib3.Retry(0)).crm.contacts.basic_api
    with pytest.raises(urllib3.exceptions.HTTPError):
        api.get_page()


def test_latency_applies_to_api_calls_not_admin_calls(sb):
    sb.latency_ms = 120
    start = time.perf_counter()
    get(sb)
    assert time.perf_counter() - start >= 0.12
    start = time.perf_counter()
    requests.get(sb.base_url + "/_sandbox/stats")
    assert time.perf_counter() - start < 0.12


def test_stats_count_per_route_and_reset(sb):
    get(sb)
    get(sb, "/crm/v3/objects/contacts/1")
    get(sb, "/crm/v3/objects/contacts/2")
    requests.get(sb.base_url + "/_sandbox/stats")
    stats = sb.stats()
    assert stats["total"] == 3
    assert stats["by_route"] == {"GET /crm/v3/objects/contacts": 1,
                                 "GET /crm/v3/objects/contacts/{id}": 2}
    assert requests.get(sb.base_url + "/_sandbox/stats").json()["total"] == 3
    sb.reset_stats()
    assert sb.stats()["total"] == 0


def test_port_in_use_is_a_clear_error(sb):
    with pytest.raises(PortInUseError) as err:
        Sandbox(contacts=1, seed=1, port=sb.port).start()
    assert isinstance(err.value, OSError)
    assert str(sb.port) in str(err.value)


def test_keep_alive_connections_are_reused_and_stop_ends_them(sb):
    url = sb.base_url + "/_sandbox/health"
    session = requests.Session()
    for _ in range(3):
        assert session.get(url).status_code == 200
    sb.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(url)
