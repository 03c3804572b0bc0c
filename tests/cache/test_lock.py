import subprocess
import sys

import pytest

from cache.lock import run_lock
from foundation.errors import CacheBusy


def test_second_run_on_the_same_cache_is_refused_with_who_holds_it(tmp_path):
    db = str(tmp_path / "c.db")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, '.');"
        "from cache.lock import run_lock\n"
        f"with run_lock({db!r}, 'pull'):\n print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(CacheBusy) as info:
            with run_lock(db, "score", wait=0.3):
                pass
        assert f"{db} is in use by `leadsync pull` (pid {holder.pid}" in str(info.value)
        assert str(info.value).endswith("wait for it to finish or pass --wait SECONDS")
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with run_lock(db, "score"):  # a killed holder never leaves the lock stuck
        pass


def test_holder_tells_a_live_run_from_a_dead_one(tmp_path):
    import os
    import subprocess

    from cache.lock import alive, holder

    db = str(tmp_path / "c.db")
    assert holder(db) is None
    with run_lock(db, "pull"):
        assert holder(db) == os.getpid()
    assert holder(db) is None  # released; the file keeps the last holder's name
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert alive(os.getpid()) and not alive(dead.pid) and not alive(None)
