"""StarGAN: the reference's networks and losses, one training run on the built-in multi-domain data
(exact resume, per-pair evaluation, one-input-to-every-domain grids) and ``translate --to``."""

from __future__ import annotations

import math
import shutil

import pytest
import torch
from torch import nn

from ganzoo.errors import RecipeError

TINY = ["train.iterations=4", "train.batch_size=4", "train.sample_every=0", "train.checkpoint_every=2",
        "train.log_every=2", "train.eval_items=6", "data.image_size=16", "data.train_size=16", "data.test_size=6",
        "generator.conv_dim=4", "generator.repeat_num=1", "discriminator.conv_dim=4", "discriminator.image_size=16",
        "discriminator.repeat_num=4", "method.n_critic=2", "gan_loss.type=wgangp"]  # the reference's objective


def _recipe(tmp_path, *more: str):
    from ganzoo.recipe import load_recipe

    return load_recipe("recipes/stargan_quickstart.toml", [*TINY, f"run.out_dir='{tmp_path / 'runs'}'", *more])


def generator_parameters(conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6, nc: int = 3) -> int:
    """The reference Generator's parameter count, from its layer list (no conv bias; affine IN)."""
    norm = lambda c: 2 * c  # noqa: E731
    count = (nc + c_dim) * conv_dim * 49 + norm(conv_dim)
    count += conv_dim * 2 * conv_dim * 16 + norm(2 * conv_dim) + 2 * conv_dim * 4 * conv_dim * 16 + norm(4 * conv_dim)
    count += repeat_num * 2 * (4 * conv_dim * 4 * conv_dim * 9 + norm(4 * conv_dim))
    count += 4 * conv_dim * 2 * conv_dim * 16 + norm(2 * conv_dim) + 2 * conv_dim * conv_dim * 16 + norm(conv_dim)
    return count + conv_dim * nc * 49


def discriminator_parameters(image_size: int = 128, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6) -> int:
    """The reference Discriminator's: biased stride-2 convs, then the two bias-free heads."""
    count, dim = 3 * conv_dim * 16 + conv_dim, conv_dim
    for _ in range(1, repeat_num):
        count += dim * 2 * dim * 16 + 2 * dim
        dim *= 2
    side = image_size // 2 ** repeat_num
    return count + dim * 9 + dim * c_dim * side * side


def test_default_networks_match_the_reference_shapes_and_parameter_counts():
    from ganzoo_stargan import (
        StarGANDiscriminator,
        StarGANDiscriminatorConfig,
        StarGANGenerator,
        StarGANGeneratorConfig,
    )

    g = StarGANGenerator(StarGANGeneratorConfig())
    d = StarGANDiscriminator(StarGANDiscriminatorConfig())
    assert sum(p.numel() for p in g.parameters()) == generator_parameters() == 8_430_528
    assert sum(p.numel() for p in d.parameters()) == discriminator_parameters() == 44_762_048
    # the reference's module names, so its checkpoints load with strict=True
    assert {"main.0.weight", "main.1.running_mean", "main.9.main.3.weight", "main.21.weight"} <= set(g.state_dict())
    assert {"main.0.bias", "main.10.weight", "conv1.weight", "conv2.weight"} == set(d.state_dict()) & {
        "main.0.bias", "main.10.weight", "conv1.weight", "conv2.weight"}
    with torch.no_grad():
        assert g(torch.zeros(2, 3, 32, 32), torch.eye(5)[:2]).shape == (2, 3, 32, 32)
        scores, logits = d(torch.zeros(2, 3, 128, 128))
    assert scores.shape == (2, 1, 2, 2) and logits.shape == (2, 5)
    with torch.no_grad():  # other sizes are resized to the size the classification head spans
        assert [t.shape for t in d(torch.zeros(1, 3, 64, 64))] == [(1, 1, 2, 2), (1, 5)]


def test_the_generator_normalises_each_image_by_itself_in_eval_mode_too():
    from ganzoo_stargan import StarGANGenerator, StarGANGeneratorConfig

    g = StarGANGenerator(StarGANGeneratorConfig(conv_dim=4, repeat_num=1, c_dim=3)).eval()
    x, c = torch.randn(2, 3, 16, 16), torch.eye(3)[:2]
    with torch.no_grad():
        assert torch.allclose(g(x, c)[:1], g(x[:1], c[:1]), atol=1e-6)  # batch-independent
        assert torch.allclose(g(x, c), g.train()(x, c), atol=1e-6)  # the reference never calls G.eval()


