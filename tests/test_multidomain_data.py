"""Multi-domain data: the built-in K-style procedural set, domain folders, CelebA attribute lists,
and recipe validation of the labels a method needs."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from ganzoo.data.domain_folders import (
    CelebAAttributesConfig,
    CelebAAttributesDataset,
    DomainFoldersConfig,
    DomainFoldersDataset,
)
from ganzoo.data.labels import domain_targets, label_issues, parse_target
from ganzoo.data.multidomain import MultiDomainProceduralConfig, MultiDomainProceduralDataset, render_style
from ganzoo.errors import DataError, GanzooError, RecipeError
from ganzoo.recipe import recipe_from_dict
from ganzoo.testing import write_domain_folders


def _procedural(split: str, **changes):
    config = MultiDomainProceduralConfig(image_size=16, train_size=12, test_size=9, **changes)
    return MultiDomainProceduralDataset(config, split)


def test_every_test_item_carries_its_scene_in_every_domain():
    data = _procedural("test", domains=["warm", "cool", "violet", "pastel"])
    assert data.domains == ["warm", "cool", "violet", "pastel"] and data.paired
    for i in range(len(data)):
        item = data[i]
        assert item["targets"].shape == (4, 3, 16, 16) and int(item["domain"]) == i % 4
        scene = data.scene(i)
        labels = scene.labels(16)
        for d, name in enumerate(data.domains):  # drawn independently of the data set's own path
            assert torch.equal(item["targets"][d], render_style(scene, labels, name))
        assert torch.equal(item["image"], item["targets"][i % 4])
        # the same scene, yet every pair of domains differs (hues and backgrounds)
        flat = item["targets"].flatten(1)
        assert all((flat[a] - flat[b]).abs().max() > 0.2 for a in range(4) for b in range(a + 1, 4))
    assert torch.equal(data[3]["targets"], _procedural("test", domains=data.domains)[3]["targets"])  # seeded


def test_train_items_are_labelled_and_carry_references_when_asked():
    plain = _procedural("train")
    item = plain[5]
    assert set(item) == {"image", "domain"} and int(item["domain"]) == 5 % 3 and not plain.paired
    refs = _procedural("train", references=True)
    torch.manual_seed(0)
    for i in range(6):
        item = refs[i]
        assert item["ref"].shape == item["ref2"].shape == (3, 16, 16)
        assert 0 <= int(item["ref_domain"]) < 3 and not torch.equal(item["ref"], item["ref2"])


def test_domain_folders_label_images_by_folder_and_find_val(tmp_path):
    root = write_domain_folders(tmp_path / "afhq", ("cat", "dog", "wild"), n=2)
    config = DomainFoldersConfig(root=root, load_size=16, crop_size=16)
    train, test = DomainFoldersDataset(config, "train"), DomainFoldersDataset(config, "test")
    assert train.domains == ["cat", "dog", "wild"] and len(train) == 6 and len(test) == 6
    assert [int(train[i]["domain"]) for i in range(6)] == [0, 0, 1, 1, 2, 2]
    assert "/val/dog/" in test[2]["path"] and train[0]["image"].shape == (3, 16, 16)
    chosen = DomainFoldersConfig(root=root, load_size=16, crop_size=16, domains=["wild", "cat"], references=True)
    item = DomainFoldersDataset(chosen, "train")[0]
    assert "/wild/" in item["path"] and int(item["domain"]) == 0 and "ref2" in item
    with pytest.raises(DataError, match="no folder .*lion"):
        DomainFoldersDataset.check_source(DomainFoldersConfig(root=root, domains=["lion"]))
    (root / "val" / "wild" / "0.png").unlink()
    (root / "val" / "wild" / "1.png").unlink()
    with pytest.raises(DataError, match="domain wild of split test: folder .* has no images"):
        DomainFoldersDataset.check_source(config, "test")


def _celeba(root, n=6):
    (root / "images").mkdir(parents=True)
    names = ["5_o_Clock_Shadow", "Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
    lines = [str(n), " ".join(names)]
    for i in range(n):
        values = ["-1"] * len(names)
        values[1 + i % 3] = "1"  # one hair colour each
        values[4] = "1" if i % 2 else "-1"
        lines.append(f"{i:06d}.jpg  " + " ".join(values))
        Image.new("RGB", (30, 36), (10 * i, 0, 0)).save(root / "images" / f"{i:06d}.jpg")
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return root


def test_celeba_attributes_are_parsed_multi_label_and_split_as_the_reference(tmp_path):
    root = _celeba(tmp_path / "celeba")
    config = CelebAAttributesConfig(root=root, crop_size=24, image_size=16, test_items=2,
                                    attributes=["Blond_Hair", "Male", "Young"])
    train, test = CelebAAttributesDataset(config, "train"), CelebAAttributesDataset(config, "test")
    assert len(train) == 4 and len(test) == 2 and train.domains == ["Blond_Hair", "Male", "Young"]
    assert {p.name for p in train.files}.isdisjoint({p.name for p in test.files})
    for item in (train[0], test[1]):
        i = int(item["path"][-10:-4])
        expected = [float(i % 3 == 1), float(i % 2 == 1), 0.0]
        assert item["attributes"].tolist() == expected and item["image"].shape == (3, 16, 16)
    import random

    order = list(range(6))
    random.Random(1234).shuffle(order)  # the reference's random.seed(1234); random.shuffle(lines)
    assert [int(p.stem) for p in test.files] == order[:2]


def test_celeba_problems_are_named(tmp_path):
    root = _celeba(tmp_path / "celeba")
    with pytest.raises(DataError, match="no attribute Blond_Hiar.*did you mean 'Blond_Hair'"):
        CelebAAttributesDataset(CelebAAttributesConfig(root=root, attributes=["Blond_Hiar"]), "train")
    with pytest.raises(DataError, match="list_attr_celeba.txt does not exist.*download.sh celeba"):
        CelebAAttributesDataset.check_source(CelebAAttributesConfig(root=tmp_path / "nowhere"))


def test_recipe_validation_says_when_labels_are_missing_or_not_wanted():
    with pytest.raises(RecipeError, match="method 'cyclegan' translates between two domains.*multi-domain"):
        recipe_from_dict({"method": {"type": "cyclegan"}, "data": {"type": "multidomain_procedural"}})

    class Labelled:
        needs_labels = ("domain", "attributes")

    class Config:
        domains: list[str] = []

    config = Config()
    problems = label_issues("m", Labelled, config, "procedural", type("Two", (), {}), None)
    assert problems and "trains on labelled images" in problems[0][1] and "multidomain_procedural" in problems[0][1]
    data_config = MultiDomainProceduralConfig()
    assert label_issues("m", Labelled, config, "mp", MultiDomainProceduralDataset, data_config) == []
    assert config.domains == ["warm", "cool", "violet"]  # filled in from the data set
    config.domains = ["cool", "warm", "violet"]
    assert "differ from the data's" in label_issues("m", Labelled, config, "mp", MultiDomainProceduralDataset,
                                                    data_config)[0][1]


def test_targets_of_a_label_and_of_translate_to():
    names = ["Black_Hair", "Blond_Hair", "Male"]
    label = torch.tensor([1.0, 0.0, 1.0])
    targets = dict(domain_targets("attributes", names, label))
    assert targets["Blond_Hair"].tolist() == [0.0, 1.0, 1.0]  # a hair colour replaces the other
    assert targets["no_Male"].tolist() == [1.0, 0.0, 0.0]  # any other attribute flips
    assert [int(t) for _, t in domain_targets("domain", ["a", "b"], torch.tensor(0))] == [0, 1]
    assert int(parse_target("cool", ["warm", "cool"], "domain")) == 1
    assert parse_target("Blond_Hair=1, Male=0", names, "attributes") == {1: 1.0, 2: 0.0}
    with pytest.raises(GanzooError, match="not a domain of this model.*did you mean 'cool'"):
        parse_target("cold", ["warm", "cool"], "domain")
    with pytest.raises(GanzooError, match="NAME=0|1"):
        parse_target("Blond_Hair", names, "attributes")


class _Recolour(torch.nn.Module):
    """A stand-in multi-domain method: shifts the image by its target domain's index."""

    needs_labels = ("domain",)

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def translate(self, x, direction="a2b", *, target=None, reference=None):
        return (x + 0.1 * target.view(-1, 1, 1, 1).float()).clamp(-1, 1)


