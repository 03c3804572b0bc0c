"""`leadsync pull` against the open-source HubSpot extractors, on the same sandbox, in one run.

    .venv/bin/python bench/peers.py [--contacts 2500] [--json out.json] [--timeout 1800]

Peers, each pinned and installed once into its own virtual environment under `bench/.peers/`
(git-ignored; never touched by `make test`): meltano-tap-hubspot 0.10.1, tap-hubspot 4.5.0
(singer-io) and airbyte-source-hubspot 5.7.0.

Each tool gets a fresh sandbox in its own process (seed 7, 250 ms latency, 100 requests /
10 s, as bench/pull.py), extracts contacts, companies, the five engagement types and the
contact→company links (as each tool can), then 30 records are edited (10 contacts,
5 companies, 3 of each engagement type) and it runs again from its own saved state
(singer STATE / airbyte per-stream state / leadsync's cache).

Pointing a peer at the sandbox: none of them takes a base URL as config, so each runs under
`bench/peer_redirect.py`, which wraps one function, `requests.adapters.HTTPAdapter.send`, to
send `https://api.hubapi.com/...` to the sandbox instead and refuse any other host. Nothing
else of the peer is patched; configs are the documented ones (a private-app token; no
`start_date` for meltano, so its first run lists rather than searches; tap-hubspot and airbyte
require one and get 2000-01-01). tap-hubspot's catalog comes from its own `--discover` with
every field selected. airbyte is given a configured catalog directly, because its `discover`
reads the property lists of every stream and stops at the first 403 (deals, which this
portal's token may not read).

Records are checked against the sandbox's truth (`/_sandbox/truth`): per stream, the
distinct ids a tool emitted (the links: distinct contact→company pairs) against the live
records; `missing` and `extra` are set differences, `dups` are rows repeating a key the tool
had already emitted (its own primary key: the id, or for links the pair plus the association
type when it emits one). After the edits, the truth is the 30 edited records, so `extra`
counts unchanged records sent again. tap-hubspot's single engagements stream is split into
the five types by id. Requests and 429s are the sandbox's own counts. The bound is what the
rate limit alone forces on the requests made: non-search requests at 100 per 10 s, searches at
5 per s (their own limit), plus one latency; `ratio` = wall time / bound. Peak RSS is the
tool's process (its interpreter included; /proc VmHWM). A peer that fails or times out gets one line
saying why.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

PEERS_DIR = HERE / ".peers"
TOKEN = "bench-token"
TIER, LATENCY_MS, SEED = 100, 250, 7
STREAMS = ("contacts", "companies", "calls", "emails", "meetings", "notes", "tasks")
LINKS = "contact→company"
ID_BASES = {"calls": 20_000_001, "emails": 30_000_001, "meetings": 40_000_001,
            "notes": 50_000_001, "tasks": 60_000_001, "end": 70_000_001}
EDITS = {"contacts": (10, "jobtitle"), "companies": (5, "name"), "calls": (3, "hs_call_title"),
         "emails": (3, "hs_email_subject"), "meetings": (3, "hs_meeting_title"),
         "notes": (3, "hs_note_body"), "tasks": (3, "hs_task_subject")}
START_DATE = "2000-01-01T00:00:00Z"


@dataclass
class Emitted:
    """What one run of a tool handed over: keys per stream, in emission order."""

    keys: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    ids: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    state: Any = None

    def add(self, stream: str, record_id: Any, key: Any = None) -> None:
        self.ids[stream].append(str(record_id))
        self.keys[stream].append(key if key is not None else str(record_id))


@dataclass
class Run:
    tool: str
    contacts: int
    phase: str                     # "full" | "incremental"
    wall: float = 0.0
    requests: int = 0
    rate_limited: int = 0
    searches: int = 0
    rss_mb: float | None = None
    streams: dict[str, dict[str, int]] = field(default_factory=dict)
    error: str | None = None


# ---- the peers ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Peer:
    name: str
    spec: str
    entry: str
    configure: Callable[[Path], list[str]]                 # writes files; argv for a full run
    incremental: Callable[[Path, Any], list[str]]          # argv given the saved state
    parse: Callable[[Iterable[str]], Emitted]

    @property
    def venv(self) -> Path:
        return PEERS_DIR / self.spec.replace("==", "-")


def _write(path: Path, body: Any) -> str:
    path.write_text(json.dumps(body))
    return str(path)


def _singer_lines(lines: Iterable[str]) -> Iterable[dict]:
    for line in lines:
        if line.startswith("{"):
            yield json.loads(line)


# meltano-tap-hubspot: singer-sdk catalog from its own discovery, the seven streams and its
# contact association streams selected.
MELTANO_STREAMS = set(STREAMS) | {f"contacts_{t}_associations" for t in STREAMS[1:]}


def meltano_configure(work: Path) -> list[str]:
    config = _write(work / "config.json", {
        "access_token": TOKEN, "associations": {"contacts": list(STREAMS[1:])}})
    return ["--config", config, "--catalog", str(work / "catalog.json")]


def meltano_catalog(discovered: dict) -> dict:
    streams = [s for s in discovered["streams"] if s["tap_stream_id"] in MELTANO_STREAMS]
    for stream in streams:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = True
    return {"streams": streams}


def meltano_parse(lines: Iterable[str]) -> Emitted:
    out = Emitted()
    for message in _singer_lines(lines):
        if message["type"] == "STATE":
            out.state = message["value"]
        elif message["type"] == "RECORD":
            stream, record = message["stream"], message["record"]
            if stream in STREAMS:
                out.add(stream, record["id"])
            elif stream == "contacts_companies_associations":
                out.add(LINKS, f"{record['from_id']}:{record['to_id']}",
                        (record["from_id"], record["to_id"], record["association_type_id"]))
    return out


# tap-hubspot (singer-io): catalog from its own --discover, every field selected.
SINGER_STREAMS = {"contacts", "companies", "contacts_by_company", "engagements"}


def singer_configure(work: Path) -> list[str]:
    config = _write(work / "config.json", {"api_key": TOKEN, "start_date": START_DATE})
    return ["--config", config, "--properties", str(work / "catalog.json")]


def singer_catalog(discovered: dict) -> dict:
    streams = [s for s in discovered["streams"] if s["tap_stream_id"] in SINGER_STREAMS]
    for stream in streams:
        for entry in stream["metadata"]:
            entry["metadata"]["selected"] = True
    return {"streams": streams}


def engagement_type(record_id: int) -> str:
    bounds = list(ID_BASES.items())
    for (kind, low), (_, high) in zip(bounds, bounds[1:]):
        if low <= record_id < high:
            return kind
    return "unknown engagement"


def singer_parse(lines: Iterable[str]) -> Emitted:
    out = Emitted()
    for message in _singer_lines(lines):
        if message["type"] == "STATE":
            out.state = message["value"]
        elif message["type"] == "RECORD":
            stream, record = message["stream"], message["record"]
            if stream == "contacts":
                out.add("contacts", record["id"])
            elif stream == "companies":
                out.add("companies", record["companyId"])
            elif stream == "engagements":
                out.add(engagement_type(record["engagement_id"]), record["engagement_id"])
            elif stream == "contacts_by_company":
                pair = f"{record['contact-id']}:{record['company-id']}"
                out.add(LINKS, pair, pair)
    return out


# airbyte-source-hubspot: a configured catalog written here (see the module docstring).
AIRBYTE_STREAMS = {"contacts": "contacts", "companies": "companies",
                   **{f"engagements_{t}": t for t in STREAMS[2:]}}


def airbyte_configure(work: Path) -> list[str]:
    config = _write(work / "config.json", {
        "credentials": {"credentials_title": "Private App Credentials", "access_token": TOKEN},
        "start_date": START_DATE})
    catalog = _write(work / "catalog.json", {"streams": [
        {"stream": {"name": name, "json_schema": {"type": "object", "properties": {}},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                    "source_defined_cursor": True, "default_cursor_field": ["updatedAt"],
                    "source_defined_primary_key": [["id"]]},
         "sync_mode": "incremental", "cursor_field": ["updatedAt"],
         "destination_sync_mode": "append"} for name in AIRBYTE_STREAMS]})
    return ["read", "--config", config, "--catalog", catalog]


def airbyte_parse(lines: Iterable[str]) -> Emitted:
    out = Emitted()
    states: dict[str, Any] = {}
    for message in _singer_lines(lines):
        if message["type"] == "STATE" and message["state"].get("type") == "STREAM":
            stream = message["state"]["stream"]
            states[stream["stream_descriptor"]["name"]] = {"type": "STREAM", "stream": stream}
        elif message["type"] == "RECORD":
            record = message["record"]
            stream, data = AIRBYTE_STREAMS.get(record["stream"]), record["data"]
            if stream is None:
                continue
            out.add(stream, data["id"])
            if stream == "contacts":
                for company in data.get("companies") or []:
                    out.add(LINKS, f"{data['id']}:{company}")
        elif message["type"] == "TRACE" and message["trace"]["type"] == "ERROR":
            out.state = {"error": message["trace"]["error"]["message"]}
    if states and not (isinstance(out.state, dict) and "error" in out.state):
        out.state = list(states.values())
    elif states:
        out.state = {**out.state, "states": list(states.values())}
    return out


def airbyte_incremental(work: Path, state: Any) -> list[str]:
    states = state.get("states", []) if isinstance(state, dict) else state
    return airbyte_configure(work) + ["--state", _write(work / "state.json", states)]


def singer_style_incremental(work: Path, state: Any, base: Callable[[Path], list[str]]
                             ) -> list[str]:
    return base(work) + ["--state", _write(work / "state.json", state or {})]


PEERS = (
    Peer("meltano-tap-hubspot 0.10.1", "meltano-tap-hubspot==0.10.1", "tap-hubspot",
         meltano_configure, lambda w, s: singer_style_incremental(w, s, meltano_configure),
         meltano_parse),
    Peer("tap-hubspot 4.5.0", "tap-hubspot==4.5.0", "tap-hubspot",
         singer_configure, lambda w, s: singer_style_incremental(w, s, singer_configure),
         singer_parse),
    Peer("airbyte-source-hubspot 5.7.0", "airbyte-source-hubspot==5.7.0", "source-hubspot",
         airbyte_configure, airbyte_incremental, airbyte_parse),
)
DISCOVER = {"meltano-tap-hubspot 0.10.1": (["--discover"], meltano_catalog),
            "tap-hubspot 4.5.0": (["--discover"], singer_catalog)}


def ensure_installed(peer: Peer) -> str | None:
    """Create the peer's virtual environment once; None when ready, else why not."""
    marker = peer.venv / "installed.txt"
    if marker.exists():
        return None
    PEERS_DIR.mkdir(exist_ok=True)
    python = peer.venv / "bin" / "python"
    steps = [[sys.executable, "-m", "venv", str(peer.venv)],
             [str(python), "-m", "pip", "install", "-q", peer.spec],
             [str(python), "-m", "pip", "freeze"]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            return f"pip install {peer.spec} failed: {done.stderr.strip().splitlines()[-1:]}"
    marker.write_text(done.stdout)
    return None


# ---- running one tool against one sandbox ----------------------------------------------------

def sandbox_stats(url: str) -> dict:
    return requests.get(f"{url}/_sandbox/stats", timeout=30).json()


def run_peer(peer: Peer, url: str, work: Path, argv: list[str], run: Run, timeout: float
             ) -> Emitted:
    """One run under peer_redirect; stdout parsed as it streams, so memory stays flat."""
    requests.post(f"{url}/_sandbox/stats/reset", timeout=30)
    rss_file = work / "rss.txt"
    rss_file.unlink(missing_ok=True)
    command = [str(peer.venv / "bin" / "python"), str(HERE / "peer_redirect.py"),
               "--base-url", url, "--rss-file", str(rss_file), "--entry", peer.entry, "--",
               *argv]
    started = time.monotonic()
    with open(work / "stderr.txt", "w") as err, open(work / "stdout.jsonl", "w+") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=err, cwd=work)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            run.error = f"timed out after {timeout:.0f} s"
            code = None
        run.wall = time.monotonic() - started
        out.seek(0)
        emitted = peer.parse(out)
    stats = sandbox_stats(url)
    run.requests, run.rate_limited = stats["total"], stats["rate_limited"]
    run.searches = sum(n for route, n in stats["by_route"].items() if route.endswith("/search"))
    if rss_file.exists():
        run.rss_mb = int(rss_file.read_text()) / 1024
    if code not in (0, None) and run.error is None:
        run.error = f"exit {code}: {_last_error(work / 'stderr.txt', emitted)}"
    return emitted


