"""Recipe validation: every error a user can make is reported at once, with its path and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganzoo.errors import RecipeError
from ganzoo.overrides import apply_overrides, parse_value
from ganzoo.recipe import load_recipe

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "x.toml"
    path.write_text(text)
    return path


BASE = """
[method]
type = "cyclegan"
[data]
type = "procedural"
"""


def messages(exc: RecipeError) -> list[str]:
    return str(exc).splitlines()


def test_all_shipped_recipes_validate_or_only_miss_their_data():
    for path in sorted((REPO / "recipes").glob("*.toml")):
        try:
            load_recipe(path)
        except RecipeError as exc:
            assert all(issue.path == "data" for issue in exc.issues), f"{path.name}: {exc}"


def test_quickstart_resolves_with_recipe_defaults():
    resolved = load_recipe(REPO / "recipes" / "quickstart.toml")
    assert resolved.method.spec.name == "cyclegan"
    assert resolved.slots["cycle_loss"].config.weight == 10.0  # the recipe's preference, not l1's 1.0
    assert resolved.method.config.lambda_identity == 0.0  # set in the file, on purpose
    assert resolved.method.config.optimizer.lr == 2e-4
    assert resolved.method.config.optimizer.betas == (0.5, 0.999)
    assert resolved.method.config.pool_size == 50


def test_slot_defaults_are_the_reference_weights(tmp_path):
    resolved = load_recipe(write(tmp_path, BASE))
    assert resolved.slots["cycle_loss"].config.weight == 10.0
    identity = resolved.method.config.lambda_identity * resolved.slots["cycle_loss"].config.weight
    assert identity == 5.0 and resolved.slots["identity_loss"].config.weight == 1.0  # 0.5 x lambda 10, as the reference
    assert resolved.slots["generator"].spec.name == "resnet_9blocks"
    assert resolved.slots["discriminator"].spec.name == "patchgan"
    assert resolved.slots["gan_loss"].spec.name == "lsgan"


def test_unknown_component_has_suggestion_and_listing_command(tmp_path):
    path = write(tmp_path, BASE + '[generator]\ntype = "resnet9"\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert messages(info.value) == [
        f"{path}: generator.type: unknown generator 'resnet9'; did you mean 'resnet_9blocks'? "
        "(see: ganzoo list-components generator)"
    ]


def test_unknown_field_suggests_the_right_one_and_all_errors_come_together(tmp_path):
    path = write(tmp_path, BASE + '[generator]\nngff = 32\n[discriminator]\nndf = -1\n'
                                  '[train]\nbatchsize = 2\n[method.optimizer]\nlr = 0\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    lines = messages(info.value)
    assert f"{path}: generator.ngff: unknown field; did you mean 'ngf'?" in lines
    assert f"{path}: train.batchsize: unknown field; did you mean 'batch_size'?" in lines
    assert f"{path}: discriminator.ndf: must be greater than 0, got -1" in lines
    assert f"{path}: method.optimizer.lr: must be greater than 0, got 0" in lines
    assert len(lines) == 4


def test_unknown_table_and_missing_recipe_type(tmp_path):
    path = write(tmp_path, BASE + "[generatr]\nngf = 8\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    (line,) = messages(info.value)
    assert line.startswith(f"{path}: generatr: unknown table; did you mean 'generator'?")
    path = write(tmp_path, '[data]\ntype = "procedural"\n')
    with pytest.raises(RecipeError, match=r"method.type: required: which method to use"):
        load_recipe(path)


def test_wrong_types_are_located(tmp_path):
    path = write(tmp_path, BASE + '[train]\niterations = "many"\n[generator]\ntype = 3\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    lines = messages(info.value)
    assert f"{path}: train.iterations: must be a valid integer, unable to parse string as an integer, " \
           "got 'many'" in lines
    assert f"{path}: generator.type: must be a generator name, got 3" in lines


def test_invalid_toml_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "[recipe\ntype = 1\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert str(info.value).startswith(f"{path}: invalid TOML: ")
    assert "line 1" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.toml")


def test_overrides_are_toml_literals_applied_before_validation(tmp_path):
    path = write(tmp_path, BASE)
    resolved = load_recipe(path, ["train.iterations=7", "generator.type=unet_128", "generator.ngf=8",
                                  "method.optimizer.betas=[0.9, 0.99]", "run.name=hello"])
    assert resolved.train.iterations == 7
    assert resolved.slots["generator"].spec.name == "unet_128"
    assert resolved.slots["generator"].config.ngf == 8
    assert resolved.method.config.optimizer.betas == (0.9, 0.99)
    assert resolved.name == "hello"


def test_override_errors_name_the_override(tmp_path):
    path = write(tmp_path, BASE)
    with pytest.raises(RecipeError) as info:
        load_recipe(path, ["train.iterations=10", "method.optimizer.lr=-1.0", "generator.ngff=3"])
    lines = messages(info.value)
    assert "--set #2: method.optimizer.lr: must be greater than 0, got -1.0" in lines
    assert "--set #3: generator.ngff: unknown field; did you mean 'ngf'?" in lines
    with pytest.raises(RecipeError, match=r"--set #1: expected KEY.PATH=VALUE, got 'train.iterations'"):
        load_recipe(path, ["train.iterations"])
    with pytest.raises(RecipeError, match=r"--set #1: train.iterations.x: 'train.iterations' is a value, not a table"):
        apply_overrides({"train": {"iterations": 3}}, ["train.iterations.x=1"])


def test_parse_value():
    assert parse_value("1e-4") == 1e-4
    assert parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value('"quoted"') == "quoted"
    assert parse_value("resnet_9blocks") == "resnet_9blocks"


def test_resolved_recipe_round_trips_through_toml(tmp_path):
    resolved = load_recipe(REPO / "recipes" / "quickstart.toml", ["train.iterations=3"])
    again_path = tmp_path / "resolved.toml"
    again_path.write_text(resolved.to_toml())
    again = load_recipe(again_path)
    assert again.to_dict() == resolved.to_dict()


def test_both_iterations_and_epochs_is_an_error(tmp_path):
    path = write(tmp_path, BASE + "[train]\niterations = 3\nepochs = 2\n")
    with pytest.raises(RecipeError, match="train: give iterations or epochs, not both"):
        load_recipe(path)


def test_partial_sub_table_keeps_the_methods_own_defaults(tmp_path):
    """Defaults are field defaults of a subclass (UNIT's optimizer), so a table giving only lr
    keeps UNIT's weight decay rather than falling back to OptimizerConfig's 0."""
    path = write(tmp_path, BASE.replace('type = "cyclegan"', 'type = "unit"\n[method.optimizer]\nlr = 5e-4'))
    optimizer = load_recipe(path).method.config.optimizer
    assert (optimizer.lr, optimizer.weight_decay) == (5e-4, 1e-4)
    path = write(tmp_path, BASE.replace('type = "cyclegan"', 'type = "cyclegan"\n[method.schedule]\nwarmup = 5'))
    schedule = load_recipe(path).method.config.schedule
    assert (schedule.warmup, schedule.policy, schedule.decay_start) == (5, "linear", 0.5)


def test_a_default_instance_that_a_partial_table_would_drop_is_refused_at_registration():
    from pydantic import Field

    import ganzoo
    from ganzoo.registry import PluginInfo, Registrar, Registry

    class DecayConfig(ganzoo.MethodConfig):
        optimizer: ganzoo.OptimizerConfig = Field(default_factory=lambda: ganzoo.OptimizerConfig(weight_decay=1e-5))

    class Decay(ganzoo.Method):
        Config = DecayConfig

    with pytest.raises(ganzoo.GanzooError, match=r"the default of 'optimizer' is a OptimizerConfig .* subclass"):
        Registrar(Registry(), PluginInfo("decay")).method("decay", Decay)


def test_evaluation_metrics_are_registered_names(tmp_path):
    path = write(tmp_path, BASE + "[train]\neval_metrics = ['psnr', 'ssmi']\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert messages(info.value) == [
        f"{path}: train.eval_metrics: unknown metric 'ssmi'; did you mean 'ssim'? (see: ganzoo list-components metric)"]
    path = write(tmp_path, BASE + "[train]\nbest_metric = 'psnr'\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert messages(info.value) == [f"{path}: train.best_metric: must be DIRECTION/KEY such as 'a2b/psnr' (as "
                                    "ganzoo evaluate reports), or \"\", got 'psnr'"]
    # a run directory of ganzoo 0.1 still resumes: its best_metric is read in today's form
    path = write(tmp_path, BASE + "[train]\nbest_metric = 'eval/psnr_b2a'\n")
    assert load_recipe(path).train.best_metric == "b2a/psnr"
    assert load_recipe(write(tmp_path, BASE)).train.iterations == 1000  # the default is the field's
