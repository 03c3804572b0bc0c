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


def test_garbage_bodies_still_classify():
    error = failures.from_response(502, b"<html>bad gateway</html>", None, "x")
    assert (type(error), error.retriable, error.body) == (errors.Unavailable, True, {})