_HTTP_FAILURE = re.compile(r"\\?'(GET|POST)\\?' request to \\?'([^'\\]+)\\?' failed with "
                           r"status code \\?'(\d+)")


def _last_error(stderr: Path, emitted: Emitted) -> str:
    """One line: the first HTTP failure the tool reported, else its last words."""
    text = str(emitted.state.get("error", "")) if isinstance(emitted.state, dict) else ""
    lines = [line for line in stderr.read_text().splitlines() if line.strip()]
    found = _HTTP_FAILURE.search(text) or _HTTP_FAILURE.search("\n".join(lines[-200:]))
    if found:
        method, url, status = found.groups()
        return f"HTTP {status} on {method} {urlsplit(url).path}"
    return (text or (lines[-1] if lines else "no output"))[:120]


def discover(peer: Peer, url: str, work: Path, timeout: float) -> str | None:
    """Write the peer's catalog from its own discovery; None when done, else why not."""
    flags, select = DISCOVER[peer.name]
    argv = peer.configure(work)[:2] + flags
    command = [str(peer.venv / "bin" / "python"), str(HERE / "peer_redirect.py"),
               "--base-url", url, "--rss-file", str(work / "rss.txt"), "--entry", peer.entry,
               "--", *argv]
    done = subprocess.run(command, capture_output=True, text=True, cwd=work, timeout=timeout)
    if done.returncode != 0:
        tail = [line for line in done.stderr.splitlines() if line.strip()][-1:]
        return f"discovery failed: {tail}"
    _write(work / "catalog.json", select(json.loads(done.stdout)))
    return None


