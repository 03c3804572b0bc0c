"""The pull and status commands as a user runs them, against the sandbox."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import cli
from sandbox import Sandbox


@pytest.fixture(scope="module")
def sb():
    with Sandbox(contacts=150, seed=2, rate_limit=1000) as sandbox:
        yield sandbox


def run(args, env=None):
    result = CliRunner().invoke(cli, args, env=env or {}, catch_exceptions=False)
    return result.exit_code, result.output


def test_pull_json_summary_then_status(sb, tmp_path):
    db = str(tmp_path / "c.db")
    env = {"HUBSPOT_ACCESS_TOKEN": sb.token}
    code, out = run(["--db", db, "--base-url", sb.base_url, "pull", "--json"], env)
    assert code == 0
    summary = json.loads(out)
    assert summary["streams"]["contacts"]["mode"] == "full"
    assert summary["api_calls"] > 0 and summary["rate_limited"] == 0
    code, out = run(["--db", db, "status", "--json"])
    report = json.loads(out)
    assert code == 0
    assert set(report["streams"]) == {"contacts", "companies", "calls", "emails", "meetings", "notes", "tasks"}
    assert report["last_runs"][0]["command"] == "pull" and report["last_runs"][0]["outcome"] == "ok"
    assert report["daily_budget"]["remaining"] > 0
    code, out = run(["--db", db, "status"])
    assert "contacts" in out and "Daily API budget left:" in out
    assert sb.token not in out


def test_missing_token_is_a_one_line_error_with_exit_2(sb, tmp_path):
    code, out = run(["--db", str(tmp_path / "c.db"), "--base-url", sb.base_url, "pull"], {"HUBSPOT_ACCESS_TOKEN": ""})
    assert code == 2
    assert out.startswith("Error: HUBSPOT_ACCESS_TOKEN is not set;") and out.count("\n") == 1


def test_wrong_token_is_one_line_and_never_echoed(sb, tmp_path):
    code, out = run(["--db", str(tmp_path / "c.db"), "--base-url", sb.base_url, "pull"],
                    {"HUBSPOT_ACCESS_TOKEN": "pat-na1-secret-value"})
    assert code == 2  # the user must fix the token
    assert "HubSpot rejected the access token (401)" in out
    assert "pat-na1-secret-value" not in out and out.count("\n") == 1


def test_bad_config_and_unwritable_db_are_one_line_errors(sb, tmp_path):
    config = tmp_path / "leadsync.toml"
    config.write_text("[hubspot]\ntier = 7\n")
    code, out = run(["--config", str(config), "pull"], {"HUBSPOT_ACCESS_TOKEN": "x"})
    assert (code, out.count("\n")) == (2, 1) and "hubspot.tier must be one of" in out
    code, out = run(["--config", str(tmp_path / "none.toml"), "status"])
    assert (code, out.count("\n")) == (2, 1) and "no such config file" in out
    code, out = run(["--db", str(tmp_path / "no" / "dir" / "c.db"), "status"])
    assert (code, out.count("\n")) == (2, 1) and "no cache at " in out
    code, out = run(["--db", str(tmp_path / "no" / "dir" / "c.db"), "pull"], {"HUBSPOT_ACCESS_TOKEN": "x"})
    assert (code, out.count("\n")) == (2, 1) and "dir does not exist; create the folder" in out


def test_pull_from_json_uses_the_same_save_code(tmp_path):
    export = tmp_path / "export.json"
    export.write_text(json.dumps({
        "contacts": [{"id": "7", "properties": {"email": "Ann@Acme.io", "jobtitle": "CTO"},
                      "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-02T00:00:00.000Z",
                      "archived": False,
                      "associations": {"companies": {"results": [{"id": "9", "type": "contact_to_company"}]}}}],
        "companies": [{"id": "9", "properties": {"name": "Acme", "domain": "acme.io"}}],
    }))
    db = str(tmp_path / "c.db")
    code, out = run(["--db", db, "pull", "--from-json", str(export), "--json"])
    assert code == 0
    assert json.loads(out)["streams"]["contacts"] == {"mode": "from-json", "new": 1, "changed": 0,
                                                      "unchanged": 0, "archived": 0, "merged": 0, "restored": 0}
    from cache.database import open_cache
    cache = open_cache(db)
    assert cache.conn.execute("SELECT id, email, properties FROM contacts").fetchall() == [
        ("7", "ann@acme.io", '{"email":"Ann@Acme.io","jobtitle":"CTO"}')]
    assert cache.conn.execute("SELECT * FROM associations").fetchall() == [("contacts", "7", "companies", "9", 1)]
    cache.close()
    bad = tmp_path / "bad.json"
    bad.write_text('{"deals": []}')
    code, out = run(["--db", db, "pull", "--from-json", str(bad)])
    assert (code, out.count("\n")) == (2, 1) and "unknown stream 'deals'" in out
