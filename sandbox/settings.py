"""Runtime knobs of a sandbox portal; tests and the admin API change them while it runs."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import invalid


@dataclass
class Settings:
    """Mutable on purpose: every request reads the current values."""

    rate_limit: int = 0                   # requests per rolling 10 s; 0 = unlimited
    daily_limit: int | None = None        # requests per UTC day; None = unlimited
    search_rate_limit: int = 5            # search requests per second; 0 = unlimited
    retry_after_s: int | None = None      # add Retry-After to 429s (HubSpot usually does not)
    latency_ms: int = 0                   # added to every API request
    reject_backward_lifecycle: bool = False  # 400 instead of silently keeping the old stage
    association_page_size: int = 500      # v4 batch read: links per input per page
    search_result_cap: int = 10_000       # after + limit beyond this → 400
    max_search_body_chars: int = 3_000
    max_url_length: int = 8_000           # longer request targets → 414

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def apply(self, changes: dict[str, Any]) -> None:
        """Set knobs from a JSON object; unknown names are a 400."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise invalid(f"Unknown sandbox setting(s): {', '.join(unknown)}")
        for name, value in changes.items():
            setattr(self, name, value)

    @property
    def effective_daily_limit(self) -> int | None:
        """The daily budget to enforce and report; a 10 s limit implies a (large) daily one."""
        if self.daily_limit is not None:
            return self.daily_limit
        return 1_000_000 if self.rate_limit > 0 else None
