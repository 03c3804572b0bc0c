"""A push process really killed between sending a batch and recording its answer."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from writeback_world import World, make_client

from cache import push_dirty
from cache.database import open_cache
from sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]

# The child pushes one batch at a time and SIGKILLs itself once the first batch's HTTP answer
# is in, before the answer is recorded: the worst moment for the outbox.
CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path[:0] = [{root!r}, {tests!r}]
    from cache.database import open_cache
    from connector.client import HubSpot
    from connector.push import push
    from connector.ratelimit import Budget, Limiter
    from writeback_world import SETTINGS
    from mappings.writeback import LifecyclePolicy

    client = HubSpot(base_url={url!r}, token={token!r}, budget=Budget(Limiter(190, 10.0), Limiter(5, 1.0)),
                     concurrency=1)
    cache = open_cache({db!r})
    def die(batch, contacts):
        os.kill(os.getpid(), signal.SIGKILL)
    push(cache, client, SETTINGS.write_back, LifecyclePolicy(), concurrency=1, run_id=None,
         after_send=die if {hook!r} else None)
""")


def test_killed_between_send_and_record_the_next_push_completes(tmp_path):
    db = tmp_path / "leadsync.db"
    with Sandbox(contacts=260, seed=9) as sb:
        cache = open_cache(db)
        try:
            world = World(sb, cache, make_client(sb))
            world.setup()
            world.pull()
            ids = world.live_ids()
            for index, contact_id in enumerate(ids):
                world.score(contact_id, total=float(index), stage="lead")
            changed = len(ids)
            sb.reset_stats()
            code = CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), url=sb.base_url,
                                token=sb.token, db=str(db), hook=True)
            child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                   timeout=60)
            assert child.returncode == -signal.SIGKILL, child.stderr
            assert world.write_calls() == 1  # the first batch reached HubSpot …
            # … but its answer was never recorded; later batches were not enqueued yet
            assert [row[2] for row in world.outbox()] == ["sent"] * 100
            assert cache.conn.execute("SELECT COUNT(*) FROM pushed").fetchone() == (0,)
            # the sent batch's dirty marks went with its outbox rows; the rest are still marked
            assert push_dirty.marked(cache.conn) == changed - 100

            sb.reset_stats()
            summary = world.push()
            assert len(summary.backlog.resend) == 100
            assert summary.contacts_written == changed and summary.failed == []
            # only the batch in flight is written twice: the minimum number of calls again
            assert world.write_calls() == -(-changed // 100)
            assert {row[2] for row in world.outbox()} == {"done"}
            world.assert_hubspot_has_desired_values()
            assert push_dirty.marked(cache.conn) == 0
            sb.reset_stats()
            assert world.push().write_calls == 0
        finally:
            cache.close()


def test_killed_while_a_batch_is_in_flight_the_next_push_completes(tmp_path):
    db = tmp_path / "leadsync.db"
    with Sandbox(contacts=150, seed=10) as sb:
        cache = open_cache(db)
        try:
            world = World(sb, cache, make_client(sb))
            world.setup()
            world.pull()
            for index, contact_id in enumerate(world.live_ids()):
                world.score(contact_id, total=float(index) + 0.5)
            sb.latency_ms = 700
            code = CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), url=sb.base_url,
                                token=sb.token, db=str(db), hook=False)
            child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and child.poll() is None:
                    if cache.conn.execute("SELECT 1 FROM outbox WHERE status = 'sent'").fetchone():
                        break
                    time.sleep(0.02)
                os.kill(child.pid, signal.SIGKILL)
            finally:
                child.wait(timeout=30)
                child.stderr.close()
            assert child.returncode == -signal.SIGKILL
            assert "sent" in {row[2] for row in world.outbox()}
            sb.latency_ms = 0
            summary = world.push()
            assert summary.failed == [] and {row[2] for row in world.outbox()} == {"done"}
            world.assert_hubspot_has_desired_values()
        finally:
            cache.close()
