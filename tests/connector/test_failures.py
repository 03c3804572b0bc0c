import json

import pytest

from connector import failures
from foundation import errors


def body(**fields):
    return json.dumps({"status": "error", "message": "m", "correlationId": "c-1", **fields}).encode()


@pytest.mark.parametrize("status, doc, kind, retriable", [
    (400, {"category": "VALIDATION_ERROR"}, errors.ValidationFailed, False),
    (401, {}, errors.AuthError, False),
    (403, {"category": "MISSING_SCOPES"}, errors.MissingScopes, False),
    (404, {}, errors.NotFound, False),
    (409, {}, errors.Conflict, False),
    (414, {}, errors.HubSpotError, False),
    (423, {}, errors.HubSpotError, True),
    (429, {"policyName": "TEN_SECONDLY_ROLLING"}, errors.RateLimited, True),
    (429, {"policyName": "DAILY"}, errors.RateLimited, False),
    (477, {}, errors.HubSpotError, True),
    (500, {}, errors.Unavailable, True),
    (502, {}, errors.Unavailable, True),
    (503, {}, errors.Unavailable, True),
    (504, {}, errors.Unavailable, True),
    (524, {}, errors.Unavailable, True),
])
def test_status_table(status, doc, kind, retriable):
    error = failures.from_response(status, body(**doc), {}, "GET x")
    assert type(error) is kind
    assert error.retriable is retriable
    assert error.status == status
    assert error.correlation_id == "c-1"


def test_403_names_the_missing_scopes():
    doc = body(category="MISSING_SCOPES", errors=[{"message": "x", "context": {
        "requiredGranularScopes": ["crm.objects.contacts.write", "crm.objects.contacts.read"]}}])
    error = failures.from_response(403, doc, {}, "batch update contacts")
    assert str(error) == ("batch update contacts: HubSpot denied access (403, missing scopes: "
                          "crm.objects.contacts.read, crm.objects.contacts.write); add the scopes "
                          "to the private app and run again")


def test_401_says_what_to_fix_without_the_token():
    error = failures.from_response(401, b"", {}, "list contacts")
    assert str(error) == ("list contacts: HubSpot rejected the access token (401); set "
                          "HUBSPOT_ACCESS_TOKEN to a valid private app token")


def test_retry_after_and_policies():
    ten = failures.from_response(429, body(policyName="TEN_SECONDLY_ROLLING"), {"Retry-After": "3"}, "x")
    assert (ten.retry_after, ten.policy) == (3.0, "TEN_SECONDLY_ROLLING")
    search = failures.from_response(429, json.dumps({"message": "You have reached your secondly limit."}), {}, "x")
    assert (search.policy, search.retriable) == ("SECONDLY", True)
    locked = failures.from_response(423, b"", {}, "x")
    assert locked.retry_after == 2.0


@pytest.mark.parametrize("status, body, foreign", [
    (404, b"<html>Not Found</html>", True),      # a web server, not the API
    (200, b"<!doctype html>", True),
    (501, b"<html>Unsupported method</html>", True),
    (404, b'{"message": "no such object"}', False),
    (503, b"<html>Service Unavailable</html>", False),  # HubSpot's edge: retried as ever
    (429, b"<html>slow down</html>", False),
    (404, b"", False),
])
def test_a_body_that_is_not_json_is_foreign_unless_retriable(status, body, foreign):
    assert failures.foreign_body(status, body, {"Content-Type": "text/html"}) is foreign


def test_not_hubspot_and_nothing_answers_name_the_address():
    error = failures.not_hubspot("http://127.0.0.1:8000", "list contacts", 200,
                                 {"Content-Type": "text/html; charset=utf-8"})
    assert isinstance(error, errors.ConfigError)
    assert str(error) == ("list contacts: the answer from http://127.0.0.1:8000 was not HubSpot's "
                          "API (HTTP 200, text/html); check --base-url (or LEADSYNC_BASE_URL)")
    cut = failures.unreadable("http://x", "list contacts", 200, {"Content-Type": "application/json"})
    assert (type(cut), cut.retriable) == (errors.Unavailable, True)  # a truncated answer: retried
    refused = failures.nothing_answers("http://127.0.0.1:9", ConnectionRefusedError(
        "[Errno 111] Connection refused"))
    assert str(refused) == ("nothing answers at http://127.0.0.1:9 (connection refused); check "
                            "--base-url (or LEADSYNC_BASE_URL) and the network")


def test_garbage_bodies_still_classify():
    error = failures.from_response(502, b"<html>bad gateway</html>", None, "x")
    assert (type(error), error.retriable, error.body) == (errors.Unavailable, True, {})
