"""`score_history.pushed_at` after `leadsync sync` with a shadow model whose values are not
written (write_back off): only the rows of the models a contact's write carried get stamped."""
from __future__ import annotations

from datetime import datetime, timezone

from click.testing import CliRunner

from cache.database import open_cache
from cli import cli
from sandbox import Sandbox
from scoring import starter_path

AS_OF = datetime.now(timezone.utc).isoformat(timespec="seconds")


def test_sync_stamps_the_written_models_history_and_leaves_the_shadow_models_empty(tmp_path):
    text = starter_path().read_text().replace('name = "starter"', 'name = "challenger"')
    (tmp_path / "challenger.toml").write_text(text.replace("score = { gte = 55 }",
                                                           "score = { gte = 20 }"))
    config = tmp_path / "leadsync.toml"
    config.write_text('[[models]]\nname = "core"\ndrives_stages = true\n\n'
                      '[[models]]\nname = "challenger"\npath = "challenger.toml"\n'
                      'prefix = "leadsync_ch_"\nshadow = true\n')
    db = tmp_path / "leadsync.db"
    with Sandbox(contacts=120, seed=4) as sb:
        env = {"LEADSYNC_BASE_URL": sb.base_url, "HUBSPOT_ACCESS_TOKEN": sb.token}
        for args in (["setup"], ["sync", "--as-of", AS_OF]):
            result = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), *args],
                                        env=env, catch_exceptions=False)
            assert result.exit_code == 0, result.output
        assert not any(k.startswith("leadsync_ch_")
                       for r in sb.portal.live("contacts") for k in r.properties)
    cache = open_cache(db)
    try:
        rows = dict(((model, stamped), count) for model, stamped, count in cache.conn.execute(
            "SELECT model, pushed_at IS NOT NULL, count(*) FROM score_history GROUP BY 1, 2"))
        written = cache.conn.execute(
            "SELECT count(DISTINCT contact_id) FROM outbox WHERE status = 'done'").fetchone()[0]
        models = {r[0] for r in cache.conn.execute(
            "SELECT DISTINCT history_models FROM outbox WHERE history_upto IS NOT NULL")}
    finally:
        cache.close()
    # every contact scored got a first history row per model; all of core's were written
    assert rows == {("core", 1): written, ("challenger", 0): written}
    assert models == {'["core"]'}
