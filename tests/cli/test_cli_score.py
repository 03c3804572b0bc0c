"""`leadsync model check|show`, `score`, `explain`, `history` through click, on a small cache."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from score_cache import add_company, add_contact, add_event

from cache.database import open_cache
from cli import cli
from scoring import starter_path

AS_OF = "2026-11-22"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no leadsync.toml here: the starter model is used
    path = str(tmp_path / "leadsync.db")
    cache = open_cache(path)
    add_contact(cache, "101", email="ann@acme.io", jobtitle="VP of Marketing", hs_email_click="4",
                lifecyclestage="lead", createdate="2026-03-01T09:00:00.000Z")
    add_company(cache, "900", "101", industry="COMPUTER_SOFTWARE", numberofemployees="240")
    add_event(cache, "101", "meetings", "m1", "2026-11-19T00:00:00.000Z", hs_meeting_outcome="COMPLETED")
    add_contact(cache, "102", email="bo@gmail.com", jobtitle="Student", lifecyclestage="customer",
                createdate="2025-01-01T00:00:00.000Z")
    cache.close()
    return path


def run(db: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", db, *args])
    return result.exit_code, result.output


def test_model_check_accepts_the_starter(db: str) -> None:
    code, out = run(db, "model", "check")
    assert (code, out) == (0, f"{starter_path()}: OK, model starter 2026-11-22: 12 fit rules, "
                              f"10 engagement rules, 3 stage conditions\n")


def test_model_check_rejects_a_bad_model_with_one_line_per_problem(db: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nname = "x"\nversion = "1"\n[[fit.rules]]\nname = "a"\n'
                   'when = { jobtitel = "x" }\npoints = 1\n')
    code, out = run(db, "model", "check", str(bad))
    assert (code, out) == (2, f"Error: {bad}:6: fit rule 'a': when.jobtitel: unknown contact "
                              f"property 'jobtitel'; did you mean 'jobtitle'?\n")


def test_model_check_uses_the_cached_catalog(db: str, tmp_path: Path) -> None:
    cache = open_cache(db)
    cache.conn.execute("INSERT INTO property_catalog (object_type, name, type, field_type) "
                       "VALUES ('contacts', 'email', 'string', 'text')")
    cache.close()
    code, out = run(db, "model", "check")
    assert code == 2 and "unknown contact property 'jobtitle' (not in the cached property catalog" in out


def test_model_show_prints_the_model_as_valid_toml(db: str) -> None:
    code, out = run(db, "model", "show")
    assert code == 0
    assert out == f"# {starter_path()}\n{starter_path().read_text()}"


def test_score_then_score_again_changes_nothing(db: str) -> None:
    code, out = run(db, "score", "--as-of", AS_OF, "--json")
    summary = json.loads(out)
    assert code == 0
    assert {k: summary[k] for k in ("scored", "changed", "updated", "promoted", "grades", "as_of")} == {
        "scored": 2, "changed": 2, "updated": 2, "promoted": 1, "grades": {"A2": 1, "C3": 1},
        "as_of": "2026-11-22T00:00:00.000Z"}
    code, out = run(db, "score", "--as-of", AS_OF)
    assert code == 0
    assert out.splitlines()[1:] == [
        "  changed (total, grade or stage; history rows): 0", "  score rows written: 0",
        "  stages: 0 promoted, 0 demoted", "  grades: A2 1, C3 1"]  # promoted by the first run


def test_score_one_contact_by_email(db: str) -> None:
    code, out = run(db, "score", "--contact", "ANN@acme.io", "--as-of", AS_OF, "--json")
    assert code == 0 and json.loads(out)["scored"] == 1


@pytest.mark.parametrize("args, message", [
    (("score", "--contact", "nobody@x.io"), "Error: no contact 'nobody@x.io' in the cache; check "
                                            "the id or email, or run `leadsync pull` first\n"),
    (("score", "--as-of", "yesterday"), "Error: --as-of: cannot read 'yesterday' as a date; use "
                                        "YYYY-MM-DD or an ISO date-time such as 2026-11-22T09:30:00Z\n"),
    (("explain", "999"), "Error: no contact '999' in the cache; check the id or email, or run "
                         "`leadsync pull` first\n"),
    (("history", "--since", "soon"), "Error: --since: cannot read 'soon' as a date; use "
                                     "YYYY-MM-DD or an ISO date-time such as 2026-11-22T09:30:00Z\n"),
])
def test_bad_input_is_one_line_and_exit_2(db: str, args: tuple[str, ...], message: str) -> None:
    assert run(db, *args) == (2, message)


def test_explain_prints_the_breakdown(db: str) -> None:
    code, out = run(db, "explain", "101", "--as-of", AS_OF)
    assert code == 0
    assert out == """\
