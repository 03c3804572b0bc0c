"""The `owners` table: HubSpot owners (names, email, teams) as the last pull listed them."""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Mapping, NamedTuple

NO_OWNER = "(no owner)"
NO_TEAM = "(no team)"


class OwnerName(NamedTuple):
    """How reports name an owner: `name` (or the id when unknown) and primary `team`."""

    name: str
    team: str


def save_owners(conn: sqlite3.Connection, owners: Iterable[Mapping[str, Any]],
                pulled_at: str) -> None:
    """Upsert the listed owners; mark the cached ones HubSpot no longer lists archived."""
    rows = [(str(o["id"]), (o.get("email") or "").lower() or None, o.get("firstName"),
             o.get("lastName"), None if o.get("userId") is None else str(o["userId"]),
             json.dumps(o.get("teams") or [], separators=(",", ":")),
             1 if o.get("archived") else 0, o.get("createdAt"), o.get("updatedAt"), pulled_at)
            for o in owners if o.get("id") is not None]
    conn.executemany("""
        INSERT INTO owners (id, email, first_name, last_name, user_id, teams, archived,
                            created_at, updated_at, pulled_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET email = excluded.email, first_name = excluded.first_name,
            last_name = excluded.last_name, user_id = excluded.user_id, teams = excluded.teams,
            archived = excluded.archived, created_at = excluded.created_at,
            updated_at = excluded.updated_at, pulled_at = excluded.pulled_at""", rows)
    listed = [row[0] for row in rows]
    conn.execute(f"UPDATE owners SET archived = 1 WHERE id NOT IN ({','.join('?' * len(listed))})",
                 listed)


def owner_names(conn: sqlite3.Connection) -> dict[str, OwnerName]:
    """Owner id → name and primary team, for every cached owner (archived ones too)."""
    names = {}
    for owner_id, first, last, email, teams, archived in conn.execute(
            "SELECT id, first_name, last_name, email, teams, archived FROM owners"):
        name = " ".join(p for p in (first, last) if p) or email or owner_id
        team_list = json.loads(teams or "[]")
        primary = next((t for t in team_list if t.get("primary")), team_list[0] if team_list else None)
        names[owner_id] = OwnerName(name + (" (deactivated)" if archived else ""),
                                    (primary or {}).get("name") or NO_TEAM)
    return names


def name_of(names: Mapping[str, OwnerName], owner_id: str | None) -> OwnerName:
    """The name of `owner_id` (its id when not cached; NO_OWNER for none)."""
    if not owner_id:
        return OwnerName(NO_OWNER, NO_TEAM)
    return names.get(owner_id) or OwnerName(f"owner {owner_id}", NO_TEAM)
