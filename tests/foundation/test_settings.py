import pytest

from foundation import settings
from foundation.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "leadsync.toml"
    path.write_text(text)
    return path


def test_starter_config_loads_to_the_defaults(tmp_path):
    path = settings.write_starter(tmp_path / "leadsync.toml")
    loaded = settings.load(path)
    assert loaded == settings.Settings(source=str(path))


def test_write_starter_refuses_to_overwrite(tmp_path):
    path = settings.write_starter(tmp_path / "leadsync.toml")
    with pytest.raises(ConfigError, match="already exists; use --force"):
        settings.write_starter(path)
    settings.write_starter(path, force=True)


def test_values_are_read_and_model_path_is_relative_to_the_config(tmp_path):
    path = write(tmp_path, '[hubspot]\ntier = 250\nconcurrency = 4\n[scoring]\nmodel = "m.toml"\n'
                           '[pull]\nextra_properties = { contacts = ["x_score"] }\n'
                           '[push.properties]\nscore = "my_score"\n')
    loaded = settings.load(path)
    assert (loaded.tier, loaded.concurrency) == (250, 4)
    assert loaded.model_path == str(tmp_path / "m.toml")
    assert loaded.extra_properties == {"contacts": ("x_score",)}
    assert loaded.write_back.score == "my_score"
    assert loaded.write_back.grade == "leadsync_grade"


def test_audit_share_and_sweep_pages_are_read(tmp_path):
    path = write(tmp_path, "[pull]\nassociation_audit_share = 0.2\narchive_sweep_pages = 3\n")
    loaded = settings.load(path)
    assert (loaded.association_audit_share, loaded.archive_sweep_pages) == (0.2, 3)
    assert settings.load(write(tmp_path, "[pull]\nassociation_audit_share = 0\n")
                         ).association_audit_share == 0.0


@pytest.mark.parametrize("text, message", [
    ("[hubspot]\ntier = 120\n", "hubspot.tier must be one of (100, 190, 250) (requests per 10 s), got 120"),
    ("[hubspot]\nconcurrency = 0\n", "hubspot.concurrency must be a whole number between 1 and 64, got 0"),
    ("[hubspot]\ntokn = 1\n", "unknown key hubspot.tokn; expected one of base_url, concurrency, daily_limit, tier"),
    ("[hubspt]\n", "unknown section [hubspt]; expected one of conversion, hubspot, pull, push, scoring, webhooks"),
    ("[pull]\nstreams = ['deals']\n", "pull.streams has ['deals']; choose from contacts, companies, calls"),
    ("[pull]\nstreams = 'contacts'\n",
     'pull.streams must be a list of stream names, e.g. streams = ["contacts"]; choose from contacts'),
    ("[push.properties]\nscore = 'My Score'\n", "push.properties.score must be a lowercase HubSpot property name"),
    ("[hubspot\n", "not valid TOML"),
    ("[pull]\nassociation_audit_share = 5\n",
     "pull.association_audit_share must be a share between 0 and 1 (0.05 = 5%), got 5"),
    ("[pull]\nassociation_audit_share = 'some'\n", "pull.association_audit_share must be a share"),
    ("[pull]\narchive_sweep_pages = -1\n",
     "pull.archive_sweep_pages must be a whole number at least 0, got -1"),
])
def test_bad_config_names_the_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        settings.load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_config_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="no such config file; run `leadsync init`"):
        settings.load(tmp_path / "nope.toml")


def test_token_comes_only_from_the_environment():
    assert settings.access_token({"HUBSPOT_ACCESS_TOKEN": " pat-1 "}) == "pat-1"
    with pytest.raises(ConfigError, match="HUBSPOT_ACCESS_TOKEN is not set"):
        settings.access_token({})
