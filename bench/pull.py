"""Benchmark `leadsync pull` against a sandbox with real latency and a real rate limit.

Prints, in one run: API calls made vs the minimum for the data, wall time vs the time the
rate limit alone forces and vs the least any schedule needs (rate limit and page chains
together), and peak memory at two portal sizes (streaming keeps it flat). At the larger size
it then edits `--edits` contacts and runs an incremental pull, printing its calls by kind
next to the calls the edits themselves need (a search per stream and the edited contacts'
association reads; target <= 2x) and next to the figure before the rolling sweep and audit.

    .venv/bin/python bench/pull.py [--contacts 10000] [--tier 100] [--latency-ms 250] [--edits 30]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

STREAMS = ("contacts", "companies", "calls", "emails", "meetings", "notes", "tasks")
# Issue 16's measurement of an incremental pull at 40,000 contacts with 30 edits, before the
# archived sweep was spread over runs: every run re-listed every archived record.
BEFORE_CALLS, BEFORE_ARCHIVED_PAGES = 58, 46


def child(args: argparse.Namespace) -> None:
    """One full pull in a fresh process, so its peak memory is its own."""
    from cache.database import open_cache
    from connector.client import connect
    from connector.pull import pull
    from mappings.streams import select

    with tempfile.TemporaryDirectory() as tmp:
        cache = open_cache(os.path.join(tmp, "bench.db"))
        client = connect(base_url=args.base_url, token="bench-token", tier=args.tier,
                         concurrency=args.concurrency)
        tracemalloc.start()
        started = time.monotonic()
        summary = pull(cache, client, select(STREAMS), concurrency=args.concurrency)
        wall = time.monotonic() - started
        heap_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        incremental = edit_and_pull(cache, args) if args.edits else None
        cache.close()
    print(json.dumps({"calls": summary.api_calls, "association_calls": summary.association_calls,
                      "rate_limited": summary.rate_limited, "wall": wall,
                      "heap_mb": heap_peak / 2**20,
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "incremental": incremental}))


def edit_and_pull(cache, args: argparse.Namespace) -> dict:
    """Edit `args.edits` contacts as a HubSpot user would, then one incremental pull: its
    calls by kind, from the sandbox's own request counts."""
    import requests

    from connector.client import connect
    from connector.pull import pull
    from mappings.streams import select

    ids = [r[0] for r in cache.conn.execute(
        "SELECT id FROM contacts WHERE archived = 0 AND merged_into IS NULL "
        "ORDER BY CAST(id AS INTEGER) LIMIT ?", (args.edits,))]
    for contact in ids:
        requests.patch(f"{args.base_url}/_sandbox/objects/contacts/{contact}", timeout=30,
                       json={"properties": {"jobtitle": f"Bench edit {contact}"}}).raise_for_status()
    requests.post(f"{args.base_url}/_sandbox/stats/reset", timeout=30).raise_for_status()
    client = connect(base_url=args.base_url, token="bench-token", tier=args.tier,
                     concurrency=args.concurrency)
    started = time.monotonic()
    summary = pull(cache, client, select(STREAMS), concurrency=args.concurrency)
    wall = time.monotonic() - started
    routes = requests.get(f"{args.base_url}/_sandbox/stats", timeout=30).json()["by_route"]
    kinds = {"search": 0, "archived pages": 0, "association reads": 0, "other": 0}
    for route, count in routes.items():
        method, path = route.split(" ", 1)
        if path.endswith("/search"):
            kinds["search"] += count
        elif method == "GET" and path.count("/") == 4:  # GET /crm/v3/objects/{type}
            kinds["archived pages"] += count
        elif "/associations/" in path:
            kinds["association reads"] += count
        else:
            kinds["other"] += count
    return {"calls": summary.api_calls, "server_calls": sum(routes.values()), "kinds": kinds,
            "edited": summary.streams["contacts"].changed, "audited": summary.audit.queued,
            "wall": wall, "rate_limited": summary.rate_limited}


