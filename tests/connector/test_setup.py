"""`leadsync setup` against the sandbox: idempotent creation, type checks, stage checks, catalog."""
from __future__ import annotations

import pytest
from writeback_world import NAMES, SETTINGS, make_client

from cache.database import open_cache
from connector.setup import setup
from foundation.errors import ConfigError
from sandbox import Sandbox


@pytest.fixture
def sb():
    with Sandbox(contacts=5, seed=2) as sandbox:
        yield sandbox


@pytest.fixture
def cache(tmp_path):
    c = open_cache(tmp_path / "leadsync.db")
    yield c
    c.close()


def test_setup_creates_the_group_and_properties_once(sb, cache):
    client = make_client(sb)
    first = setup(cache, client, SETTINGS.write_back, model_stages=("lead",))
    assert first.group == "created"
    assert first.properties == {name: "created" for name in NAMES.values()}
    catalog = sb.portal.catalogs["contacts"]
    assert {n: (catalog.get(n).type, catalog.get(n).field_type) for n in NAMES.values()} == {
        "leadsync_score": ("number", "number"), "leadsync_fit": ("number", "number"),
        "leadsync_engagement": ("number", "number"), "leadsync_grade": ("enumeration", "select"),
        "leadsync_reasons": ("string", "text"), "leadsync_scored_at": ("datetime", "date"),
        "leadsync_inactive": ("enumeration", "booleancheckbox")}
    assert all(catalog.get(n).group_name == "leadsync" for n in NAMES.values())
    sb.reset_stats()
    again = setup(cache, client, SETTINGS.write_back, model_stages=("lead",))
    assert again.group == "exists" and set(again.properties.values()) == {"exists"}
    assert sb.stats()["by_route"] == {"GET /crm/v3/properties/contacts": 1,
                                      "GET /crm/v3/properties/companies": 1}
    stored = cache.conn.execute("SELECT type, field_type FROM property_catalog WHERE "
                                "object_type = 'contacts' AND name = 'leadsync_grade'").fetchone()
    assert stored == ("enumeration", "select")
    assert cache.conn.execute("SELECT COUNT(*) FROM property_catalog WHERE object_type = 'companies'"
                              ).fetchone()[0] > 0
    assert again.stages[:3] == ["subscriber", "lead", "marketingqualifiedlead"]


def test_a_property_created_meanwhile_counts_as_existing(sb, cache):
    client = make_client(sb)
    setup(cache, client, SETTINGS.write_back)
    original, calls = client.properties, []

    def stale_first_read(object_type):  # another setup created leadsync_fit after our read
        calls.append(object_type)
        found = original(object_type)
        return [p for p in found if p["name"] != "leadsync_fit"] if len(calls) == 1 else found

    client.properties = stale_first_read
    sb.reset_stats()
    report = setup(cache, client, SETTINGS.write_back)
    assert report.properties["leadsync_fit"] == "exists"
    assert sb.stats()["by_status"]["409"] == 1  # answered "exists", then read back and checked


def test_an_existing_property_of_the_wrong_type_is_a_clear_error(sb, cache):
    client = make_client(sb)
    client.create_property_group("contacts", {"name": "leadsync", "label": "leadsync"})
    client.create_property("contacts", {"name": "leadsync_score", "label": "Score", "type": "string",
                                        "fieldType": "text", "groupName": "leadsync"})
    with pytest.raises(ConfigError, match=r"leadsync_score already exists but is string/text, "
                                          r"needs number/number; rename it in \[push.properties\]"):
        setup(cache, client, SETTINGS.write_back)


def test_a_model_whose_stages_the_portal_lacks_is_refused_before_anything_is_created(sb, cache):
    client = make_client(sb)
    with pytest.raises(ConfigError, match="lifecycle stage.s. nurture that this portal does not have"):
        setup(cache, client, SETTINGS.write_back, model_stages=("lead", "nurture"))
    assert sb.portal.catalogs["contacts"].get("leadsync_score") is None
    assert cache.conn.execute("SELECT COUNT(*) FROM property_catalog").fetchone() == (0,)
