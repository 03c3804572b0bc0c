"""Compare the cache with the sandbox's ground truth, stream by stream."""
from __future__ import annotations

import json

from mappings.streams import Stream

ENGAGEMENTS = ("calls", "emails", "meetings", "notes", "tasks")


def portal_view(sandbox, stream: Stream) -> dict:
    """What the cache should hold for `stream`, from the sandbox's truth."""
    live, archived, merged, links = {}, set(), {}, {}
    alive = _live_ids(sandbox) if stream.name == "contacts" else {}
    for record in sandbox.portal.truth(stream.name):
        rid = str(record["id"])
        if record.get("mergedInto"):
            merged[rid] = str(record["mergedInto"])
        elif record.get("archived"):
            archived.add(rid)
        else:
            props = record["properties"]
            live[rid] = {k: props[k] for k in stream.properties if props.get(k) is not None}
            if stream.name == "contacts":
                # HubSpot (and the sandbox's API) never return links to archived records.
                links[rid] = {to: sorted(str(a["id"]) for a in record["associations"].get(to, [])
                                         if str(a["id"]) in alive[to])
                              for to in ("companies", *ENGAGEMENTS)}
    return {"live": live, "archived": archived, "merged": merged, "links": links}


def _live_ids(sandbox) -> dict[str, set[str]]:
    return {to: {str(r["id"]) for r in sandbox.portal.truth(to)
                 if not r.get("archived") and not r.get("mergedInto")}
            for to in ("companies", *ENGAGEMENTS)}


def cache_view(cache, stream: Stream) -> dict:
    """The same picture, read from the cache."""
    table = "engagements" if stream.name in ENGAGEMENTS else stream.name
    where = " WHERE type = ?" if table == "engagements" else ""
    params = (stream.name,) if where else ()
    merged_col = "NULL" if table == "engagements" else "merged_into"
    live, archived, merged = {}, set(), {}
    for rid, props, arch, into in cache.conn.execute(
            f"SELECT id, properties, archived, {merged_col} FROM {table}{where}", params):
        if into:
            merged[rid] = into
        elif arch:
            archived.add(rid)
        else:
            live[rid] = json.loads(props)
    links = {}
    if stream.name == "contacts":
        for rid in live:
            links[rid] = {to: [] for to in ("companies", *ENGAGEMENTS)}
        for from_id, to_type, to_id in cache.conn.execute(
                "SELECT DISTINCT from_id, to_type, to_id FROM associations WHERE from_type = 'contacts' "
                "ORDER BY from_id, to_type, to_id"):
            if from_id in links:
                links[from_id][to_type].append(to_id)
        for rid in links:
            for to in links[rid]:
                links[rid][to] = sorted(links[rid][to])
    return {"live": live, "archived": archived, "merged": merged, "links": links}


def assert_cache_matches(cache, sandbox, streams: dict[str, Stream]) -> None:
    for name, stream in streams.items():
        want, got = portal_view(sandbox, stream), cache_view(cache, stream)
        assert got["live"].keys() == want["live"].keys(), f"{name}: live ids differ"
        for rid, props in want["live"].items():
            assert got["live"][rid] == props, f"{name} {rid}: properties differ"
        assert got["archived"] >= want["archived"], f"{name}: archived records missing"
        assert not (got["archived"] & want["live"].keys()), f"{name}: live records tombstoned"
        for rid, survivor in want["merged"].items():
            assert got["merged"].get(rid) == survivor, f"{name} {rid}: merge not recorded"
        if name == "contacts":  # links are read only towards the streams pulled
            pulled = [t for t in ("companies", *ENGAGEMENTS) if t in streams]
            trim = lambda links: {k: {t: v[t] for t in pulled} for k, v in links.items()}  # noqa: E731
            assert trim(got["links"]) == trim(want["links"]), "contact associations differ"
