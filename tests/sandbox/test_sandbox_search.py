"""Search: HubSpot's filter semantics, one sort, integer `after` paging and the 10,000 cap."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import hubspot
import pytest
import urllib3
from hubspot.crm.contacts import PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import ApiException

from sandbox import Sandbox
from sandbox.clock import parse_ms

ANCHOR = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(contacts=400, seed=11, anchor=ANCHOR) as sandbox:
        sandbox.settings.search_rate_limit = 0  # these tests are about results, not limits
        yield sandbox


def search(sb: Sandbox, object_type: str = "contacts", **body):
    api = hubspot.Client.create(access_token=sb.token, host=sb.base_url,
                                retry=urllib3.Retry(0)).crm.contacts.search_api
    if object_type != "contacts":
        api = hubspot.Client.create(access_token=sb.token, host=sb.base_url,
                                    retry=urllib3.Retry(0)).crm.objects.search_api
        return api.do_search(object_type, PublicObjectSearchRequest(**body))
    return api.do_search(PublicObjectSearchRequest(**body))


def live(sb: Sandbox, object_type: str = "contacts") -> list[dict]:
    return [r for r in sb.portal.truth(object_type) if not r["archived"] and not r["mergedInto"]]


def one(name: str, operator: str, **extra) -> list[dict]:
    return [{"filters": [{"propertyName": name, "operator": operator, **extra}]}]


def test_eq_filter_total_and_ids(sb):
    want = [r["id"] for r in live(sb) if r["properties"].get("lifecyclestage") == "customer"]
    got = search(sb, filter_groups=one("lifecyclestage", "EQ", value="customer"), limit=200)
    assert got.total == len(want) > 0
    assert [r.id for r in got.results] == want


def test_groups_are_ored_and_filters_anded(sb):
    def match(r):
        p = r["properties"]
        return (p.get("lifecyclestage") == "customer" and p.get("country") == "Germany") or \
            p.get("hs_lead_status") == "BAD_TIMING"
    want = [r["id"] for r in live(sb) if match(r)]
    got = search(sb, limit=200, filter_groups=[
        {"filters": [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"},
                     {"propertyName": "country", "operator": "EQ", "value": "Germany"}]},
        {"filters": [{"propertyName": "hs_lead_status", "operator": "EQ",
                      "value": "BAD_TIMING"}]}])
    assert [r.id for r in got.results] == want


def test_numeric_compare_on_number_properties(sb):
    want = [r["id"] for r in live(sb)
            if int(r["properties"].get("hs_analytics_num_visits", "0")) >= 9]
    got = search(sb, limit=200, filter_groups=one("hs_analytics_num_visits", "GTE", value="9"))
    assert [r.id for r in got.results] == want and got.total == len(want)


def test_hs_object_id_compares_numerically(sb):
    want = [r["id"] for r in live(sb) if int(r["id"]) > 99][:200]
    got = search(sb, limit=200, filter_groups=one("hs_object_id", "GT", value="99"),
                 sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}])
    assert [r.id for r in got.results] == want  # "100" > "99" only when compared as numbers


@pytest.mark.parametrize("as_text", [lambda ms: str(ms),
                                     lambda ms: "2026-08-01T00:00:00.000Z"])
def test_datetime_filters_take_epoch_ms_or_iso(sb, as_text):
    cut = parse_ms("2026-08-01T00:00:00Z")
    want = [r["id"] for r in live(sb) if parse_ms(r["properties"]["createdate"]) >= cut]
    got = search(sb, limit=200, filter_groups=one("createdate", "GTE", value=as_text(cut)))
    assert got.total == len(want)


def test_between_in_not_in_has_property_and_tokens(sb):
    people = live(sb)
    between = search(sb, limit=200, filter_groups=one(
        "hs_email_open", "BETWEEN", value="2", highValue="4"))
    assert between.total == sum(1 for r in people
                                if 2 <= int(r["properties"].get("hs_email_open", -1)) <= 4)
    inside = search(sb, limit=200, filter_groups=one(
        "lifecyclestage", "IN", values=["opportunity", "customer"]))
    assert inside.total == sum(1 for r in people if r["properties"].get("lifecyclestage")
                               in ("opportunity", "customer"))
    outside = search(sb, limit=200, filter_groups=one(
        "hs_lead_status", "NOT_IN", values=["NEW"]))
    assert outside.total == sum(1 for r in people
                                if r["properties"].get("hs_lead_status") != "NEW")
    has = search(sb, limit=200, filter_groups=one("hs_lead_status", "HAS_PROPERTY"))
    assert has.total == sum(1 for r in people if "hs_lead_status" in r["properties"])
    lacks = search(sb, limit=200, filter_groups=one("hs_lead_status", "NOT_HAS_PROPERTY"))
    assert has.total + lacks.total == len(people)
    token = search(sb, limit=200, filter_groups=one("email", "CONTAINS_TOKEN",
                                                    value="*@gmail.com"))
    assert token.total == sum(1 for r in people
                              if r["properties"]["email"].endswith("@gmail.com"))


def test_sort_and_paging_walk_every_result_once(sb):
    want = sorted(live(sb), key=lambda r: (r["properties"]["createdate"]), reverse=True)
    seen, after = [], None
    while True:
        page = search(sb, limit=70, after=after, properties=["createdate"],
                      sorts=[{"propertyName": "createdate", "direction": "DESCENDING"}])
        assert page.total == len(want)
        seen += [r.id for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
        assert after == str(len(seen))
    assert seen == [r["id"] for r in want]


def test_search_returns_only_requested_properties_plus_defaults(sb):
    got = search(sb, limit=1, properties=["jobtitle"])
    assert set(got.results[0].properties) <= {"jobtitle", "hs_object_id", "createdate",
                                              "lastmodifieddate"}


def test_search_excludes_archived_and_merged(sb):
    hidden = {r["id"] for r in sb.portal.truth("contacts") if r["archived"] or r["mergedInto"]}
    assert hidden
    seen, after = set(), None
    while True:
        page = search(sb, limit=200, after=after)
        seen |= {r.id for r in page.results}
        if page.paging is None:
            break
        after = page.paging.next.after
    assert not (seen & hidden)


def test_engagement_search(sb):
    want = [r["id"] for r in live(sb, "meetings")
            if r["properties"].get("hs_meeting_outcome") == "NO_SHOW"]
    got = search(sb, "meetings", limit=200,
                 filter_groups=one("hs_meeting_outcome", "EQ", value="NO_SHOW"))
    assert got.total == len(want)


@pytest.mark.parametrize("body, fragment", [
    ({"limit": 201}, "limit"),
    ({"filter_groups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}]
      * 6}, "filter groups"),
    ({"filter_groups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 7}
                        ]}, "one group"),
    ({"filter_groups": [{"filters": [{"propertyName": "nope", "operator": "HAS_PROPERTY"}]}]},
     "nope"),
])
def test_invalid_search_is_a_400(sb, body, fragment):
    with pytest.raises(ApiException) as err:
        search(sb, **body)
    assert err.value.status == 400
    assert fragment in json.loads(err.value.body)["message"]


def test_paging_past_ten_thousand_results_is_a_400():
    with Sandbox(contacts=50, seed=1, anchor=ANCHOR) as sb:
        sb.settings.search_result_cap = 100  # same rule as HubSpot's 10,000, reachable fast
        first = search(sb, limit=50, after="50")
        assert first.total > 0
        with pytest.raises(ApiException) as err:
            search(sb, limit=50, after="51")
        assert err.value.status == 400
        assert json.loads(err.value.body)["category"] == "VALIDATION_ERROR"


def test_default_cap_is_ten_thousand(sb):
    search(sb, limit=200, after="9800")
    with pytest.raises(ApiException) as err:
        search(sb, limit=200, after="9900")
    assert err.value.status == 400


def test_sort_by_id_descending_and_unset_values_last(sb):
    want = [r["id"] for r in live(sb)][::-1][:50]
    got = search(sb, limit=50, sorts=[{"propertyName": "hs_object_id",
                                       "direction": "DESCENDING"}])
    assert [r.id for r in got.results] == want
    by_status = search(sb, limit=200, properties=["hs_lead_status"],
                       sorts=[{"propertyName": "hs_lead_status", "direction": "ASCENDING"}])
    values = [r.properties["hs_lead_status"] for r in by_status.results]
    present = [v for v in values if v is not None]
    assert present == sorted(present, key=str.lower)
    assert values[len(present):] == [None] * (len(values) - len(present))