def measure(contacts: int, args: argparse.Namespace, edits: int = 0) -> dict:
    from sandbox_process import sandbox_process, truth_counts

    with sandbox_process(contacts=contacts, rate_limit=args.tier, latency_ms=args.latency_ms) as url:
        counts = {s: truth_counts(url, s) for s in STREAMS}
        out = subprocess.run([sys.executable, __file__, "--child", "--base-url", url,
                              "--tier", str(args.tier), "--concurrency", str(args.concurrency),
                              "--edits", str(edits)],
                             capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    pages = sum(math.ceil(live / 100) + math.ceil(archived / 100) for live, archived in counts.values())
    association = math.ceil(counts["contacts"][0] / 1000) * (len(STREAMS) - 1)
    result["minimum"] = pages + association
    result["records"] = sum(live + archived for live, archived in counts.values())
    # A sliding window of `tier` requests per 10 s lets call i start at floor(i / tier) * 10 s.
    result["bound"] = math.floor((result["calls"] - 1) / args.tier) * 10 + args.latency_ms / 1000
    longest = max(math.ceil(live / 100) for live, _ in counts.values())
    result["chain"] = longest * args.latency_ms / 1000
    result["lower"] = schedule_bound(counts, args.tier, args.latency_ms)
    return result


def schedule_bound(counts: dict[str, tuple[int, int]], tier: int, latency_ms: int,
                   interval_ms: int = 10_000) -> float:
    """Seconds no schedule of list pages, archived sweeps and 1,000-id association reads can
    beat, given (live, archived) per stream: the rate limit and the page chains together.

    Proof sketch. Time each request by when the server counts it, minus the latency L, so the
    first can be at 0 and the run lasts at least the last one + L. Then (1) a listing's pages
    are at least L apart (each needs the cursor the previous one returned) and so are an
    archived sweep's; (2) any `interval` holds at most `tier` requests; (3) an association read
    at time s carries only contacts listed by then, at most 100 * floor(s / L) of them.
    Split the run [0, E] at a < a + k*interval <= E into a head [0, a], k windows (at most
    k*tier requests) and a tail of length d = E - a - k*interval. A chain of n requests fits
    at most floor(a/L) + 1 of them in the head and ceil(d/L) in the tail, the rest must be in
    the windows; with no tail (d = 0) the reads of every contact not listed by a must be too,
    ceil(unlisted / 1000) per target type. If for some (a, k) that is more than k*tier, the
    run cannot end by E + L. Checks: a just below each multiple of L (the tightest point of
    each step) and a = E - k*interval. Starting from the longest chain and the plain rate-limit
    bound, E grows in 10 ms steps while the next E fails a check.
    """
    L, W = latency_ms, interval_ms
    chains = [math.ceil(live / 100) for live, _ in counts.values()]
    chains += [max(1, math.ceil(archived / 100)) for _, archived in counts.values()]
    contacts, targets = counts["contacts"][0], len(counts) - 1

    def possible(end: int) -> bool:
        k = 1
        while k * W <= end:
            for j in range((end - k * W) // L):  # a just below (j + 1) * L, tail d > 0
                outside = j + 1 + (end - (j + 1) * L - k * W) // L + 1
                if sum(max(n - outside, 0) for n in chains) > k * tier:
                    return False
            a = end - k * W  # no tail: unlisted contacts' reads are in the windows too
            unlisted = max(contacts - 100 * (a // L), 0)
            if (sum(max(n - a // L - 1, 0) for n in chains)
                    + targets * math.ceil(unlisted / 1000)) > k * tier:
                return False
            k += 1
        return True

    minimum = sum(chains) + targets * math.ceil(contacts / 1000)
    if L <= 0:
        return (minimum - 1) // tier * W / 1000
    end = max((max(chains) - 1) * L, (minimum - 1) // tier * W)
    while not possible(end + 10):
        end += 10  # impossible: the run ends after end + L
    return (end + L) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=10000)
    parser.add_argument("--tier", type=int, default=100, help="requests per 10 s (sandbox and client)")
    parser.add_argument("--latency-ms", type=int, default=250)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--edits", type=int, default=30,
                        help="contacts edited before the incremental pull at the larger size (0: none)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    print(f"leadsync pull: full pull of 7 streams, sandbox in its own process, "
          f"{args.latency_ms} ms latency, {args.tier} requests / 10 s, concurrency {args.concurrency}")
    print(f"{'contacts':>9} {'records':>8} {'calls':>6} {'minimum':>8} {'ratio':>6} "
          f"{'wall s':>7} {'bound s':>8} {'ratio':>6} {'chain s':>8} {'lower s':>8} {'ratio':>6} "
          f"{'429s':>5} {'heap MB':>8} {'RSS MB':>7}")
    incremental = None
    for contacts in (args.contacts // 4, args.contacts):
        r = measure(contacts, args, args.edits if contacts == args.contacts else 0)
        incremental = r.get("incremental") or incremental
        print(f"{contacts:>9,} {r['records']:>8,} {r['calls']:>6} {r['minimum']:>8} "
              f"{r['calls'] / r['minimum']:>6.3f} {r['wall']:>7.1f} {r['bound']:>8.1f} "
              f"{r['wall'] / r['bound']:>6.3f} {r['chain']:>8.1f} {r['lower']:>8.1f} "
              f"{r['wall'] / r['lower']:>6.3f} {r['rate_limited']:>5} "
              f"{r['heap_mb']:>8.1f} {r['maxrss_mb']:>7.1f}")
    print("targets: calls <= 1.05 x minimum; wall <= 1.15 x rate-limit bound; memory flat in size")
    print("chain s = the longest stream's pages one after another at this latency: list pages are "
          "sequential, so no schedule beats max(bound, chain)")
    print("lower s = rate limit and page chains together (schedule_bound): no schedule of these "
          "list pages, sweeps and association reads ends sooner")
    print("heap MB = peak Python heap during the pull (tracemalloc); RSS adds SQLite's page cache")
    if incremental:
        print_incremental(incremental, args)


def print_incremental(r: dict, args: argparse.Namespace) -> None:
    """The incremental pull after `args.edits` edits, next to what the edits need."""
    targets = len(STREAMS) - 1
    # Any incremental pull asks each stream what changed (one search page each, 200 results
    # a page); the edited contacts' links are read 1,000 ids a call per target type.
    needed = (math.ceil(args.edits / 200) + len(STREAMS) - 1
              + math.ceil(args.edits / 1000) * targets)
    kinds = r["kinds"]
    print()
    print(f"incremental pull at {args.contacts:,} contacts after {args.edits} edited contacts "
          f"({r['edited']} seen as changed, links of {r['audited']:,} more audited):")
    print(f"  calls {r['calls']} (server counted {r['server_calls']}): "
          + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    print(f"  the edits need {needed} (a search per stream, "
          f"{math.ceil(args.edits / 1000) * targets} association reads): "
          f"ratio {r['calls'] / needed:.2f} (target <= 2.00)")
    print(f"  before this change (issue 16, 40,000 contacts, 30 edits): {BEFORE_CALLS} calls, "
          f"{BEFORE_ARCHIVED_PAGES} of them archived list pages; now {kinds['archived pages']} "
          f"archived pages ({len(STREAMS)} streams x archive_sweep_pages 1)")
    print(f"  wall {r['wall']:.1f} s, {r['rate_limited']} rate-limited")


if __name__ == "__main__":
    main()
