"""Benchmark the webhook path: ack latency under load, and event-to-write-back latency.

Three processes on loopback, as in production: the sandbox (HubSpot), `leadsync serve`
(receiver + worker, the real CLI) and this script, which primes the cache (setup, pull,
score, push) and then acts as HubSpot's sender.

1. Event to write-back: a demo request on a contact in the sandbox → its signed emitter →
   receiver → inbox → worker (batch read, rescore, push) → the sandbox holds the contact's
   new leadsync_score. Timed from the demo request to the first read that shows the value.
2. Ack latency: 100-event batches at a fixed rate (default 20/s, open loop, several sender
   threads like HubSpot's concurrent deliveries), each v3-signed, timed from send to the 204.
   Run three ways: `serve` with its worker thread (the default), `serve --no-worker` with
   nothing draining, and `serve --no-worker` beside a `leadsync worker` process.

    .venv/bin/python bench/webhooks.py [--contacts 1000] [--rate 20] [--seconds 15]
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import requests

ROOT = os.path.join(os.path.dirname(__file__), "..")
# ROOT first: this script's own directory (where sandbox_process lives) would otherwise make
# `import webhooks` import this file instead of the package.
sys.path.insert(0, ROOT)

from sandbox_process import sandbox_process  # noqa: E402

from connector.client import HubSpot  # noqa: E402
from connector.ratelimit import Budget, Limiter  # noqa: E402
from flows.sync import run_setup, run_sync  # noqa: E402
from foundation.settings import Settings  # noqa: E402
from webhooks.signature import sign_v3, timestamp_ms  # noqa: E402

TOKEN = "bench-token"
SECRET = "bench-client-secret"
CANDIDATES = """
    SELECT s.contact_id FROM scores s JOIN contacts c ON c.id = s.contact_id
    WHERE s.engagement <= 35 AND s.fit >= 0 AND s.total <= 70 AND c.archived = 0
      AND s.reasons NOT LIKE '%Demo request%'
    ORDER BY CAST(s.contact_id AS INTEGER)"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def leadsync(args: list[str], db: str, base_url: str, workdir: str, log_name: str,
             ready: str) -> subprocess.Popen:
    """Start a leadsync command (the real CLI); returns once it printed `ready`."""
    env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONUNBUFFERED": "1",
           "HUBSPOT_CLIENT_SECRET": SECRET, "HUBSPOT_ACCESS_TOKEN": TOKEN,
           "LEADSYNC_BASE_URL": base_url}
    env.pop("LEADSYNC_DB", None)
    log = open(os.path.join(workdir, log_name), "w")
    process = subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", "--db", db, *args],
                               cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    log.close()
    banner = process.stdout.readline()
    if not banner.startswith(ready):
        raise RuntimeError(f"leadsync {args[0]} did not start: {banner!r}")
    process.banner = banner  # type: ignore[attr-defined]
    return process


def start_serve(db: str, base_url: str, workdir: str, *,
                worker: bool) -> tuple[subprocess.Popen, str]:
    process = leadsync(["serve", "--port", "0", *([] if worker else ["--no-worker"])], db,
                       base_url, workdir, f"serve-{'worker' if worker else 'alone'}.log",
                       "Listening on ")
    return process, process.banner.split()[2]  # type: ignore[attr-defined]


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()


# ---- 1. event to write-back ------------------------------------------------------------------

def event_to_write_back(base_url: str, hook: str, contacts: list[str]) -> list[float]:
    """Seconds from each demo request until the sandbox holds the contact's new score."""
    requests.post(f"{base_url}/_sandbox/webhooks", json={
        "url": hook, "client_secret": SECRET, "batch_window_ms": 50}, timeout=10).raise_for_status()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    took = []
    with requests.Session() as session:
        for contact in contacts:
            url = f"{base_url}/crm/v3/objects/contacts/{contact}?properties=leadsync_score"
            old = session.get(url, headers=headers, timeout=10).json()["properties"].get(
                "leadsync_score")
            started = time.perf_counter()
            session.post(f"{base_url}/_sandbox/contacts/{contact}/demo-request",
                         timeout=10).raise_for_status()
            while True:
                now = session.get(url, headers=headers, timeout=10).json()["properties"].get(
                    "leadsync_score")
                if now != old:
                    took.append(time.perf_counter() - started)
                    break
                if time.perf_counter() - started > 30:
                    raise RuntimeError(f"contact {contact}: no write-back within 30 s")
                time.sleep(0.005)
            time.sleep(1.0)  # echoes settle and the worker goes idle: each request starts cold
    requests.delete(f"{base_url}/_sandbox/webhooks", timeout=10)
    return took


# ---- 2. ack latency under load ---------------------------------------------------------------