Contact 101 <ann@acme.io> as of 2026-11-22T00:00:00Z, model starter 2026-11-22
Score 66 = fit 46 + engagement 20
Grade A2
Stage lead -> marketingqualifiedlead (promoted: marketingqualifiedlead conditions hold)
Fit:
    +20.0  Executive or VP
     +8.0  Revenue, sales or marketing role
    +10.0  Target industry
     +8.0  Company of 50 to 5,000 people
Engagement:
    +14.0  Meeting held or booked
     +6.0  Clicked marketing emails
Activity: last engagement 3 days ago; active (inactive after 90 days)
"""


def test_explain_json_and_a_customer_left_alone(db: str) -> None:
    code, out = run(db, "explain", "bo@gmail.com", "--as-of", AS_OF, "--json")
    report = json.loads(out)
    assert code == 0
    assert (report["contact_id"], report["total"], report["grade"], report["stage"],
            report["stage_change"], report["inactive"]) == ("102", 0.0, "C3", "customer", "none", True)
    assert [r["rule"] for r in report["reasons"]] == [
        "Student or intern", "Free email address", "fit floored at -30", "total floored at 0"]


def test_history_text_csv_json_and_filters(db: str) -> None:
    run(db, "score", "--as-of", AS_OF)
    code, out = run(db, "history", "ann@acme.io")
    assert code == 0
    [line] = out.splitlines()
    assert line.endswith("contact 101 <ann@acme.io>  total - -> 66, grade - -> A2, "
                         "stage - -> marketingqualifiedlead  [starter 2026-11-22, score, not pushed]")
    code, out = run(db, "history", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["contact_id"], r["email"], r["new_total"], r["new_grade"]) for r in rows] == [
        ("101", "ann@acme.io", "66.0", "A2"), ("102", "bo@gmail.com", "0.0", "C3")]
    code, out = run(db, "history", "--json", "--model", "2026-11-22", "--since", "2020-01-01")
    assert [c["contact_id"] for c in json.loads(out)] == ["101", "102"]
    assert run(db, "history", "--model", "other", "--json") == (0, "[]\n")
    assert run(db, "history", "--since", "2999-01-01") == (
        0, "No score changes recorded for that selection.\n")



def test_history_limit_keeps_the_newest_changes_in_order(db: str) -> None:
    run(db, "score", "--as-of", AS_OF)
    run(db, "score", "--as-of", "2026-12-01")  # decay moves ann's total: a third row
    code, out = run(db, "history", "--json")
    assert [c["contact_id"] for c in json.loads(out)] == ["101", "102", "101"]
    code, out = run(db, "history", "--limit", "2", "--json")
    newest = json.loads(out)
    assert [(c["contact_id"], c["email"]) for c in newest] == [("102", "bo@gmail.com"),
                                                                ("101", "ann@acme.io")]
    code, out = run(db, "history", "ann@acme.io", "--limit", "1")
    [line] = out.splitlines()
    assert "contact 101 <ann@acme.io>  total 66 -> " in line
    assert run(db, "history", "--limit", "0")[0] == 2
