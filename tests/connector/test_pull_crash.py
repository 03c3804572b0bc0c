"""A pull really killed mid-run (SIGKILL) resumes from its last committed page, and ends equal
to the portal although records it had saved changed while it was down."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from ground_truth import assert_cache_matches
from pull_world import ALL, change_during_outage, make_client

from cache.database import open_cache
from connector.pull import pull
from sandbox import Sandbox


def committed_contacts(db: str) -> int:
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            row = conn.execute("SELECT cursor FROM sync_state WHERE stream = 'contacts'").fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0
    return json.loads(row[0]).get("done", 0) if row and row[0] else 0


def test_killed_pull_resumes_and_ends_equal_to_the_portal(tmp_path):
    db = str(tmp_path / "leadsync.db")
    with Sandbox(contacts=1500, seed=5, latency_ms=40) as sb:
        env = {**os.environ, "HUBSPOT_ACCESS_TOKEN": sb.token}
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "--db", db, "--base-url", sb.base_url, "pull", "--quiet"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=os.getcwd())
        deadline = time.monotonic() + 30
        while committed_contacts(db) < 500 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, "the pull finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        done_before = committed_contacts(db)
        assert 500 <= done_before < 1500

        sb.latency_ms = 0
        cache = open_cache(db)
        change_during_outage(sb, cache)  # records on pages saved before the kill
        sb.reset_stats()
        assert cache.conn.execute("SELECT outcome FROM runs").fetchall() == [("running",)]
        summary = pull(cache, make_client(sb), ALL)
        assert summary.modes["contacts"] == "full"
        assert_cache_matches(cache, sb, ALL)
        # resumed after the last committed page: the pages before it were not fetched again
        live = sum(1 for r in sb.portal.truth("contacts") if not r["archived"] and not r["mergedInto"])
        pages_left = -(-(live - done_before) // 100)  # (the created contact's id comes last)
        archived_pages = 1
        listed = sb.stats()["by_route"]["GET /crm/v3/objects/contacts"]
        # a retried request (a keep-alive connection the server closed) is the only extra
        assert pages_left + archived_pages <= listed <= pages_left + archived_pages + summary.retries
        assert summary.streams["contacts"].new == live - done_before + 1  # one created meanwhile
        cache.close()