# ---- leadsync pull, the same way --------------------------------------------------------------

def leadsync_child(args: argparse.Namespace) -> None:
    """One `leadsync pull` into an existing (or new) cache, in a fresh process."""
    from cache.database import open_cache
    from connector.client import connect
    from connector.pull import pull
    from mappings.streams import select

    cache = open_cache(args.db)
    client = connect(base_url=args.base_url, token=TOKEN, tier=TIER, concurrency=16)
    summary = pull(cache, client, select(STREAMS), concurrency=16)
    cache.close()
    from peer_redirect import peak_rss_kib  # ru_maxrss would start at the parent's size
    print(json.dumps({"calls": summary.api_calls, "maxrss_kb": peak_rss_kib()}))


def run_leadsync(url: str, work: Path, run: Run, timeout: float) -> Emitted:
    requests.post(f"{url}/_sandbox/stats/reset", timeout=30)
    db = work / "leadsync.db"
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, __file__, "--leadsync-child", "--base-url", url,
                               "--db", str(db)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        run.error = f"timed out after {timeout:.0f} s"
        return Emitted()
    run.wall = time.monotonic() - started
    stats = sandbox_stats(url)
    run.requests, run.rate_limited = stats["total"], stats["rate_limited"]
    run.searches = sum(n for route, n in stats["by_route"].items() if route.endswith("/search"))
    if done.returncode != 0:
        run.error = f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"
        return Emitted()
    run.rss_mb = json.loads(done.stdout.strip().splitlines()[-1])["maxrss_kb"] / 1024
    return cache_rows(db, since if run.phase == "incremental" else None)


