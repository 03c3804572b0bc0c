"""`leadsync serve` stops cleanly on Ctrl-C and SIGTERM, even when started in the background
(a shell without job control starts background jobs with SIGINT ignored, as CI may)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
IGNORE_SIGINT = "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); import cli; cli.main()"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_started_with_sigint_ignored_still_stops_on_signals(tmp_path, sig):
    env = {**os.environ, "HUBSPOT_CLIENT_SECRET": "secret", "PYTHONPATH": str(ROOT)}
    env.pop("HUBSPOT_ACCESS_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-c", IGNORE_SIGINT, "--db", str(tmp_path / "c.db"), "serve", "--port", "0",
         "--no-worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().startswith("Listening on http://127.0.0.1:")
        process.send_signal(sig)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 128 + sig  # 130 for Ctrl-C, 143 for SIGTERM


def test_a_stopped_thread_pool_does_not_wait_for_blocked_threads():
    import threading
    import time

    from foundation.shutdown import thread_pool

    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with thread_pool(2, "t") as pool:
            pool.submit(release.wait, 30)  # a thread blocked, as in an HTTP read
            queued = [pool.submit(time.sleep, 0) for _ in range(5)]
            raise KeyboardInterrupt
    assert time.monotonic() - started < 2
    release.set()
    from concurrent.futures import wait
    wait(queued, timeout=5)
    assert all(f.done() for f in queued) and any(f.cancelled() for f in queued)


def test_stop_flag_cuts_sleeps_short_and_is_reset_by_the_next_command():
    import threading
    import time

    from foundation import shutdown

    def stop_soon():
        time.sleep(0.1)
        shutdown._STOP.set()

    threading.Thread(target=stop_soon).start()
    started = time.monotonic()
    with pytest.raises(shutdown.Stopped):
        shutdown.sleep(30)
    assert time.monotonic() - started < 2 and shutdown.stopping()
    with shutdown.interrupted_by_signals():  # a new command starts afresh
        assert not shutdown.stopping()
        shutdown.check()
