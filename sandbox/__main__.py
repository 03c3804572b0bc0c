"""`python -m sandbox [--port N] [--contacts N] [--seed N] [--rate-limit N] [--latency-ms N]
[--token T]`: serve a sandbox until Ctrl-C."""
from __future__ import annotations

import argparse
import sys

from .errors import SandboxError
from .server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate-limit", type=int, default=0)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--token", default="sandbox-token")
    args = parser.parse_args(argv)
    try:
        serve(port=args.port, contacts=args.contacts, seed=args.seed,
              rate_limit=args.rate_limit, latency_ms=args.latency_ms, token=args.token)
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
