"""Run a peer's console script with HubSpot's base URL pointed at a local sandbox.

Runs inside the peer's own virtual environment (standard library + the peer's `requests`):

    <venv>/bin/python bench/peer_redirect.py --base-url http://127.0.0.1:PORT \\
        --rss-file OUT --entry tap-hubspot -- --config c.json ...

The patch, and why it is the smallest one: none of the three peers takes a base URL as
config (`https://api.hubapi.com` is a class attribute in meltano-tap-hubspot, a module constant
in tap-hubspot, and is written into airbyte-source-hubspot's manifest and Python code in a
dozen places), and all three send every request through `requests`. So one function is
wrapped, `requests.adapters.HTTPAdapter.send`: a request for `https://api.hubapi.com/...` is
sent to `<base-url>/...` instead, path and query unchanged. Nothing else of the peer is
touched. Any other host is refused, so a run can only ever reach 127.0.0.1.

At exit it writes the process's peak RSS in KiB to `--rss-file`: `VmHWM` from /proc, the
high-water mark of this program's own memory. (`getrusage`'s `ru_maxrss` would not do: it
survives exec, so it starts at the size of the benchmark process that spawned us.)
"""
from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points
from urllib.parse import urlsplit

HUBSPOT = "https://api.hubapi.com"


def redirect_requests(base_url: str) -> None:
    import requests.adapters

    original = requests.adapters.HTTPAdapter.send

    def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        url = request.url or ""
        if url.startswith(HUBSPOT + "/") or url == HUBSPOT:
            request.url = base_url + url[len(HUBSPOT):]
        elif urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
            raise requests.exceptions.ConnectionError(
                f"peer_redirect: refusing a request outside 127.0.0.1: {url}")
        return original(self, request, *args, **kwargs)

    requests.adapters.HTTPAdapter.send = send


def peak_rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--rss-file", required=True)
    parser.add_argument("--entry", required=True, help="console script name")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args()
    redirect_requests(ns.base_url.rstrip("/"))
    (script,) = entry_points(group="console_scripts", name=ns.entry)
    func = script.load()
    argv = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    sys.argv = [ns.entry, *argv]
    code: int | str | None = 0
    try:
        func()
    except SystemExit as exc:
        code = exc.code
    finally:
        with open(ns.rss_file, "w") as out:
            out.write(str(peak_rss_kib()))
    if isinstance(code, str):
        print(code, file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
