"""`leadsync learn` on a cache of the sandbox's portal: no feature sees the future, the
written model is valid and scores exactly what the fit computed, and the command's output."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from learn_world import AS_OF, learn_cache

pytest.importorskip("sklearn")

from analysis.learn import Options, prepare  # noqa: E402
from cache.database import open_cache  # noqa: E402
from cache.model_inputs import read_contacts  # noqa: E402
from cli import cli  # noqa: E402
from scoring import load  # noqa: E402
from scoring.batch import batch_scorer, chunk_of  # noqa: E402
from scoring.outcomes import DEFAULT  # noqa: E402


@pytest.fixture
def db(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(learn_cache(tmp_path_factory.getbasetemp(), tmp_path / "leadsync.db"))


def prepared_from(db: str):
    cache = open_cache(db)
    try:
        return prepare(cache, load(), DEFAULT, Options(as_of=AS_OF))
    finally:
        cache.close()


def iso(moment) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_events_and_dated_changes_after_each_date_move_no_feature(db: str) -> None:
    before = prepared_from(db)
    cache = open_cache(db)
    contacts = [(i, json.loads(p)) for i, p in cache.conn.execute(
        "SELECT id, properties FROM contacts WHERE archived = 0")]
    just_after = iso(AS_OF + timedelta(seconds=1))
    later = iso(AS_OF + timedelta(days=3))
    with cache.transaction() as conn:
        for n, (contact_id, props) in enumerate(contacts):
            # Engagements of every kind, a second and three days after the validation date.
            for k, (kind, extra) in enumerate((
                    ("meetings", {"hs_meeting_outcome": "COMPLETED"}),
                    ("calls", {"hs_call_status": "COMPLETED", "hs_call_duration": "600000"}),
                    ("emails", {"hs_email_direction": "INCOMING_EMAIL"}),
                    ("notes", {}), ("tasks", {}))):
                for j, at in enumerate((just_after, later)):
                    event_id = f"9{n:06d}{k}{j}"
                    conn.execute("INSERT INTO engagements (type, id, occurred_at, properties) "
                                 "VALUES (?, ?, ?, ?)", (kind, event_id, at, json.dumps(
                                     {"hs_timestamp": at, **extra})))
                    conn.execute("INSERT INTO associations VALUES ('contacts', ?, ?, ?, 199)",
                                 (contact_id, kind, event_id))
            # Dated property changes after the date: a later stage, conversions, activity.
            props.update(recent_conversion_date=later, recent_conversion_event_name="Demo",
                         hs_email_last_open_date=later,
                         hs_analytics_last_visit_timestamp=just_after)
            for name in ("first_conversion_date", "hs_v2_date_entered_salesqualifiedlead",
                         "hs_v2_date_entered_marketingqualifiedlead"):
                props.setdefault(name, later)
            conn.execute("UPDATE contacts SET properties = ? WHERE id = ?",
                         (json.dumps(props), contact_id))
    planted = cache.conn.execute("SELECT count(*) FROM contact_events WHERE occurred_at > ?",
                                 (AS_OF.timestamp(),)).fetchone()[0]
    cache.close()
    assert planted >= 10 * len(contacts)  # the engagements reached the table learn reads
    after = prepared_from(db)
    assert after.features.text == before.features.text  # the same candidate rules
    for part in ("train", "valid"):
        old, new = getattr(before, part), getattr(after, part)
        assert new.count == old.count and new.count > 0
        assert (new.matrix() != old.matrix()).nnz == 0  # no feature moved
        assert new.ids == old.ids and new.dates == old.dates
    assert before.train.labels == after.train.labels  # training outcomes end before the date
    # The plant bites: the starter's "Demo request" (dated by recent_conversion_date, which a
    # later conversion overwrites) loses earlier demo requests; learn leaves such rules out.
    assert after.valid.current != before.valid.current


def test_the_learned_file_passes_model_check_and_scores_exactly_the_fitted_points(
        db: str, tmp_path: Path) -> None:
    out = tmp_path / "learned.toml"
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", db, "learn", "--as-of", AS_OF.date().isoformat(),
                                 "--out", str(out), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    learned = json.loads(result.output)
    checked = runner.invoke(cli, ["--db", db, "model", "check", str(out)])
    assert checked.exit_code == 0 and f"{out}: OK, model learned " in checked.output
    # Score the cache with the written file, then recompute every total from the fit's points
    # and the feature model's reasons on the same rows.
    config = tmp_path / "leadsync.toml"
    config.write_text(f'[scoring]\nmodel = "{out}"\n')
    scored = runner.invoke(cli, ["--db", db, "--config", str(config), "score", "--as-of",
                                 AS_OF.date().isoformat()])
    assert scored.exit_code == 0, scored.output
    prepared = prepared_from(db)
    points = learned["points"]
    assert points and all(isinstance(v, int) and v for v in points.values())
    cache = open_cache(db)
    stored = dict(cache.conn.execute("SELECT contact_id, total FROM scores"))
    rows = list(read_contacts(cache, [load(out), prepared.features]))
    cache.close()
    chunk = chunk_of([r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])
    expected = np.zeros(len(rows))
    for column in batch_scorer(prepared.features, AS_OF).score(chunk).reasons:
        expected[column.who] += np.asarray(column.points) * points.get(column.rule, 0)
    assert len(stored) == len(rows) > 1000
    assert [stored[r[0]] for r in rows] == list(expected)
    assert len(set(expected)) > 50  # the totals spread out: the rules do fire


def test_learn_prints_the_comparison_and_warns_of_too_few_conversions(db: str,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "learned.toml"
    result = CliRunner().invoke(cli, ["--db", db, "learn", "--as-of", AS_OF.date().isoformat(),
                                      "--out", str(out), "--capacity", "5"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.startswith(f"Wrote {out}: model learned 2026-09-03, ")
    assert "Training dates: 2026-04-06, 2026-05-06, 2026-06-05; validation: 2026-09-03" in text
    for name in ("learned (points)", "regression (unrounded)", "current: starter 2026-11-22"):
        assert name in text
    assert "Calibration by score tenth" in text and "Rules that weigh most:" in text
    assert "Page views: reads hs_analytics_num_page_views, which HubSpot keeps only" in text
    assert "Warning: only " in text and "(10 per rule) are needed" in text
    assert "at least 100 are needed for AUC and lift" in text
    assert "MQL at score >= " in text and "the score of the 64th best validation contact" in text
    body = out.read_text()
    assert body.startswith("# Learned by `leadsync learn`")
    assert "hs_analytics_num_page_views" not in body and "hs_email_click" not in body
    assert "[stages.marketingqualifiedlead]\nwhen = { score = { gte = " in body
    again = CliRunner().invoke(cli, ["--db", db, "learn", "--out", str(out)])
    assert again.exit_code == 2 and "exists; pass --force" in again.output


def test_allow_current_counters_puts_them_in_with_a_warning(db: str, tmp_path: Path) -> None:
    out = tmp_path / "learned.toml"
    result = CliRunner().invoke(cli, ["--db", db, "learn", "--as-of", AS_OF.date().isoformat(),
                                      "--out", str(out), "--allow-current-counters", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["left_out"] == []
    assert any(w.startswith("--allow-current-counters: counters and latest-event values are "
                            "today's") for w in doc["warnings"])
    assert 'name = "hs_email_click"' in out.read_text()


def test_a_static_label_is_validated_on_held_out_contacts(db: str, tmp_path: Path) -> None:
    cache = open_cache(db)
    with cache.transaction() as conn:
        conn.execute("""UPDATE contacts SET properties = json_set(properties, '$.converted',
            CASE WHEN json_extract(properties, '$.hs_v2_date_entered_opportunity') IS NOT NULL
                 THEN 'yes' ELSE 'no' END)""")
    cache.close()
    config = tmp_path / "leadsync.toml"
    config.write_text('[conversion]\nlabel = { converted = "yes" }\n')
    out = tmp_path / "learned.toml"
    result = CliRunner().invoke(cli, ["--db", db, "--config", str(config), "learn", "--as-of",
                                      "2026-12-02", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["conversion"] == "the static label converted = 'yes'"
    assert doc["training"] == [] and doc["horizon_days"] is None
    assert any("held-out fifth of the contacts" in n for n in doc["notes"])
    assert list(doc["rows"]) == ["2026-12-02T00:00:00Z"]
    assert "converted" not in {r["rule"] for r in doc["top_rules"]}
    assert 'property = "converted"' not in out.read_text()  # the label is never a feature
