"""Benchmark: how long the bundled sandbox takes to seed its portal and start serving.

    .venv/bin/python bench/sandbox_start.py [--sizes 2000,10000,50000] [--repeat 3]

Tests and the demo start a sandbox per module; the target is well under a second for 2,000
contacts (the demo's default). Prints, per size, the fastest and slowest of `--repeat`
starts (this machine is shared: the spread is its noise) and the records seeded.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sandbox import Sandbox  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000,50000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'contacts':>9} {'records':>9} {'fastest s':>10} {'slowest s':>10}  target")
    for size in (int(s) for s in args.sizes.split(",")):
        times, records = [], 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            with Sandbox(contacts=size, seed=7) as sb:
                times.append(time.perf_counter() - started)
                records = sum(len(r) for r in sb.portal.records.values())
        target = "< 1 s" if size <= 2000 else "-"
        print(f"{size:>9,} {records:>9,} {min(times):>10.2f} {max(times):>10.2f}  {target}")


if __name__ == "__main__":
    main()