def test_wgan_gp_penalty_matches_a_hand_computed_value(tmp_path):
    method = _recipe(tmp_path).build_method()
    assert method.gan_loss.config.gp_weight == 10.0 and method.rec_loss.weight == 10.0

    class Linear(nn.Module):  # D(x) = <w, x>: its gradient is w at every interpolate
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.full((3, 4, 4), 0.1))

        def forward(self, x):
            return (x * self.w).flatten(1).sum(1).view(-1, 1, 1, 1), torch.zeros(x.shape[0], 3)

    from ganzoo_stargan.method import _Scores

    critic = Linear()
    penalty = method.gan_loss.penalty(_Scores(critic), torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4))
    norm = math.sqrt(48 * 0.1 ** 2)
    assert float(penalty.detach()) == pytest.approx(10 * (norm - 1) ** 2, rel=1e-5)


def test_training_refuses_images_of_another_size_than_the_discriminator_is_built_for(tmp_path):
    method = _recipe(tmp_path, "discriminator.image_size=32", "discriminator.repeat_num=5").build_method()
    batch = {"image": torch.zeros(2, 3, 16, 16), "domain": torch.tensor([0, 2])}
    with pytest.raises(Exception, match="built for 32 px images .* set discriminator.image_size"):
        method.discriminator_step(batch)


def test_domain_classification_loss_on_multi_label_and_single_label_batches():
    from ganzoo_stargan import classification_loss

    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    attributes = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    expected = -(math.log(sig(0)) + math.log(1 - sig(2)) + math.log(sig(1)) + math.log(sig(-1))) / 2  # sum / N
    assert float(classification_loss(logits, attributes)) == pytest.approx(expected, rel=1e-6)
    logits = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    domains = torch.tensor([2, 0])
    expected = (-math.log(math.exp(3) / (math.exp(1) + math.exp(2) + math.exp(3))) + math.log(3)) / 2
    assert float(classification_loss(logits, domains)) == pytest.approx(expected, rel=1e-6)