def ack_latency(hook: str, contact_ids: list[str], *, rate: float, seconds: float,
                senders: int) -> tuple[list[float], int, float]:
    """(latencies in s, non-204 answers, worst lateness of a send behind its schedule)."""
    batches = int(rate * seconds)
    event_ids = itertools.count(10_000_000)
    ids = itertools.cycle(contact_ids)
    local = threading.local()
    latencies: list[float] = []
    errors, lateness = [0], [0.0]
    lock = threading.Lock()

    def body() -> bytes:
        base = int(time.time() * 1000)
        events = [{"eventId": next(event_ids), "subscriptionId": 1001, "portalId": 62515,
                   "appId": 54321, "occurredAt": base + n, "subscriptionType":
                   "contact.propertyChange", "attemptNumber": 0, "objectId": int(next(ids)),
                   "changeSource": "CRM", "propertyName": "hs_analytics_num_page_views",
                   "propertyValue": str(n)} for n in range(100)]
        return json.dumps(events, separators=(",", ":")).encode()

    bodies = [body() for _ in range(batches)]  # built up front: the sender's own work stays out
    started = time.perf_counter() + 0.5

    def send(index: int) -> None:
        due = started + index / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        raw = bodies[index]
        stamp = timestamp_ms(datetime.now(timezone.utc))
        headers = {"Content-Type": "application/json", "X-HubSpot-Request-Timestamp": stamp,
                   "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", hook, raw, stamp)}
        sent = time.perf_counter()
        with session.post(hook, data=raw, headers=headers, timeout=10) as response:
            response.content
            took = time.perf_counter() - sent
        with lock:
            latencies.append(took)
            lateness[0] = max(lateness[0], sent - due)
            if response.status_code != 204:
                errors[0] += 1

    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, range(batches)))
    return latencies, errors[0], lateness[0]


def inbox_counts(db: str) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT status, count(*) FROM inbox GROUP BY status"))
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="batches of 100 per second")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--senders", type=int, default=4,
                        help="concurrent sender threads (HubSpot allows 10 per account)")
    parser.add_argument("--demo-requests", type=int, default=20)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="leadsync-bench-webhooks-")
    db = os.path.join(workdir, "leadsync.db")
    print(f"{os.cpu_count()} CPUs; sandbox, leadsync serve and this sender are three processes "
          f"on loopback; files in {workdir}")
    with sandbox_process(contacts=args.contacts, token=TOKEN) as base_url:
        settings = Settings(base_url=base_url)
        # Priming is not what is measured: no rate budget for it.
        client = HubSpot(base_url=base_url, token=TOKEN, concurrency=8,
                         budget=Budget(Limiter(100_000, 10.0), Limiter(1_000, 1.0)))
        run_setup(db, settings, lambda: client)
        run_sync(db, settings, lambda: client, quiet=True)
        conn = sqlite3.connect(db)
        candidates = [r[0] for r in conn.execute(CANDIDATES)]
        live = [r[0] for r in conn.execute("SELECT id FROM contacts WHERE archived = 0 AND "
                                           "merged_into IS NULL")]
        conn.close()
        print(f"primed: {len(live):,} live contacts pulled, scored and pushed")

        process, url = start_serve(db, base_url, workdir, worker=True)
        hook = url + "/webhooks/hubspot"
        try:
            took = event_to_write_back(base_url, hook, candidates[:args.demo_requests])
            print(f"event → write-back ({len(took)} demo requests, one at a time): "
                  f"p50 {statistics.median(took) * 1000:.0f} ms, "
                  f"p90 {percentile(took, 90) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms "
                  f"(target p50 ≤ 2000 ms)")
            report("`serve` with its worker thread draining", hook, live, args)
            print(f"  inbox after the run: {inbox_counts(db)}")
        finally:
            stop(process)
        process, url = start_serve(db, base_url, workdir, worker=False)
        try:
            report("receiver alone (--no-worker, nothing draining)", url + "/webhooks/hubspot",
                   live, args)
            worker = leadsync(["worker"], db, base_url, workdir, "worker.log", "webhook worker on ")
            try:
                report("`serve --no-worker` + `leadsync worker` as its own process",
                       url + "/webhooks/hubspot", live, args)
                print(f"  inbox after the run: {inbox_counts(db)}")
            finally:
                stop(worker)
        finally:
            stop(process)


def report(label: str, hook: str, contact_ids: list[str], args: argparse.Namespace) -> None:
    latencies, errors, late = ack_latency(hook, contact_ids, rate=args.rate, seconds=args.seconds,
                                          senders=args.senders)
    ms = [x * 1000 for x in latencies]
    print(f"ack latency, {label}: {len(ms)} batches of 100 at {args.rate:g}/s for "
          f"{args.seconds:g} s: p50 {statistics.median(ms):.1f} ms, "
          f"p99 {percentile(ms, 99):.1f} ms, "
          f"max {max(ms):.1f} ms, non-204 {errors}, worst send lag {late * 1000:.0f} ms "
          f"(target p99 ≤ 25 ms)")


if __name__ == "__main__":
    main()
