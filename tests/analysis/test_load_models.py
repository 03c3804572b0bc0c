"""load_models: the config's models validated, segments compiled, one-line errors."""
import pytest

from analysis.rescore import load_models
from foundation import settings
from foundation.errors import ConfigError


def test_models_load_with_their_segments_and_roles(tmp_path):
    path = tmp_path / "leadsync.toml"
    path.write_text('[[models]]\nname = "eu"\napplies_to = { country = { in = ["Germany"] } }\n'
                    'drives_stages = true\n[[models]]\nname = "next"\nshadow = true\n')
    models = load_models(settings.load(path))
    assert models.names == ("eu", "next")
    assert models.stage_driver.name == "eu" and models.shadows[0].name == "next"
    assert models.contacts[0].segment.contact_names == ("country",)
    assert models.contacts[1].segment is None and not models.contacts[1].written


def test_a_segment_mistake_is_one_line_naming_the_config_key(tmp_path):
    path = tmp_path / "leadsync.toml"
    path.write_text('[[models]]\nname = "eu"\napplies_to = { contry = { in = ["Germany"] } }\n')
    with pytest.raises(ConfigError) as info:
        load_models(settings.load(path))
    assert str(info.value) == (f"{path}: models[0] (eu).applies_to.contry: unknown contact "
                               f"property 'contry'; did you mean 'country'?")


def test_a_missing_model_file_names_it(tmp_path):
    path = tmp_path / "leadsync.toml"
    path.write_text('[[models]]\nname = "eu"\npath = "nope.toml"\n')
    with pytest.raises(ConfigError, match="nope.toml: no such model file"):
        load_models(settings.load(path))
