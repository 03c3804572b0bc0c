"""Errors raised by leadsync's scoring package.

    ScoringError            anything scoring can explain in one line
    ├── ModelError          the model file cannot be read, is not TOML, or breaks a rule
    │                       (`problems` lists every problem found, each naming the file,
    │                       line where known, rule and field)
    └── InputError          a caller passed something the engine cannot score
                            (e.g. a naive `as_of`)

The scoring package imports nothing of leadsync's, so `cli.py` (and the connector) turn
these into their own errors; every message here is already a sentence a RevOps person can
act on.
"""
from __future__ import annotations

from dataclasses import dataclass


class ScoringError(Exception):
    """Base class: an error with an actionable message."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a model file, located as precisely as the source allows."""

    source: str
    message: str
    line: int | None = None
    rule: str | None = None
    section: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        parts = [where]
        if self.rule is not None:
            parts.append(f"{self.section} rule {self.rule!r}")
        elif self.section is not None:
            parts.append(f"[{self.section}]")
        if self.field is not None:
            parts.append(self.field)
        return ": ".join(parts) + f": {self.message}"


class ModelError(ScoringError):
    """The model cannot be used; `problems` holds every problem found (at least one)."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class InputError(ScoringError):
    """The engine was called with input it cannot score."""
