"""[[models]] in leadsync.toml: several contact models, their properties, roles and errors."""
import pytest

from foundation import promotion, settings
from foundation.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "leadsync.toml"
    path.write_text(text)
    return path


def test_without_models_the_one_default_model_keeps_todays_names(tmp_path):
    loaded = settings.load(write(tmp_path, '[scoring]\nmodel = "m.toml"\n'))
    [model] = loaded.models
    assert not loaded.configured_models
    assert (model.name, model.path, model.drives_stages, model.shadow, model.written) == (
        "default", str(tmp_path / "m.toml"), True, False, True)
    assert model.write_back == loaded.write_back
    assert (model.write_back.score, model.write_back.model) == ("leadsync_score", "default")


def test_models_take_a_prefix_their_own_names_or_leadsync_name_(tmp_path):
    loaded = settings.load(write(tmp_path, """
[push]
lifecycle_stage = true
[push.properties]
group = "scores"
[[models]]
name = "product_a"
path = "models/a.toml"
prefix = "a_"
properties = { score = "product_a_score" }
applies_to = { country = { in = ["DE", "AT"] } }
drives_stages = true
[[models]]
name = "b"
[[models]]
name = "next"
path = "/abs/next.toml"
shadow = true
"""))
    a, b, shadow = loaded.models
    assert loaded.configured_models
    assert (a.path, b.path, shadow.path) == (str(tmp_path / "models/a.toml"), None, "/abs/next.toml")
    assert (a.write_back.score, a.write_back.fit, a.write_back.sla_status) == (
        "product_a_score", "a_fit", "a_sla_status")
    assert (b.write_back.score, b.write_back.grade) == ("leadsync_b_score", "leadsync_b_grade")
    assert {m.write_back.group for m in loaded.models} == {"scores"}
    assert [m.write_back.model for m in loaded.models] == ["product_a", "b", "next"]
    assert [m.write_back.lifecycle_stage for m in loaded.models] == [True, False, False]
    assert a.applies_to == {"country": {"in": ["DE", "AT"]}} and b.applies_to is None
    assert [(m.drives_stages, m.shadow, m.written) for m in loaded.models] == [
        (True, False, True), (False, False, True), (False, True, False)]
    assert loaded.model_named("b") is b
    with pytest.raises(ConfigError, match="no model named 'c'; the config has product_a, b, next"):
        loaded.model_named("c")


def test_the_stage_driver_writes_no_stage_when_push_lifecycle_stage_is_off(tmp_path):
    loaded = settings.load(write(tmp_path, "[push]\nlifecycle_stage = false\n[[models]]\n"
                                           'name = "a"\ndrives_stages = true\n'))
    assert loaded.models[0].drives_stages and not loaded.models[0].write_back.lifecycle_stage


MODELS = '[[models]]\nname = "a"\n'


@pytest.mark.parametrize("text, message", [
    (MODELS + 'drives_stages = true\n[[models]]\nname = "b"\ndrives_stages = true\n',
     "models[1] (b).drives_stages: only one model may drive lifecycle stages and models[0] (a) "
     "already does; set drives_stages = false on one of them"),
    (MODELS + '[[models]]\nname = "a"\n', "models[1] (a).name: models[0] (a) already has this name"),
    (MODELS + 'prefix = "x_"\n[[models]]\nname = "b"\nproperties = { grade = "x_grade" }\n',
     "models[1] (b).properties.grade: models[0] (a) already writes x_grade; each model needs its "
     "own properties"),
    (MODELS + "shadow = true\ndrives_stages = true\n",
     "models[0] (a).drives_stages: a shadow model never moves a stage"),
    (MODELS + "drives_stages = true\nwrite_back = false\n",
     "models[0] (a).write_back: the model that drives lifecycle stages writes its properties"),
    ('[scoring]\nmodel = "m.toml"\n' + MODELS, "scoring.model and [[models]] both name models"),
    (MODELS + "segment = 1\n", "unknown key models[0] (a).segment; expected one of applies_to"),
    ('[[models]]\nname = "Product A"\n', "models[0] (Product A).name must be a lowercase name"),
    ('[[models]]\npath = "a.toml"\n', "models[0].name must be a lowercase name"),
    (MODELS + "shadow = 1\n", "models[0] (a).shadow must be true or false"),
    (MODELS + "applies_to = 3\n", "models[0] (a).applies_to must be a table of conditions"),
    (MODELS + 'prefix = "A-"\n', "models[0] (a).prefix must start lowercase HubSpot property"),
    (MODELS + 'properties = { score = "Score" }\n',
     "models[0] (a).properties.score must be a lowercase HubSpot property name"),
    (MODELS + 'properties = { total = "x" }\n', "unknown key models[0] (a).properties.total"),
    ("models = 3\n", "models must be an array of tables"),
])
def test_bad_models_name_the_file_and_key_in_one_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        settings.load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_promotion_refuses_a_config_without_models_and_the_model_already_in_charge(tmp_path):
    plain = write(tmp_path, "[hubspot]\ntier = 190\n")
    with pytest.raises(ConfigError, match="has no \\[\\[models\\]\\]; promote makes"):
        promotion.promotion(plain, "a")
    path = write(tmp_path, MODELS + "drives_stages = true\n")
    with pytest.raises(ConfigError, match="model a already drives lifecycle stages"):
        promotion.promotion(path, "a")
    with pytest.raises(ConfigError, match="no model named 'b'"):
        promotion.promotion(path, "b")


def test_promotion_edits_only_the_roles_and_keeps_the_rest_of_the_text(tmp_path):
    text = ('# my scoring\n[[models]]\nname = "a"  # in charge\ndrives_stages = true  # stages\n'
            '\n[[models]]\nname = "b"\nshadow = true   # trying it\nwrite_back = false\n'
            '\n[push]\nmax_changes = 10\n')
    promoted = promotion.promotion(write(tmp_path, text), "b")
    assert promoted.text == (
        '# my scoring\n[[models]]\nname = "a"  # in charge\nwrite_back = true\nshadow = true\n'
        'drives_stages = false  # stages\n\n[[models]]\nname = "b"\ndrives_stages = true\n'
        'shadow = false   # trying it\nwrite_back = true\n\n[push]\nmax_changes = 10\n')
    assert [(m.name, m.drives_stages, m.shadow, m.written) for m in promoted.settings.models] == [
        ("a", False, True, True), ("b", True, False, True)]
    backup = promotion.write_promotion(promoted)
    assert backup.read_text() == text
    assert (tmp_path / "leadsync.toml").read_text() == promoted.text