def test_evaluation_scores_every_domain_pair_against_ground_truth_or_the_target_domain(tmp_path):
    from ganzoo.metrics.evaluate import build_metrics, evaluate

    data = _procedural("test")
    report = evaluate(_Recolour(), data, build_metrics(["psnr"]), max_items=9)
    pairs = [f"{s}2{t}" for s in data.domains for t in data.domains if s != t]
    assert sorted(k for k in report.results if k != "mean/psnr") == sorted(f"{p}/psnr" for p in pairs)
    assert report.results["mean/psnr"] == pytest.approx(sum(report.results[f"{p}/psnr"] for p in pairs) / 6)
    assert report.protocol["columns"] == [*pairs, "mean"] and report.protocol["tasks"]["warm2cool"]["sources"] == 3
    # folders have no ground truth: distribution metrics against the real images of the target domain
    root = write_domain_folders(tmp_path / "afhq", ("cat", "dog"), n=3, size=16)
    folders = DomainFoldersDataset(DomainFoldersConfig(root=root, load_size=16, crop_size=16), "test")
    metrics = build_metrics(["psnr", "fid"], {"fid": {"random_weights": True, "resize": 75, "dims": 64}})
    report = evaluate(_Recolour(), folders, metrics)
    assert {"cat2dog/fid", "dog2cat/fid", "mean/fid"} == set(report.results)
    assert "needs ground truth" in report.skipped["mean/psnr"]


