"""Several contact models in one config, synced against the sandbox over real HTTP: each
model's values in its own properties, segments cleared when a contact leaves them, a shadow
challenger that never moves a stage."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from writeback_world import BATCH_ROUTE

from cache.database import open_cache
from cli import cli
from foundation import settings as settings_mod
from mappings.writeback import DesiredScore, cleared_values, desired_values, names_of
from sandbox import Sandbox
from scoring import starter_path

AS_OF = datetime.now(timezone.utc).isoformat(timespec="seconds")
EUROPE = ["United Kingdom", "Germany", "France", "Netherlands", "Spain", "Sweden", "Ireland"]
AMERICAS = ["United States", "Canada", "Brazil"]
CONFIG = f"""
[[models]]
name = "europe"
prefix = "leadsync_eu_"
applies_to = {{ country = {{ in = {json.dumps(EUROPE)} }} }}
drives_stages = true

[[models]]
name = "americas"
prefix = "leadsync_am_"
applies_to = {{ country = {{ in = {json.dumps(AMERICAS)} }} }}

[[models]]
name = "challenger"   # a lower MQL bar
path = "challenger.toml"
prefix = "leadsync_ch_"
shadow = true
write_back = true
"""


@pytest.fixture
def sb():
    with Sandbox(contacts=300, seed=6) as sandbox:
        yield sandbox


@pytest.fixture
def config(tmp_path):
    # the challenger calls contacts MQL from a score of 20 (the starter: 55)
    text = starter_path().read_text().replace('name = "starter"', 'name = "challenger"')
    text = text.replace("score = { gte = 55 }", "score = { gte = 20 }")
    assert "gte = 20" in text
    (tmp_path / "challenger.toml").write_text(text)
    path = tmp_path / "leadsync.toml"
    path.write_text(CONFIG)
    return path


def leadsync(sb, db, config, *args):
    env = {"LEADSYNC_BASE_URL": sb.base_url, "HUBSPOT_ACCESS_TOKEN": sb.token}
    return CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), *args], env=env,
                              catch_exceptions=False)


def stored(db) -> dict[str, dict[str, tuple]]:
    """model -> contact -> its stored score, as push reads it."""
    cache = open_cache(db)
    try:
        rows = cache.conn.execute(
            "SELECT s.model, s.contact_id, s.total, s.fit, s.engagement, s.grade, s.stage, "
            "s.inactive, s.reasons, (SELECT MAX(changed_at) FROM score_history h WHERE "
            "h.contact_id = s.contact_id AND h.model = s.model) FROM scores s").fetchall()
    finally:
        cache.close()
    out: dict[str, dict[str, tuple]] = {}
    for model, *row in rows:
        out.setdefault(model, {})[row[0]] = tuple(row)
    return out


def wanted_values(db, config) -> dict[str, dict[str, str]]:
    """Every live contact's desired values of every written model (cleared outside a segment)."""
    settings = settings_mod.load(config)
    scores = stored(db)
    cache = open_cache(db)
    try:
        live = [r[0] for r in cache.conn.execute(
            "SELECT id FROM contacts WHERE archived = 0 AND merged_into IS NULL")]
    finally:
        cache.close()
    wanted: dict[str, dict[str, str]] = {c: {} for c in live}
    for model in settings.models:
        names = names_of(model.write_back)
        for contact_id in live:
            row = scores.get(model.name, {}).get(contact_id)
            wanted[contact_id].update(cleared_values(names) if row is None else desired_values(
                DesiredScore(row[0], *row[1:6], bool(row[6]), row[7], row[8]), names))
    return wanted


def assert_portal_holds(sb, wanted: dict[str, dict[str, str]]) -> None:
    for contact_id, values in wanted.items():
        have = sb.portal.get("contacts", contact_id).properties
        assert {k: have.get(k) or "" for k in values} == values, contact_id


def live_stages(sb) -> dict[str, str]:
    return {str(r["id"]): r["properties"].get("lifecyclestage") or ""
            for r in sb.portal.truth("contacts") if not r["archived"] and not r["mergedInto"]}


