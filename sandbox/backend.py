"""Everything a request handler may touch, passed explicitly (no globals)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .faults import Faults
from .portal import Portal
from .ratelimit import RateLimiter
from .stats import RequestStats

if TYPE_CHECKING:
    from .webhooks import WebhookEmitter


@dataclass(frozen=True)
class Backend:
    portal: Portal
    faults: Faults
    stats: RequestStats
    limiter: RateLimiter
    webhooks: WebhookEmitter
    token: str
