"""`leadsync browse`: the real CLI starts Datasette on a loopback port; headless chromium
reads the views, their descriptions and the canned queries; Ctrl-C stops both."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from headless import chromium, dump_dom
from report_world import build

from cache.browse import HIDDEN, metadata
from cache.database import utcnow
from cli import cli
from score_cache import add_contact


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cache_to_browse(path: Path) -> None:
    cache = build(path)
    add_contact(cache, "10", email="j@x.io", firstname="Jo", lastname="Ng",
                hs_analytics_source="PAID_SOCIAL", lifecyclestage="lead")
    with cache.transaction() as conn:
        conn.execute("INSERT INTO scores (contact_id, model_name, model_version, as_of, fit, "
                     "engagement, total, grade, stage, inactive, reasons, scored_at) "
                     "VALUES ('10', 'report', '1', '2026-11-02', 30, 5, 35, 'B2', "
                     "'marketingqualifiedlead', 1, ?, '2026-11-02')",
                     ('[["VP","fit",30.0,1],["Webinar","engagement",5.0,1],'
                      '["total capped at 30","total",-5.0,0]]',))
        for old, new, old_stage, new_stage in ((60, 12.5, "marketingqualifiedlead", "lead"),
                                               (20, 35, "lead", "marketingqualifiedlead")):
            conn.execute("INSERT INTO score_history (contact_id, changed_at, as_of, model_name, "
                         "model_version, trigger, old_total, new_total, old_stage, new_stage, "
                         "reasons) VALUES ('10', ?, ?, 'report', '1', 'sync', ?, ?, ?, ?, ?)",
                         (utcnow(), utcnow(), old, new, old_stage, new_stage,
                          '[["VP","fit",30.0,1],["Webinar","engagement",5.5,2],'
                          '["total capped at 30","total",-5.0,0]]'))
    cache.close()


def leadsync_command() -> list[str]:
    script = Path(sys.executable).with_name("leadsync")
    return [str(script)] if script.exists() else [sys.executable, "-c", "import cli; cli.main()"]


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def cells(dom: str, column: str) -> list[str]:
    """The text of a Datasette table's cells in `column`, top to bottom."""
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in
            re.findall(rf'<td class="col-{column}[ "][^>]*>(.*?)</td>', dom, re.S)]


@pytest.fixture
def served(tmp_path: Path):
    chromium()  # skip (or fail as root) before starting anything
    db = tmp_path / "leadsync.db"
    cache_to_browse(db)
    port = free_port()
    server = subprocess.Popen([*leadsync_command(), "--db", str(db), "browse", "--port", str(port),
                               "--no-open"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/-/versions.json")
        yield base, server
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_browse_serves_the_views_descriptions_and_queries_in_a_browser(served, tmp_path):
    base, server = served
    home = dump_dom(f"{base}/leadsync", tmp_path / "p1")
    assert home.returncode == 0, home.stderr[-2000:]
    assert ">contacts_view<" in home.stdout and ">score_changes_view<" in home.stdout
    for hidden in HIDDEN:  # only under "hidden tables", not in the list
        assert f'href="/leadsync/{hidden}">{hidden}</a>' not in home.stdout, hidden
    for title in ("MQLs this week", "Biggest score drops", "Leads to call"):
        assert title in home.stdout

    view = dump_dom(f"{base}/leadsync/contacts_view?_sort=contact_id", tmp_path / "p2").stdout
    assert cells(view, "contact_id") == ["1", "2", "3", "4", "6", "10"]  # numbers, not text
    assert cells(view, "email")[-1] == "j@x.io"
    assert cells(view, "name")[-1] == "Jo Ng" and cells(view, "inactive")[-1] == "yes"
    assert 'data-column-description="Email address"' in view
    assert "Facet by scored_by (the model), source, stage, grade or inactive." in view
    for facet in ("scored_by", "source", "stage", "grade", "inactive"):  # open by default
        assert f'id="facet-{facet}" data-column="{facet}"' in view, facet

    changes = dump_dom(f"{base}/leadsync/biggest_score_drops", tmp_path / "p3").stdout
    assert cells(changes, "email") == ["j@x.io"]
    assert cells(changes, "change") == ["-47.5"]
    assert cells(changes, "reasons") == ["VP +30; Webinar +5.5"]  # bounds are not reasons
    mqls = dump_dom(f"{base}/leadsync/mqls_this_week", tmp_path / "p4").stdout
    assert cells(mqls, "contact_id") == ["10"] and cells(mqls, "new_total") == ["35.0"]

    os.killpg(server.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches both processes
    out, _ = server.communicate(timeout=10)
    assert out.startswith(f"Browsing {tmp_path / 'leadsync.db'} with Datasette at {base}/ ")


def test_browse_binds_loopback_only_and_explains_a_missing_cache(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "browse", "--no-open"])
    assert (result.exit_code, result.output) == (
        2, f"Error: no cache at {tmp_path / 'none.db'}; run `leadsync pull` first (or pass --db)\n")
    assert not (tmp_path / "none.db").exists()
    from flows.browse import datasette_command

    command = datasette_command("l.db", "m.json", port=8123, open_browser=False)
    assert command[command.index("--host") + 1] == "127.0.0.1" and "--open" not in command
    assert "--open" in datasette_command("l.db", "m.json", port=8123, open_browser=True)
    tables = metadata("leadsync")["databases"]["leadsync"]["tables"]
    assert all(tables[name] == {"hidden": True} for name in HIDDEN)
    assert json.dumps(metadata("x"))  # Datasette reads it as JSON


def test_contacts_view_has_a_row_per_contact_and_model(tmp_path):
    cache = build(tmp_path / "views.db")
    add_contact(cache, "10", email="j@x.io")
    add_contact(cache, "11", email="k@x.io")
    with cache.transaction() as conn:
        for model, total in (("eu", 35), ("next", 50)):
            conn.execute("INSERT INTO scores (contact_id, model, model_name, model_version, "
                         "as_of, fit, engagement, total, grade, scored_at) VALUES "
                         "('10', ?, 'starter', '1', '2026-11-02', 30, 5, ?, 'B2', '2026-11-02')",
                         (model, total))
    rows = cache.conn.execute("SELECT contact_id, scored_by, score FROM contacts_view "
                              "WHERE contact_id IN (10, 11) ORDER BY contact_id, scored_by"
                              ).fetchall()
    assert rows == [(10, "eu", 35.0), (10, "next", 50.0), (11, None, None)]
    cache.close()
