"""`leadsync backtest` on a cache pulled from the sandbox, whose data hides a propensity to
convert: the starter model must rank converters clearly better than chance."""
from __future__ import annotations

import json
import statistics
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from evaluation_world import pulled_cache

from analysis.backtests import backtest_cache, last_backtest
from cache.database import open_cache
from cli import cli
from foundation.moments import parse_moment
from scoring import load, starter_path
from scoring.backtest import random_scores
from scoring.metrics import auc


@pytest.fixture
def world(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    db = tmp_path / "leadsync.db"
    anchor = pulled_cache(tmp_path_factory.getbasetemp(), db, contacts=2000, seed=7)
    return {"db": str(db), "as_of": (anchor - timedelta(days=90)).date().isoformat(),
            "dir": tmp_path}


def backtest(world: dict, *args: str, as_json: bool = True) -> dict | str:
    result = CliRunner().invoke(cli, ["--db", world["db"], "backtest", "--as-of", world["as_of"],
                                      "--horizon", "90", *args, *(["--json"] if as_json else [])])
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if as_json else result.output


def test_the_starter_model_beats_a_random_model_clearly(world: dict) -> None:
    result = backtest(world, "--random-baseline")
    starter, random_model = result["evaluations"]
    assert result["population"]["converted"] >= 25
    assert starter["model"] == "starter 2026-11-22" and starter["auc"] >= 0.75
    assert starter["top_decile_lift"] >= 2.5
    assert 0.4 <= random_model["auc"] <= 0.6
    # Twenty more random models: their AUCs centre on 0.5 and none comes near the starter's.
    run = scores_at(world, world["as_of"])
    ids, converted = run["contact_ids"], run["converted"]
    aucs = [auc(random_scores(ids, seed=str(k)), converted) for k in range(20)]
    assert 0.45 <= statistics.mean(aucs) <= 0.55
    assert max(aucs) < starter["auc"] - 0.1


def scores_at(world: dict, as_of: str) -> dict:
    cache = open_cache(world["db"])
    try:
        return backtest_cache(cache, [load()], parse_moment(as_of), 90).scores
    finally:
        cache.close()


def score_of(scores: dict, contact_id: str) -> float:
    return scores["starter 2026-11-22"][scores["contact_ids"].index(contact_id)]


def test_planted_future_data_in_the_cache_changes_nothing(world: dict) -> None:
    before = backtest(world, "--capacity", "30")
    as_of = world["as_of"]
    day_after = (parse_moment(as_of) + timedelta(days=2)).date().isoformat()
    cache = open_cache(world["db"])
    # A contact the backtest evaluates, with no conversion date of its own.
    contact_id, props = next(
        (i, p) for i in scores_at(world, as_of)["contact_ids"]
        for p in [json.loads(cache.conn.execute("SELECT properties FROM contacts WHERE id = ?",
                                                (i,)).fetchone()[0])]
        if "recent_conversion_date" not in p)
    unplanted = score_of(scores_at(world, day_after), contact_id)
    later = "2099-01-01T00:00:00.000Z"
    props.update(recent_conversion_event_name="Demo request",
                 recent_conversion_date=f"{as_of}T00:00:01.000Z")
    with cache.transaction() as conn:
        # A meeting booked after the as-of date, a demo request a second after it...
        at = f"{as_of}T09:00:00.000Z"
        conn.execute("INSERT INTO engagements (type, id, occurred_at, properties) VALUES "
                     "('meetings', 'planted', ?, ?)", (at, json.dumps(
                         {"hs_timestamp": at, "hs_meeting_outcome": "COMPLETED"})))
        conn.execute("INSERT INTO associations VALUES ('contacts', ?, 'meetings', 'planted', 199)",
                     (contact_id,))
        conn.execute("UPDATE contacts SET properties = ? WHERE id = ?",
                     (json.dumps(props), contact_id))
        # ...and a VP created after it who converts at once.
        conn.execute("INSERT INTO contacts (id, email, properties) "
                     "VALUES ('99999', 'x@acme.io', ?)",
                     (json.dumps({"email": "x@acme.io", "jobtitle": "VP Sales", "createdate": later,
                                  "hs_v2_date_entered_opportunity": later}),))
    cache.close()
    after = backtest(world, "--capacity", "30")
    assert after["population"]["created_later"] == before["population"]["created_later"] + 1
    after["population"] = before["population"]
    assert after == before
    # The planted data is real: two days later it counts (meeting and demo request).
    assert score_of(scores_at(world, day_after), contact_id) > unplanted


def test_the_result_is_saved_for_the_report(world: dict) -> None:
    printed = backtest(world)
    cache = open_cache(world["db"])
    saved = last_backtest(cache)
    runs = cache.conn.execute("SELECT command, outcome, records FROM runs").fetchall()
    cache.close()
    assert saved == printed
    assert runs == [("backtest", "ok", printed["population"]["evaluated"])]


def test_two_models_print_side_by_side(world: dict) -> None:
    weaker = world["dir"] / "fit-only.toml"
    text = starter_path().read_text(encoding="utf-8")
    weaker.write_text(text.replace('name = "starter"', 'name = "fit-only"')
                      .replace("max = 60", "max = 0"), encoding="utf-8")
    output = backtest(world, "--compare", str(weaker), "--capacity", "30", as_json=False)
    header = next(line for line in output.splitlines() if "starter 2026-11-22" in line)
    assert "fit-only 2026-11-22" in header
    auc_row = next(line for line in output.splitlines() if line.startswith("ROC AUC"))
    assert len(auc_row.split()) == 4  # label + two models
    assert "Sales capacity 30/month over 90 days: the top 90 contacts" in output
    assert "Limitations:" in output and "keep today's values" in output


def test_backtest_without_a_cache_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "backtest"])
    assert result.exit_code == 2
    assert "no cache at" in result.output