def cache_rows(db: Path, since: str | None) -> Emitted:
    """Live rows the run wrote (incremental: those pulled since it started)."""
    out = Emitted()
    conn = sqlite3.connect(db)
    recent = " AND pulled_at >= ?" if since else ""
    params = (since,) if since else ()
    for table in ("contacts", "companies"):
        for (record_id,) in conn.execute(f"SELECT id FROM {table} WHERE archived = 0 AND "
                                         f"merged_into IS NULL{recent}", params):
            out.add(table, record_id)
    for kind, record_id in conn.execute(f"SELECT type, id FROM engagements WHERE archived = 0"
                                        f"{recent}", params):
        out.add(kind, record_id)
    if since is None:
        for pair in conn.execute("SELECT DISTINCT from_id || ':' || to_id FROM associations "
                                 "WHERE from_type = 'contacts' AND to_type = 'companies'"):
            out.add(LINKS, pair[0])
    conn.close()
    return out


# ---- truth, edits and the comparison -----------------------------------------------------------

def truth(url: str) -> dict[str, set[str]]:
    live: dict[str, set[str]] = {}
    records: dict[str, list[dict]] = {}
    for stream in STREAMS:
        records[stream] = requests.get(f"{url}/_sandbox/truth/{stream}", timeout=120
                                       ).json()["results"]
        live[stream] = {r["id"] for r in records[stream]
                        if not r["archived"] and not r["mergedInto"]}
    live[LINKS] = {f"{r['id']}:{link['id']}" for r in records["contacts"]
                   if r["id"] in live["contacts"]
                   for link in r["associations"].get("companies", [])
                   if link["id"] in live["companies"]}
    return live


