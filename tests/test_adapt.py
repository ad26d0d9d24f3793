"""Domain adaptation (docs/adaptation.md): task labels of the procedural data, gradient reversal,
the semantic-consistency loss, mIoU, translate_with, and tiny end-to-end runs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ganzoo.data.procedural import BACKGROUND_A, BACKGROUND_B, SHAPE_KINDS, ProceduralConfig, ProceduralDataset


def _data(split: str = "test", **kw) -> ProceduralDataset:
    return ProceduralDataset(ProceduralConfig(image_size=24, test_size=6, train_size=6, task_labels=True, **kw), split)


@pytest.mark.parametrize("outline", [0, 1])
@pytest.mark.parametrize("split", ["train", "test"])
def test_masks_align_with_the_rendered_shapes_in_both_domains(split: str, outline: int) -> None:
    data = _data(split, outline=outline)
    for index in range(len(data)):
        item = data[index]
        for domain, background, scene_index in (("A", BACKGROUND_A, index), ("B", BACKGROUND_B, data.partner(index))):
            image, mask = item[domain], item[f"{domain}_mask"]
            assert mask.shape == image.shape[1:] and mask.dtype == torch.int64
            bg = torch.tensor(background).view(3, 1, 1) * 2 - 1
            is_bg = (image - bg).abs().amax(0) < 1e-6
            assert torch.equal(is_bg, mask == 0), (split, domain, index)  # shapes exactly where the mask says
            scene = data.scene(scene_index)
            labels = scene.labels(24)
            want = np.where(labels >= 0, scene.kind[np.maximum(labels, 0)] + 1, 0)
            assert np.array_equal(mask.numpy(), want)  # each shape pixel carries its kind
            present = [k for k in range(len(SHAPE_KINDS)) if (mask == k + 1).any()]
            assert item[f"{domain}_label"].nonzero().flatten().tolist() == present
        if split == "test":  # paired: the same scene, so the same mask in both domains
            assert torch.equal(item["A_mask"], item["B_mask"])


def test_default_items_are_unchanged_without_task_labels() -> None:
    plain = ProceduralDataset(ProceduralConfig(image_size=24, test_size=3), "test")
    labelled = ProceduralDataset(ProceduralConfig(image_size=24, test_size=3, task_labels=True), "test")
    assert set(plain[0]) == {"A", "B"}
    assert torch.equal(plain[1]["A"], labelled[1]["A"]) and torch.equal(plain[1]["B"], labelled[1]["B"])


def test_gradient_reversal_flips_the_sign_and_scales_by_lambda() -> None:
    from ganzoo_adapt import dann_lambda, grad_reverse

    x = torch.randn(3, 4, requires_grad=True)
    upstream = torch.randn(3, 4)
    y = grad_reverse(x, 0.3)
    assert torch.equal(y, x)
    y.backward(upstream)
    assert torch.allclose(x.grad, -0.3 * upstream)
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert dann_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert dann_lambda(2.0) == dann_lambda(1.0)  # progress is clamped to [0, 1]


def test_semantic_consistency_is_cross_entropy_against_the_source_prediction() -> None:
    from ganzoo_adapt import SemanticConsistency
    from ganzoo_adapt.losses import TaskLossConfig  # noqa: F401 - the module loads with its configs

    import ganzoo

    loss = SemanticConsistency(ganzoo.LossConfig(weight=2.0))
    translated = torch.randn(2, 4, 5, 5, requires_grad=True)
    source = torch.randn(2, 4, 5, 5, requires_grad=True)
    value = loss(translated, source)
    want = 2.0 * torch.nn.functional.cross_entropy(translated, source.argmax(1))
    assert torch.allclose(value, want)
    value.backward()
    assert source.grad is None and translated.grad is not None  # the source prediction is only a target
    agree = loss(10 * torch.nn.functional.one_hot(source.argmax(1), 4).permute(0, 3, 1, 2).float(), source)
    assert agree < 1e-3 < value  # a prediction kept under translation costs nothing
    multi = loss(torch.tensor([[3.0, -3.0]]), torch.tensor([[1.0, -1.0]]), multi_label=True)
    assert multi < 0.2


def test_miou_on_a_hand_made_example() -> None:
    from ganzoo_adapt import SegmentationScores

    target = torch.tensor([[[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 255]]])
    pred = torch.tensor([[[0, 1, 1, 1], [0, 0, 1, 2], [2, 2, 0, 0]]])
    logits = torch.nn.functional.one_hot(pred, 4).permute(0, 3, 1, 2).float()  # class 3: never present
    metric = SegmentationScores()
    metric.update(logits, target)
    scores = metric.compute()
    # class 0: tp 3, true 4, predicted 4 -> 3/5; class 1: tp 3, true 4, predicted 4 -> 3/5; class 2: tp 2,
    # true 3, predicted 3 -> 2/4 (the ignored pixel counts for nothing; class 3 is absent from both)
    assert scores["iou_background"] == pytest.approx(3 / 5)
    assert scores["iou_disc"] == pytest.approx(3 / 5)
    assert scores["iou_rect"] == pytest.approx(2 / 4)
    assert "iou_triangle" not in scores
    assert scores["miou"] == pytest.approx((3 / 5 + 3 / 5 + 2 / 4) / 3)
    assert scores["pixel_accuracy"] == pytest.approx(8 / 11)


def test_task_accuracy_on_multi_hot_labels() -> None:
    from ganzoo_adapt import ClassificationScores

    metric = ClassificationScores()
    metric.update(torch.tensor([[2.0, -1.0, 1.0], [1.0, 1.0, -1.0]]).view(2, 3, 1, 1),
                  torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    assert metric.compute() == {"accuracy": 0.5, "label_accuracy": 5 / 6}


def _recipe(tmp_path: Path, method: str, *more: str):
    from ganzoo.recipe import load_recipe

    path = tmp_path / f"{method}.toml"
    path.write_text(
        f"[run]\nname = \"{method}\"\nseed = 0\nout_dir = '{tmp_path / 'runs'}'\n\n"
        "[train]\niterations = 2\nbatch_size = 2\nlog_every = 1\nsample_every = 0\ncheckpoint_every = 0\n"
        "eval_items = 4\neval_metrics = [\"miou\"]\n\n"
        f"[method]\ntype = \"{method}\"\n\n"
        "[data]\ntype = \"procedural\"\nimage_size = 16\ntrain_size = 8\ntest_size = 4\ntask_labels = true\n\n"
        "[task_network]\ntype = \"seg_unet\"\nngf = 4\n")
    return load_recipe(path, list(more))


def _batch(resolved, n: int = 2) -> dict:
    data = resolved.build_dataset("train")
    return {k: torch.stack([data[i][k] for i in range(n)]) for k in data[0]}


def test_translate_with_applies_the_named_runs_generator_to_source_batches(tmp_path: Path, tiny_run: Path) -> None:
    import ganzoo

    resolved = _recipe(tmp_path, "task", f"method.translate_with='{tiny_run}'", "data.image_size=16")
    method = resolved.build_method().train()
    seen = []
    method.net.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    batch = _batch(resolved)
    losses = method.task_step(batch)
    want = ganzoo.load(tiny_run, device="cpu").translate(batch["A"], "a2b")
    assert len(seen) == 1 and torch.allclose(seen[0], want, atol=1e-6)
    assert not torch.allclose(seen[0], batch["A"])
    losses["task"].backward()
    assert all(p.grad is not None for p in method.net.parameters())
    translator = method.translator.model.method
    assert not any(p.requires_grad for p in translator.parameters())  # frozen, and never a submodule
    assert all(not n.startswith("translator") for n in method.state_dict())


def test_translate_with_semantic_consistency_and_a_missing_run(tmp_path: Path, tiny_run: Path) -> None:
    import ganzoo

    resolved = _recipe(tmp_path, "task", f"method.translate_with='{tiny_run}'", "semantic_loss.weight=1.0")
    losses = resolved.build_method().train().task_step(_batch(resolved))
    assert set(losses) == {"task", "semantic"} and all(torch.isfinite(v) for v in losses.values())
    missing = _recipe(tmp_path, "task", f"method.translate_with='{tmp_path / 'nowhere'}'").build_method()
    with pytest.raises(ganzoo.GanzooError, match="no run at .*nowhere.*ganzoo run"):
        missing.task_step(_batch(resolved))


def test_dann_reverses_the_domain_gradient_into_the_task_features(tmp_path: Path) -> None:
    resolved = _recipe(tmp_path, "dann", "method.schedule_iterations=4")
    method = resolved.build_method().train()
    batch = _batch(resolved)
    assert method.grl_lambda == 0.0
    method.task_step(batch)
    assert method.grl_lambda == pytest.approx(2 / (1 + math.exp(-2.5)) - 1)  # p = 1/4 after one step
    # The domain term alone: the domain classifier descends it, the task network ascends it.
    method.zero_grad()
    lam = method.grl_lambda  # what this step uses; it counts itself after
    method.task_step(batch)["domain"].backward()
    head = method.net.down[0][0].weight.grad
    method.zero_grad()  # the same term without the reversal: the opposite gradient, 1/lambda as large
    features = method.net.embed(torch.cat([batch["A"], batch["B"]]))
    scores = method.domain(features)
    target = torch.cat([torch.zeros_like(scores[:2]), torch.ones_like(scores[2:])])
    torch.nn.functional.binary_cross_entropy_with_logits(scores, target).backward()
    assert torch.allclose(head, -lam * method.net.down[0][0].weight.grad, atol=1e-6)


def test_a_tiny_source_only_run_reports_target_miou(tmp_path: Path) -> None:
    import ganzoo
    from ganzoo.engine.trainer import Trainer

    run = Trainer(_recipe(tmp_path, "task"), show_progress=False).fit().run_dir
    report = ganzoo.evaluate(run, device="cpu")
    assert {"a2b/miou", "b2a/miou", "b2a/pixel_accuracy"} <= set(report.results)
    assert 0 <= report.results["b2a/miou"] <= 1


def test_evaluate_defaults_to_the_task_metrics(tmp_path: Path, ganzoo_cli) -> None:
    from ganzoo.engine.trainer import Trainer

    run = Trainer(_recipe(tmp_path, "dann"), show_progress=False).fit().run_dir
    result = ganzoo_cli("evaluate", str(run), "--json", "-", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "b2a/miou" in result.stdout and "fid" not in result.stdout


def test_a_classifier_learns_from_image_labels(tmp_path: Path) -> None:
    resolved = _recipe(tmp_path, "task", "method.labels='label'", "task_network.type='task_classifier'",
                       "task_network.ndf=4")
    method = resolved.build_method().train()
    assert method.task_metrics == ("task_accuracy",)
    losses = method.task_step(_batch(resolved))
    losses["task"].backward()
    assert method.predict(torch.zeros(2, 3, 16, 16)).shape == (2, 3, 1, 1)


def test_labelled_folders_read_index_masks_and_csv_labels(tmp_path: Path) -> None:
    from ganzoo_adapt import LabelledFolders, LabelledFoldersConfig
    from PIL import Image

    import ganzoo

    for folder in ("testA", "testA_labels", "testB", "testB_labels"):
        (tmp_path / folder).mkdir()
    mask = np.zeros((8, 8), dtype=np.uint8)
    mask[:, 4:] = 2
    mask[0, 0] = 255
    for d in "AB":
        for i in range(2):
            Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(tmp_path / f"test{d}" / f"{i}.png")
            Image.fromarray(mask).save(tmp_path / f"test{d}_labels" / f"{i}.png")
    item = LabelledFolders(LabelledFoldersConfig(root=tmp_path, image_size=8), "test")[1]
    assert torch.equal(item["B_mask"], torch.from_numpy(mask.astype(np.int64)))
    assert item["A"].shape == (3, 8, 8) and item["A_path"].endswith("1.png")
    (tmp_path / "testA_labels.csv").write_text("filename,label\n0.png,1\n1.png,0\n")
    classes = LabelledFolders(LabelledFoldersConfig(root=tmp_path, image_size=8, labels="label"), "test")
    assert classes[0]["A_label"] == 1 and "B_label" not in classes[0]
    with pytest.raises(ganzoo.DataError, match="no images in .*trainA"):
        LabelledFolders(LabelledFoldersConfig(root=tmp_path), "train")


def test_dann_can_align_the_bottleneck_too(tmp_path: Path) -> None:
    resolved = _recipe(tmp_path, "dann", "method.align='last+bottleneck'")
    method = resolved.build_method().train()
    method.steps_done.fill_(500)  # lambda near 1
    losses = method.task_step(_batch(resolved))
    assert set(losses) == {"task", "domain", "domain_deep"}
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in method.domain_deep.parameters())
    assert all(any(p is q for q in method.param_groups()["T"]) for p in method.domain_deep.parameters())
