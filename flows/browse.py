"""`leadsync browse`: the cache in Datasette, on 127.0.0.1, with leadsync's descriptions.

Datasette is an optional extra (`pip install 'leadsync[browse]'`). It runs as a child process
of this one (its own server and event loop), reads the cache while syncs keep writing (WAL),
and stops with Ctrl-C.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from cache.browse import metadata
from cache.database import open_cache
from foundation.errors import ConfigError

HOST = "127.0.0.1"  # the cache holds a portal's contacts: never served beyond this machine
MISSING_EXTRA = ("browsing needs Datasette, an optional extra: pip install 'leadsync[browse]' "
                 "(or open the file with any SQLite tool)")


def datasette_command(db_path: str, metadata_path: str, *, port: int,
                      open_browser: bool) -> list[str]:
    """The Datasette command line that serves `db_path` with leadsync's metadata."""
    command = [sys.executable, "-m", "datasette", "serve", db_path, "--metadata", metadata_path,
               "--host", HOST, "--port", str(port),
               "--setting", "facet_time_limit_ms", "1000", "--setting", "sql_time_limit_ms", "5000"]
    return command + (["--open"] if open_browser else [])


def browse(db_path: str, *, port: int, open_browser: bool,
           echo: Callable[[str], None]) -> int:
    """Serve the cache until Ctrl-C; returns Datasette's exit code."""
    if not Path(db_path).is_file():
        raise ConfigError(f"no cache at {db_path}; run `leadsync pull` first (or pass --db)")
    if importlib.util.find_spec("datasette") is None:
        raise ConfigError(MISSING_EXTRA)
    open_cache(db_path).close()  # applies pending migrations: the views exist before serving
    with tempfile.TemporaryDirectory(prefix="leadsync-browse-") as folder:
        meta = Path(folder) / "metadata.json"
        meta.write_text(json.dumps(metadata(Path(db_path).stem), indent=2), encoding="utf-8")
        echo(f"Browsing {db_path} with Datasette at http://{HOST}:{port}/ "
             f"(start with contacts_view; Ctrl-C stops)")
        child = subprocess.Popen(datasette_command(db_path, str(meta), port=port,
                                                   open_browser=open_browser))
        try:
            return child.wait()
        except KeyboardInterrupt:  # the terminal sent Ctrl-C to both of us: let it finish
            try:
                return child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                return child.wait()
