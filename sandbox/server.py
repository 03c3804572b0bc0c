"""`Sandbox`: a seeded portal served over HTTP on 127.0.0.1, and `serve()` for the CLI."""
from __future__ import annotations

import errno
import threading
import time
from datetime import datetime
from typing import Any, Callable

from . import (admin_api, associations_api, engagements_v1, legacy_api, objects_api, owners_api,
               properties_api, search)
from .backend import Backend
from .clock import Clock, day_floor_ms, system_clock, to_ms
from .errors import PortInUseError, SandboxError
from .faults import Faults
from .gateway import Gateway
from .portal import Portal
from .ratelimit import RateLimiter
from .router import Router
from .seed import seed_portal
from .settings import Settings
from .stats import RequestStats
from .transport import SandboxHTTPServer
from .webhooks import WebhookEmitter

ROUTES = (admin_api.ROUTES + search.ROUTES + objects_api.ROUTES + properties_api.ROUTES
          + associations_api.ROUTES + owners_api.ROUTES + legacy_api.ROUTES
          + engagements_v1.ROUTES)


class Sandbox:
    """A HubSpot-compatible portal for tests, demos and benchmarks.

    `contacts` counts every seeded contact record (a few are archived or merged away);
    `rate_limit` is requests per rolling 10 s (0 = unlimited); `anchor` is the instant the
    seeded history ends (default: now, floored to the UTC day).
    """

    def __init__(self, contacts: int = 2000, seed: int = 7, rate_limit: int = 0,
                 daily_limit: int | None = None, latency_ms: int = 0,
                 token: str = "sandbox-token", port: int = 0,
                 anchor: datetime | None = None, host: str = "127.0.0.1",
                 clock: Clock = system_clock) -> None:
        self.settings = Settings(rate_limit=rate_limit, daily_limit=daily_limit,
                                 latency_ms=latency_ms)
        self.portal = Portal(clock=clock, settings=self.settings)
        self.anchor_ms = to_ms(anchor) if anchor is not None else day_floor_ms(clock())
        seed_portal(self.portal, contacts=contacts, seed=seed, anchor_ms=self.anchor_ms)
        self.token = token
        self.faults = Faults()
        self.limiter = RateLimiter(self.settings)
        self.webhooks = WebhookEmitter(self.portal.portal_id, clock=clock, seed=seed)
        self.portal.subscribe(self.webhooks.on_changes)
        self._stats = RequestStats()
        self.gateway = Gateway(Backend(self.portal, self.faults, self._stats, self.limiter,
                                       self.webhooks, token), Router(list(ROUTES)))
        self._host, self._port = host, port
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Bind and serve in a background thread; PortInUseError if the port is taken."""
        if self._server is not None:
            return self
        try:
            self._server = SandboxHTTPServer((self._host, self._port), self.gateway)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(errno.EADDRINUSE, f"Port {self._port} on {self._host} "
                                     "is already in use; pick another with --port") from None
            raise SandboxError(f"Cannot listen on {self._host}:{self._port}: {exc}") from None
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="sandbox-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None
        self.webhooks.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- what callers read and turn -----------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise SandboxError("The sandbox is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def latency_ms(self) -> int:
        return self.settings.latency_ms

    @latency_ms.setter
    def latency_ms(self, value: int) -> None:
        self.settings.latency_ms = value

    def stats(self) -> dict[str, Any]:
        """Request counts: total, rate_limited (429s), faults, by_route, by_status."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()


def _print_now(message: str) -> None:
    print(message, flush=True)


def serve(port: int = 8080, contacts: int = 2000, seed: int = 7, rate_limit: int = 0,
          latency_ms: int = 0, token: str = "sandbox-token",
          echo: Callable[[str], Any] | None = None, daily_limit: int | None = None) -> None:
    """Run a sandbox in the foreground until Ctrl-C; `echo` prints the address (default:
    print, flushed, so a parent process reading our stdout sees it at once)."""
    echo = echo or _print_now
    sandbox = Sandbox(contacts=contacts, seed=seed, rate_limit=rate_limit,
                      daily_limit=daily_limit, latency_ms=latency_ms, token=token, port=port)
    sandbox.start()
    echo(f"sandbox listening on {sandbox.base_url}  token: {sandbox.token}")
    echo("# point leadsync at it (in another shell; Ctrl-C here stops the sandbox):")
    echo(f"export LEADSYNC_BASE_URL={sandbox.base_url}")
    echo(f"export HUBSPOT_ACCESS_TOKEN={sandbox.token}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        echo("sandbox stopped")
    finally:
        sandbox.stop()
