"""`leadsync simulate` on a cache pulled from the sandbox: it reports exactly what `score`
then does, and writes nothing."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from evaluation_world import pulled_cache, table_counts

import scoring
from analysis.rescore import load_model, rescore
from analysis.simulation import simulate
from cache.catalog import write_policy
from cache.database import open_cache
from cache.write_plan import plan_push
from cli import cli
from foundation.moments import iso
from foundation.settings import Settings
from mappings.writeback import names_of

STARTER = scoring.starter_path().read_text(encoding="utf-8")
# A candidate a RevOps person might try: executives count more, MQL comes sooner.
CANDIDATE = (STARTER.replace('version = "2026-11-22"', 'version = "candidate-1"')
             .replace("score = { gte = 55 }", "score = { gte = 45 }")
             .replace("points = 20\n", "points = 26\n", 1))
HISTORY = ("contact_id", "old_total", "new_total", "old_grade", "new_grade", "old_stage",
           "new_stage")


@pytest.fixture
def world(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    db = tmp_path / "leadsync.db"
    anchor = pulled_cache(tmp_path_factory.getbasetemp(), db, contacts=600, seed=5)
    (tmp_path / "candidate.toml").write_text(CANDIDATE, encoding="utf-8")
    (tmp_path / "current.toml").write_text('[scoring]\n', encoding="utf-8")
    (tmp_path / "adopted.toml").write_text('[scoring]\nmodel = "candidate.toml"\n',
                                           encoding="utf-8")
    return {"db": str(db), "dir": tmp_path, "as_of": iso(anchor)}


def run(world: dict, config: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", world["db"], "--config",
                                      str(world["dir"] / config), *args])
    assert result.exit_code == 0, result.output
    return result.output


def counts(db: str) -> dict[str, int]:
    cache = open_cache(db)
    try:
        return table_counts(cache)
    finally:
        cache.close()


def history_rows(db: str, after: int = 0) -> list[dict]:
    cache = open_cache(db)
    rows = cache.conn.execute(f"SELECT {', '.join(HISTORY)} FROM score_history WHERE id > ? "
                              f"ORDER BY contact_id", (after,)).fetchall()
    cache.close()
    return [dict(zip(HISTORY, row)) for row in rows]


def transitions(changes: list[dict]) -> dict[tuple, int]:
    counts: dict[tuple, int] = {}
    for c in changes:
        for key in ("grade", "stage"):
            pair = (key, c[f"old_{key}"] or "(none)", c[f"new_{key}"] or "(none)")
            counts[pair] = counts.get(pair, 0) + 1
    return counts


def moved(matrix: dict[str, dict[str, int]], key: str) -> dict[tuple, int]:
    return {(key, old, new): n for old, row in matrix.items() for new, n in row.items()
            if old != new}


def test_simulate_reports_exactly_the_transitions_that_score_then_makes(world: dict) -> None:
    as_of = world["as_of"]
    run(world, "current.toml", "score", "--as-of", as_of)
    last = len(history_rows(world["db"]))
    before = counts(world["db"])

    report = json.loads(run(world, "current.toml", "simulate", "--model",
                            str(world["dir"] / "candidate.toml"), "--as-of", as_of, "--json"))
    assert counts(world["db"]) == before  # simulate wrote nothing

    run(world, "adopted.toml", "score", "--as-of", as_of)
    written = history_rows(world["db"], after=last)
    assert written, "the candidate must change something for this test to mean anything"
    assert report["changed"] == len(written)
    # Every grade and stage move simulate counted is one that score recorded, and no other.
    predicted = {**moved(report["grades"], "grade"), **moved(report["stages"], "stage")}
    recorded = {k: n for k, n in transitions(written).items() if k[1] != k[2]}
    assert predicted == recorded
    assert report["candidate"] == "starter candidate-1"
    assert report["baseline"].startswith("stored scores (starter 2026-11-22")


def test_simulate_lists_the_same_changes_score_writes_row_for_row(world: dict) -> None:
    as_of = datetime.fromisoformat(world["as_of"].replace("Z", "+00:00"))
    cache = open_cache(world["db"])
    current, candidate = scoring.load(), scoring.loads(CANDIDATE)
    rescore(cache, current, as_of)
    last = cache.conn.execute("SELECT MAX(id) FROM score_history").fetchone()[0]
    report = simulate(cache, candidate, current, as_of, names=names_of(Settings().write_back),
                      policy=write_policy(cache, Settings(), candidate))
    rescore(cache, candidate, as_of)
    cache.close()
    simulated = sorted(tuple(getattr(c, k) for k in HISTORY) for c in report.simulation.changes)
    assert simulated == [tuple(r.values()) for r in history_rows(world["db"], after=last)]


def test_simulate_before_any_score_compares_with_the_current_model(world: dict) -> None:
    report = json.loads(run(world, "current.toml", "simulate", "--model",
                            str(world["dir"] / "candidate.toml"), "--as-of", world["as_of"],
                            "--json"))
    assert report["baseline"] == "starter 2026-11-22 (scored now: nothing is stored yet)"
    assert report["push_now"]["contacts"] == 0
    assert report["push"]["contacts"] == report["contacts"]
    # The fit rule raised by 6 points moves only contacts it fires for, by exactly 6
    # (or less where the fit cap of 50 bites).
    assert report["movers"] and all(0 < m["delta"] <= 6 for m in report["movers"])
    first = report["movers"][0]
    rules = {r["rule"]: r["points"] for r in first["after"]["reasons"]}
    assert rules["Executive or VP"] == 26
    assert {r["rule"]: r["points"] for r in first["before"]["reasons"]}["Executive or VP"] == 20


def test_simulate_text_shows_matrices_distribution_movers_and_push(world: dict) -> None:
    run(world, "current.toml", "score", "--as-of", world["as_of"])
    text = run(world, "current.toml", "simulate", "--model", str(world["dir"] / "candidate.toml"),
               "--as-of", world["as_of"], "--movers", "2")
    assert "Grades (rows: before, columns: after)" in text
    assert "Stages (rows: before, columns: after)" in text
    assert "Score distribution" in text and "p50" in text
    assert "Contacts that move most (top 2)" in text
    assert "fit: Executive or VP" in text
    assert "What a push would send: now, and after `leadsync score` with the candidate" in text
    assert "lead → marketingqualifiedlead" in text


def test_simulate_without_a_cache_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "simulate", "--model",
                                      "x.toml"])
    assert result.exit_code == 2
    assert "no cache at" in result.output and "leadsync pull" in result.output
    assert not (tmp_path / "none.db").exists()


def test_simulate_counts_what_push_would_send_now_and_after_score(world: dict) -> None:
    as_of = world["as_of"]
    run(world, "current.toml", "score", "--as-of", as_of)
    now = json.loads(run(world, "current.toml", "push", "--dry-run", "--json"))["plan"]
    report = json.loads(run(world, "current.toml", "simulate", "--model",
                            str(world["dir"] / "candidate.toml"), "--as-of", as_of, "--json"))
    run(world, "adopted.toml", "score", "--as-of", as_of)
    after = json.loads(run(world, "adopted.toml", "push", "--dry-run", "--json"))["plan"]
    for simulated, planned in ((report["push_now"], now), (report["push"], after)):
        for key in ("contacts", "by_property", "by_transition", "held", "unchanged"):
            assert simulated[key] == planned[key], key
    assert report["push"]["by_transition"] != report["push_now"]["by_transition"]


def record_as_pushed(db: str) -> int:
    """Write the pushed ledger exactly as a successful push of today's plan would."""
    cache = open_cache(db)
    try:
        policy = write_policy(cache, Settings(), load_model(None, cache))
        plan, _ = plan_push(cache, Settings().write_back, policy)
        with cache.transaction() as conn:
            conn.executemany(
                "INSERT INTO pushed (contact_id, property, value, pushed_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(contact_id, property) DO UPDATE SET value = excluded.value, "
                "pushed_at = excluded.pushed_at",
                [(c.contact_id, name, value, "2999-01-01T00:00:00.000Z")
                 for c in plan.changes for name, value in c.new.items()])
        return plan.contacts
    finally:
        cache.close()


def test_simulate_push_plan_equals_push_dry_run_after_a_push(world: dict) -> None:
    """Once HubSpot holds every value, push --dry-run plans nothing, and neither does simulate
    (it once re-read stored reasons in their old shape and planned every contact's reasons)."""
    as_of = world["as_of"]
    run(world, "current.toml", "score", "--as-of", as_of)
    assert record_as_pushed(world["db"]) > 500
    dry = json.loads(run(world, "current.toml", "push", "--dry-run", "--json"))["plan"]
    (world["dir"] / "same.toml").write_text(STARTER, encoding="utf-8")
    report = json.loads(run(world, "current.toml", "simulate", "--model",
                            str(world["dir"] / "same.toml"), "--as-of", as_of, "--json"))
    assert dry["contacts"] == 0 and dry["by_property"] == {}
    for simulated in (report["push_now"], report["push"]):
        for key in ("contacts", "writes", "by_property", "by_transition", "held", "unchanged",
                    "skipped"):
            assert simulated[key] == dry[key], key