def test_data_dir_switches_the_built_in_multidomain_data_to_domain_folders(tmp_path):
    root = write_domain_folders(tmp_path / "afhq", ("cat", "dog"), n=2)
    raw = {"method": {"type": "cyclegan"}, "data": {"type": "multidomain_procedural", "image_size": 16}}
    with pytest.raises(RecipeError) as info:  # still refused: cyclegan needs A/B, but the data switched
        recipe_from_dict(raw, data=root)
    assert "data 'domain_folders' is multi-domain" in str(info.value)


def test_attribute_assignments_keep_what_the_classifier_sees_and_clear_other_hair_colours():
    from types import SimpleNamespace

    from ganzoo.data.labels import translate_target

    class Attributes:
        needs_labels = ("attributes",)
        config = SimpleNamespace(domains=["Black_Hair", "Blond_Hair", "Male", "Young"])

        def classify(self, x):
            return torch.tensor([0.9, 0.1, 0.8, 0.2]).expand(x.shape[0], -1)

    target = translate_target(Attributes(), "attributes", "Blond_Hair=1,Young=1")
    assert target(torch.zeros(2, 3, 8, 8)).tolist() == [[0.0, 1.0, 1.0, 1.0]] * 2
    assert translate_target(Attributes(), "attributes", "Male=0")(torch.zeros(1, 3, 8, 8)).tolist() == \
        [[1.0, 0.0, 0.0, 0.0]]
    with pytest.raises(GanzooError, match="translates between two domains"):
        translate_target(object(), None, "cool")


def test_batch_augmentation_reaches_multidomain_images_and_references():
    from ganzoo.data.augment import BatchAugment
    from ganzoo.engine.data import prepare_batch

    torch.manual_seed(0)
    batch = {"image": torch.rand(4, 3, 16, 16), "ref": torch.rand(4, 3, 16, 16), "domain": torch.tensor([0, 1, 2, 0])}
    out = prepare_batch(batch, torch.device("cpu"), BatchAugment({"policy": "color", "p": 1.0}), paired=False,
                        channels_last=False)
    assert not torch.equal(out["image"], batch["image"]) and not torch.equal(out["ref"], batch["ref"])
    assert torch.equal(out["domain"], batch["domain"])


def test_diversity_per_domain_pair_for_a_stochastic_method_and_skipped_for_a_deterministic_one(monkeypatch):
    from ganzoo.metrics.diversity import Diversity
    from ganzoo.metrics.evaluate import build_metrics, evaluate

    class _L1(torch.nn.Module):  # a stand-in for LPIPS
        def forward(self, a, b):
            return (a - b).abs().flatten(1).mean(1)

    class _Noisy(_Recolour):
        stochastic_inference = True

        def translate(self, x, direction="a2b", *, target=None, reference=None):
            return (super().translate(x, target=target) + 0.1 * torch.randn_like(x)).clamp(-1, 1)

    monkeypatch.setattr(Diversity, "model", lambda self: _L1())
    monkeypatch.setattr(Diversity, "check", lambda self: None)
    data = _procedural("test")
    report = evaluate(_Noisy(), data, build_metrics(["diversity"], {"diversity": {"samples": 3}}), max_items=6)
    assert "warm2cool/diversity" in report.results and report.results["mean/diversity"] > 0
    report = evaluate(_Recolour(), data, build_metrics(["psnr", "diversity"]), max_items=6)
    assert "mean/psnr" in report.results and "one image" in report.skipped["mean/diversity"]