def edit(url: str, live: dict[str, set[str]]) -> dict[str, set[str]]:
    """30 edits spread over the portal, the same ones for every tool (same seed)."""
    edited: dict[str, set[str]] = {}
    for stream, (count, prop) in EDITS.items():
        ids = sorted(live[stream], key=int)
        step = max(len(ids) // count, 1)
        chosen = ids[step // 2::step][:count]
        for n, record_id in enumerate(chosen):
            requests.patch(f"{url}/_sandbox/objects/{stream}/{record_id}", timeout=30,
                           json={"properties": {prop: f"edited for the bench {n}"}}
                           ).raise_for_status()
        edited[stream] = set(chosen)
    return edited


def compare(emitted: Emitted, expected: dict[str, set[str]], streams: Iterable[str]
            ) -> dict[str, dict[str, int]]:
    result = {}
    for stream in streams:
        got, keys = emitted.ids.get(stream, []), emitted.keys.get(stream, [])
        distinct = set(got)
        want = expected.get(stream, set())
        result[stream] = {"expected": len(want), "got": len(distinct & want),
                          "missing": len(want - distinct), "extra": len(distinct - want),
                          "dups": len(keys) - len(set(keys))}
    return result


def bound(run: Run) -> float:
    """Seconds the rate limits alone force on the requests this run made."""
    plain = max(run.requests - run.searches - run.rate_limited, 1)
    return max(math.floor((plain - 1) / TIER) * 10, run.searches / 5) + LATENCY_MS / 1000


# ---- one tool at one size: full, 30 edits, incremental -----------------------------------------

def measure(tool: str, peer: Peer | None, contacts: int, timeout: float) -> list[Run]:
    from sandbox_process import sandbox_process

    runs = [Run(tool, contacts, "full"), Run(tool, contacts, "incremental")]
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp, \
            sandbox_process(contacts=contacts, seed=SEED, rate_limit=TIER,
                            latency_ms=LATENCY_MS, token=TOKEN) as url:
        work = Path(tmp)
        live = truth(url)
        streams = list(STREAMS) + [LINKS]
        if peer is not None and peer.name in DISCOVER:
            problem = discover(peer, url, work, timeout)
            if problem:
                for run in runs:
                    run.error = problem
                return runs
        full = run_leadsync(url, work, runs[0], timeout) if peer is None else \
            run_peer(peer, url, work, peer.configure(work), runs[0], timeout)
        runs[0].streams = compare(full, live, streams)
        if runs[0].error:
            runs[1].error = "not run: the full extract failed"
            return runs
        edited = edit(url, live)
        again = run_leadsync(url, work, runs[1], timeout) if peer is None else \
            run_peer(peer, url, work, peer.incremental(work, full.state), runs[1], timeout)
        runs[1].streams = compare(again, edited, STREAMS)
    return runs


# ---- the table -------------------------------------------------------------------------------

def row(run: Run) -> str:
    head = f"{run.tool:<29} {run.contacts:>7,} {run.phase:<11}"
    if run.error and not run.requests:
        return f"{head} could not run: {run.error}"
    totals = Counter()
    for counts in run.streams.values():
        totals.update(counts)
    covered = sum(1 for c in run.streams.values() if c["got"] or not c["expected"])
    line = (f"{head} {run.wall:>7.1f} {run.requests:>6} {run.rate_limited:>5} "
            f"{covered:>2}/{len(run.streams):<2} {totals['got']:>7} {totals['missing']:>7} "
            f"{totals['extra']:>7} {totals['dups']:>6} "
            f"{run.rss_mb if run.rss_mb is not None else float('nan'):>7.0f} "
            f"{bound(run):>7.1f} {run.wall / bound(run):>6.2f}")
    return line + (f"  FAILED: {run.error}" if run.error else "")


def print_table(runs: list[Run]) -> None:
    print(f"{'tool':<29} {'contacts':>7} {'run':<11} {'wall s':>7} {'reqs':>6} {'429s':>5} "
          f"{'streams':>5} {'records':>7} {'missing':>7} {'extra':>7} {'dups':>6} "
          f"{'RSS MB':>7} {'bound s':>7} {'ratio':>6}")
    for run in runs:
        print(row(run))
    print("streams = streams with records out of those checked (7 + contact→company links; "
          "incremental: the 7)")
    print("records/missing/extra = distinct ids vs the live records (incremental: vs the 30 "
          "edited ones, so extra = unchanged records sent again); dups = rows repeating a key")
    print(f"bound = non-search requests at {TIER}/10 s or searches at 5/s, plus {LATENCY_MS} ms; "
          "ratio = wall / bound")
    for run in runs:
        short = [f"{s} {c['got']}/{c['expected']}" for s, c in run.streams.items()
                 if c["missing"] or c["extra"] or c["dups"]]
        if short and not (run.error and not run.requests):
            print(f"  {run.tool}, {run.contacts:,}, {run.phase}: " + ", ".join(short))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, action="append",
                        help="portal size (repeatable; default: 2500 and 10000)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--only", action="append", help="tool name prefix to run (repeatable)")
    parser.add_argument("--json", help="also write every run, per stream, to this file")
    parser.add_argument("--leadsync-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.leadsync_child:
        return leadsync_child(args)
    sizes = args.contacts or [2500, 10000]
    tools: list[tuple[str, Peer | None]] = [("leadsync pull", None)] + \
        [(peer.name, peer) for peer in PEERS]
    if args.only:
        tools = [t for t in tools if any(t[0].startswith(prefix) for prefix in args.only)]
    print(f"HubSpot extractors on one sandbox each (seed {SEED}, {LATENCY_MS} ms latency, "
          f"{TIER} requests / 10 s), {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores",
          flush=True)
    unavailable = {peer.name: ensure_installed(peer) for peer in PEERS
                   if any(t[1] is peer for t in tools)}
    runs: list[Run] = []
    for contacts in sizes:
        for name, peer in tools:
            if peer is not None and unavailable.get(name):
                runs += [Run(name, contacts, phase, error=unavailable[name])
                         for phase in ("full", "incremental")]
                continue
            runs += measure(name, peer, contacts, args.timeout)
            print(f"  done: {name} at {contacts:,} contacts", file=sys.stderr, flush=True)
    print_table(runs)
    if args.json:
        Path(args.json).write_text(json.dumps([run.__dict__ for run in runs], indent=1))


if __name__ == "__main__":
    main()