def test_sync_writes_every_model_then_nothing_and_only_the_driver_moves_stages(sb, tmp_path, config):
    db = tmp_path / "leadsync.db"
    before = live_stages(sb)
    setup = leadsync(sb, db, config, "setup", "--json")
    assert setup.exit_code == 0, setup.output
    created = json.loads(setup.output)["properties"]
    assert {"leadsync_eu_score", "leadsync_am_grade", "leadsync_ch_reasons"} <= set(created)
    assert "leadsync_score" not in created  # push.properties are the single model's only

    first = leadsync(sb, db, config, "sync", "--as-of", AS_OF, "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output)
    scores = stored(db)
    europe, americas, challenger = (scores[m] for m in ("europe", "americas", "challenger"))
    assert len(challenger) == len(before)  # no segment: every live contact
    assert 0 < len(europe) < len(before) and 0 < len(americas) < len(before)
    assert not europe.keys() & americas.keys()
    assert [m["in_segment"] for m in summary["score"]["models"]] == [
        len(europe), len(americas), len(challenger)]
    # one write per contact carries every model's properties: batches of ≤ 100 contacts
    written = summary["push"]["contacts_written"]
    assert summary["push"]["write_calls"] == -(-written // 100)
    assert_portal_holds(sb, wanted_values(db, config))

    after = live_stages(sb)
    for contact_id, stage in after.items():
        if contact_id in europe:
            assert stage == (europe[contact_id][5] or before[contact_id]), contact_id
        else:
            assert stage == before[contact_id], contact_id  # the shadow model moved nothing
    # …though it would have: it calls more contacts MQL than the stages show
    shadow_mqls = {c for c, row in challenger.items() if row[5] == "marketingqualifiedlead"}
    assert any(after[c] != "marketingqualifiedlead" for c in shadow_mqls - europe.keys())

    sb.reset_stats()
    second = leadsync(sb, db, config, "sync", "--as-of", AS_OF)
    assert second.exit_code == 0, second.output
    assert sb.stats()["by_route"].get(BATCH_ROUTE, 0) == 0
    assert "push:  0 contacts written in 0 batch calls" in second.output

    status = leadsync(sb, db, config, "status", "--json")
    assert json.loads(status.output)["scores_by_model"] == {
        "americas": len(americas), "challenger": len(challenger), "europe": len(europe)}
    assert (f"  by model: americas {len(americas):,}, challenger {len(challenger):,}, "
            f"europe {len(europe):,}") in leadsync(sb, db, config, "status").output


def test_a_contact_leaving_a_segment_has_that_models_values_cleared(sb, tmp_path, config):
    db = tmp_path / "leadsync.db"
    leadsync(sb, db, config, "setup")
    assert leadsync(sb, db, config, "sync", "--as-of", AS_OF).exit_code == 0
    moved = sorted(stored(db)["europe"])[0]
    eu_score = sb.portal.get("contacts", moved).properties["leadsync_eu_score"]
    assert eu_score not in ("", None)
    sb.portal.update("contacts", moved, {"country": "Canada"})

    result = leadsync(sb, db, config, "sync", "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert [m["left"] for m in summary["score"]["models"]] == [1, 0, 0]
    have = sb.portal.get("contacts", moved).properties
    assert {k: have.get(k) or "" for k in ("leadsync_eu_score", "leadsync_eu_grade",
                                           "leadsync_eu_reasons", "leadsync_eu_inactive")} == {
        "leadsync_eu_score": "", "leadsync_eu_grade": "", "leadsync_eu_reasons": "",
        "leadsync_eu_inactive": ""}
    assert have["leadsync_am_score"] not in ("", None)
    assert moved not in stored(db)["europe"] and moved in stored(db)["americas"]
    assert_portal_holds(sb, wanted_values(db, config))
    cache = open_cache(db)
    try:
        rows = cache.conn.execute(
            "SELECT model, old_total IS NOT NULL, new_total, trigger, pushed_at IS NOT NULL "
            "FROM score_history WHERE contact_id = ? ORDER BY id", (moved,)).fetchall()
    finally:
        cache.close()
    assert ("europe", 1, None, "sync", 1) in rows
    assert [r[0] for r in rows if r[2] is not None and r[1] == 0].count("americas") == 1

    sb.reset_stats()
    again = leadsync(sb, db, config, "sync", "--as-of", AS_OF)
    assert again.exit_code == 0, again.output
    assert sb.stats()["by_route"].get(BATCH_ROUTE, 0) == 0


def test_compare_shows_champion_and_challenger_on_the_same_contacts(sb, tmp_path, config):
    db = tmp_path / "leadsync.db"
    leadsync(sb, db, config, "setup")
    assert leadsync(sb, db, config, "sync", "--as-of", AS_OF).exit_code == 0
    result = leadsync(sb, db, config, "compare", "--json", "--movers", "3")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    scores = stored(db)
    europe, challenger = scores["europe"], scores["challenger"]
    both = europe.keys() & challenger.keys()
    assert (report["champion"], report["challenger"]) == ("europe", "challenger")
    assert report["contacts"] == len(both) and report["only_challenger"] == len(
        challenger.keys() - europe.keys()) and report["only_champion"] == 0
    pairs = [(europe[c][4] or "none", challenger[c][4] or "none") for c in both]
    assert {row: {col: n for col, n in cols.items()} for row, cols in
            report["grade_table"].items() if cols} == {
        a: {b: pairs.count((a, b)) for b in {q for p, q in pairs if p == a}}
        for a in {p for p, _ in pairs}}
    assert report["grade_agreement"] == sum(a == b for a, b in pairs)
    stage_moves = sum((europe[c][5] or "") != (challenger[c][5] or "") for c in both)
    assert report["would_move"] == stage_moves > 0
    assert len(report["movers"]) == 3
    biggest = max(abs(challenger[c][1] - europe[c][1]) for c in both)
    first = report["movers"][0]
    assert abs(first["challenger"]["total"] - first["champion"]["total"]) == biggest
    bt = report["backtest"]
    assert bt["horizon_days"] == 90 and {"auc", "top_decile_lift"} <= bt["champion"].keys()
    text = leadsync(sb, db, config, "compare", "--no-backtest").output
    assert "Grades (rows: champion, columns: challenger)" in text
    assert f"Who would move (lifecycle stage per the challenger): {stage_moves:,} contacts" in text


def test_promote_asks_then_rewrites_the_config_keeping_comments_and_sync_follows(sb, tmp_path,
                                                                                 config):
    db = tmp_path / "leadsync.db"
    leadsync(sb, db, config, "setup")
    assert leadsync(sb, db, config, "sync", "--as-of", AS_OF).exit_code == 0
    before = config.read_text()
    env = {"LEADSYNC_BASE_URL": sb.base_url, "HUBSPOT_ACCESS_TOKEN": sb.token}
    declined = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), "promote",
                                        "challenger"], input="n\n", env=env)
    assert declined.exit_code == 2 and "nothing was changed" in declined.output
    assert "models challenger: drives_stages = true" in declined.output
    assert config.read_text() == before

    planned = leadsync(sb, db, config, "promote", "challenger", "--yes", "--json")
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.output)
    assert plan["changes"] == ["models challenger: drives_stages = true",
                               "models challenger: shadow = false",
                               "models challenger: write_back = true",
                               "models europe: drives_stages = false",
                               "models europe: shadow = true",
                               "models europe: write_back = true"]
    assert (tmp_path / "leadsync.toml.bak").read_text() == before
    after = config.read_text()
    assert 'name = "challenger"   # a lower MQL bar' in after
    assert after == before.replace(
        'name = "europe"\n', 'name = "europe"\nwrite_back = true\nshadow = true\n').replace(
        "drives_stages = true", "drives_stages = false").replace(
        'name = "challenger"   # a lower MQL bar\n',
        'name = "challenger"   # a lower MQL bar\ndrives_stages = true\n').replace(
        "shadow = true\nwrite_back = true", "shadow = false\nwrite_back = true")
    loaded = settings_mod.load(config)
    roles = {m.name: (m.drives_stages, m.shadow, m.written) for m in loaded.models}
    assert roles == {"europe": (False, True, True), "americas": (False, False, True),
                     "challenger": (True, False, True)}
    moving = plan["plan"]["by_transition"]
    assert moving["lead → marketingqualifiedlead"] > 0

    synced = leadsync(sb, db, config, "sync", "--as-of", AS_OF, "--json")
    assert synced.exit_code == 0, synced.output
    push = json.loads(synced.output)["push"]
    assert push["plan"]["contacts"] == plan["plan"]["contacts"]
    assert push["plan"]["by_transition"] == moving
    challenger = stored(db)["challenger"]
    stages = live_stages(sb)
    assert all(stages[c] == "marketingqualifiedlead" for c, row in challenger.items()
               if row[5] == "marketingqualifiedlead")
