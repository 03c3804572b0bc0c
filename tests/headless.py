"""Debian's chromium, headless, for the browser tests (the report, `leadsync browse`).

`make test` installs chromium when it is missing and runs as root (as CI does). Without
chromium a browser test fails as root, and is skipped, with the reason, otherwise.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0")


def chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() == 0:
        pytest.fail("chromium is not installed although we are root; `make test` installs it "
                    "(apt-get install -y chromium)")
    pytest.skip("chromium is not installed and we are not root to install it "
                "(apt-get install -y chromium); the browser test did not run")


def dump_dom(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    """Load `url` in headless chromium; stdout is the DOM after scripts ran."""
    return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *extra,
                           "--dump-dom", url], capture_output=True, text=True, timeout=60)
