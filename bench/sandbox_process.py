"""Run the sandbox in its own process so a benchmark's client does not share its GIL."""
from __future__ import annotations

import re
import subprocess
import sys
from contextlib import contextmanager
from typing import Iterator

import requests


@contextmanager
def sandbox_process(*, contacts: int, seed: int = 7, rate_limit: int = 0, latency_ms: int = 0,
                    token: str = "bench-token") -> Iterator[str]:
    """Start `python -m sandbox` on a free port; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "sandbox", "--port", "0", "--contacts", str(contacts),
         "--seed", str(seed), "--rate-limit", str(rate_limit), "--latency-ms", str(latency_ms),
         "--token", token], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"(http://[\d.]+:\d+)", line)
        if not match:
            raise RuntimeError(f"sandbox did not start: {line!r}")
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait()
        proc.stdout.close()


def truth_counts(base_url: str, stream: str) -> tuple[int, int]:
    """(live, archived) records of `stream`, from the sandbox's ground truth."""
    records = requests.get(f"{base_url}/_sandbox/truth/{stream}", timeout=60).json()
    records = records.get("results", records) if isinstance(records, dict) else records
    live = sum(1 for r in records if not r.get("archived") and not r.get("mergedInto"))
    archived = sum(1 for r in records if r.get("archived") and not r.get("mergedInto"))
    return live, archived