def test_the_recipe_refuses_data_without_labels_and_the_reference_recipe_missing_celeba(tmp_path):
    from ganzoo.recipe import load_recipe

    with pytest.raises(RecipeError, match="trains on labelled images .* data 'procedural' is two-domain"):
        load_recipe("recipes/stargan_quickstart.toml", ["data.type=procedural"])
    with pytest.raises(RecipeError, match="list_attr_celeba.txt does not exist.*download.sh celeba"):
        load_recipe("recipes/stargan_celeba.toml", [f"data.root='{tmp_path / 'celeba'}'"])
    resolved = _recipe(tmp_path)
    assert resolved.method.config.domains == ["warm", "cool", "violet"]  # from the data set
    assert [(s.name, s.every) for s in resolved.build_method().train_steps()] == [("D", 1), ("G", 2)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from ganzoo.engine.trainer import Trainer

    tmp_path = tmp_path_factory.mktemp("stargan")
    result = Trainer(_recipe(tmp_path), run_dir=tmp_path / "straight", show_progress=False).fit()
    return tmp_path, result


def test_resume_reproduces_the_next_steps_exactly(trained):
    from safetensors.torch import load_file

    from ganzoo.engine.trainer import Trainer

    tmp_path, straight = trained
    crashed = tmp_path / "crashed"
    shutil.copytree(straight.run_dir, crashed)
    shutil.rmtree(crashed / "checkpoints" / "final")
    (crashed / "checkpoints" / "latest").write_text("step_0000002")
    Trainer(_recipe(tmp_path), run_dir=crashed, resume=True, show_progress=False).fit()
    a = load_file(straight.run_dir / "checkpoints" / "final" / "model.safetensors")
    b = load_file(crashed / "checkpoints" / "final" / "model.safetensors")
    at_2 = load_file(crashed / "checkpoints" / "step_0000002" / "model.safetensors")
    assert any(not torch.equal(a[k], at_2[k]) for k in a if k.startswith("G."))  # G stepped after step 2
    assert a.keys() == b.keys() and [k for k in a if not torch.equal(a[k], b[k])] == []


def test_training_reports_per_pair_psnr_and_draws_every_domain(trained):
    tmp_path, result = trained
    pairs = [f"{s}2{t}" for s in ("warm", "cool", "violet") for t in ("warm", "cool", "violet") if s != t]
    final = result.evaluations[-1]
    assert {f"{p}/psnr" for p in pairs} | {"mean/psnr"} <= set(final)
    assert final["mean/psnr"] == pytest.approx(sum(final[f"{p}/psnr"] for p in pairs) / 6)
    from ganzoo.engine.samples import SampleInputs

    resolved = _recipe(tmp_path)
    inputs = SampleInputs.build(resolved, resolved.build_dataset("train"), seed=0, n=2)
    method = resolved.build_method()
    image, columns = inputs.draw(method)
    assert columns == ["real", "warm", "cool", "violet"]
    assert image.size[1] > 4 * 128  # 2 inputs, each over its row of ground truths


def test_translate_to_a_domain_and_its_errors(trained, ganzoo_cli):
    from PIL import Image

    tmp_path, result = trained
    Image.new("RGB", (20, 12), (200, 40, 40)).save(tmp_path / "in.png")
    outputs = {}
    for domain in ("cool", "violet"):
        out = tmp_path / f"to_{domain}"
        r = ganzoo_cli("translate", result.run_dir, tmp_path / "in.png", "--to", domain, "--out", out,
                       "--no-progress")
        assert r.exit_code == 0, r.output
        outputs[domain] = Image.open(out / "in.png")
        assert outputs[domain].size == (20, 12)
    assert outputs["cool"].tobytes() != outputs["violet"].tobytes()
    r = ganzoo_cli("translate", result.run_dir, tmp_path / "in.png", "--to", "cold", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "not a domain of this model; did you mean 'cool'" in r.stderr
    r = ganzoo_cli("translate", result.run_dir, tmp_path / "in.png", "--out", tmp_path / "x")
    assert r.exit_code == 2 and "give --to DOMAIN (domains: warm, cool, violet)" in r.stderr
    r = ganzoo_cli("export", result.run_dir, "--out", tmp_path / "g.pt")
    assert r.exit_code == 2 and "target label, which export does not support yet" in r.stderr
    import ganzoo

    model = ganzoo.load(result.run_dir, device="cpu")  # the Python API takes the same targets
    x = torch.rand(3, 16, 16) * 2 - 1
    assert not torch.equal(model.translate(x, to="cool"), model.translate(x, to="violet"))
    r = ganzoo_cli("evaluate", result.run_dir, "--metrics", "psnr", "--no-progress")
    assert r.exit_code == 0, r.output
    assert "warm2cool" in r.stdout and "mean" in r.stdout and "skipped" not in r.stdout


def test_data_dir_trains_the_quickstart_on_domain_folders(tmp_path):
    from ganzoo.recipe import load_recipe
    from ganzoo.testing import write_domain_folders

    root = write_domain_folders(tmp_path / "afhq", ("cat", "dog"), n=2)
    resolved = load_recipe("recipes/stargan_quickstart.toml", data=root)
    assert resolved.data.spec.name == "domain_folders" and resolved.method.config.domains == ["cat", "dog"]


def test_attribute_batches_train_with_binary_cross_entropy(tmp_path):
    method = _recipe(tmp_path).build_method()
    batch = {"image": torch.rand(4, 3, 16, 16) * 2 - 1, "attributes": torch.tensor(
        [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])}
    d = method.discriminator_step(batch)
    g = method.generator_step(batch)
    assert set(d) == {"D_adv", "D_cls"} and set(g) == {"G_adv", "G_cls", "G_rec"}
    assert all(torch.isfinite(v) for v in [*d.values(), *g.values()])
    out = method.translate(batch["image"], target=torch.tensor([[0.0, 1.0, 0.0]]).expand(4, -1))
    assert out.shape == batch["image"].shape
    with pytest.raises(Exception, match="translates into a target domain"):
        method.translate(batch["image"])
