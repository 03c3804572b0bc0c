"""Durability: `leadsync serve` (receiver + worker) is SIGKILLed after its 204s and before
its worker finished; restarted, it processes every event, once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from webhook_world import SECRET, WebhookWorld

ROOT = Path(__file__).resolve().parents[2]
BATCH_READ = "/crm/v3/objects/contacts/batch/read"


@pytest.fixture
def world(tmp_path):
    w = WebhookWorld.primed(str(tmp_path / "leadsync.db"))
    yield w
    w.close()


def start_serve(world: WebhookWorld, cwd: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
           "HUBSPOT_CLIENT_SECRET": SECRET, "HUBSPOT_ACCESS_TOKEN": world.sb.token,
           "LEADSYNC_BASE_URL": world.sb.base_url}
    env.pop("LEADSYNC_DB", None)
    process = subprocess.Popen(
        [sys.executable, "-c", "import cli; cli.main()", "--db", world.db_path, "serve",
         "--port", "0"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    banner = process.stdout.readline()
    assert banner.startswith("Listening on http://127.0.0.1:"), banner
    return process, banner.split()[2] + "/webhooks/hubspot"


def stop(process: subprocess.Popen, sig: int) -> str:
    if process.poll() is None:
        process.send_signal(sig)
    _, err = process.communicate(timeout=15)
    return err


def test_events_acknowledged_before_a_sigkill_are_all_processed_once_after_restart(world, tmp_path):
    contacts = world.candidates()[:3]
    before = {c: world.score(c)[0] for c in contacts}
    # The worker's batch read stalls, so the kill lands after the 204s, mid-batch.
    world.sb.faults.add(delay_ms=3000, times=None, path_prefix=BATCH_READ)
    process, url = start_serve(world, tmp_path)
    try:
        world.emit_to(url)
        world.sb.reset_stats()
        for contact in contacts:
            world.sb.portal.demo_request(contact)
        assert world.sb.webhooks.wait_idle(10)
        assert {a.status for a in world.sb.webhooks.attempts} == {204}
        filed = world.query("SELECT count(*) FROM inbox")[0][0]
        # The worker's window passes, it claims everything, and stalls in its batch read.
        world.wait_for(lambda: world.query(
            "SELECT count(*) FROM inbox WHERE status = 'pending' "
            "AND next_attempt_at > received_at")[0][0] == filed, timeout=3)
    finally:
        stop(process, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    assert filed >= 9  # three or five property changes per demo request
    assert world.query("SELECT DISTINCT status FROM inbox") == [("pending",)]
    assert world.write_calls() == 0

    world.sb.faults.clear()
    process, url = start_serve(world, tmp_path)
    try:
        world.wait_for(lambda: world.query("SELECT DISTINCT status FROM inbox") == [("done",)],
                       timeout=10)
        for contact in contacts:
            world.wait_for(lambda: world.hubspot(contact).get("lifecyclestage")
                           == "marketingqualifiedlead")
    finally:
        err = stop(process, signal.SIGINT)
    assert process.returncode == 130, err  # stopped by Ctrl-C
    assert f"released {filed} events a stopped worker had claimed" in err
    for contact in contacts:
        total = world.score(contact)[0]
        assert world.history(contact) == [(before[contact], total, "lead",
                                           "marketingqualifiedlead")]
        assert world.hubspot(contact)["leadsync_score"] == f"{total:g}"
    # Written once, and leadsync's own writes did not come back as another push.
    assert world.write_calls() == 1
