"""Task metrics: per-class IoU, mIoU and pixel accuracy for segmentation; accuracy for classification.

They score the method's raw predictions against the labels of the images predicted on (the
evaluator's ``target_key`` contract, :class:`ganzoo.Metric`), so ``b2a/miou`` is the mIoU on
domain B's (the target's) test images.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor

import ganzoo
from ganzoo import GanzooError


class TaskMetricConfig(ganzoo.MetricConfig):
    ignore_index: int = Field(255, description="Label value left out of every score.")
    class_names: list[str] = Field(
        default_factory=lambda: ["background", "disc", "rect", "triangle"],
        description="Names of the classes, in index order, for the per-class keys (iou_<name>); classes past "
                    "the list are called by index.")


def confusion(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int = 255) -> Tensor:
    """(num_classes, num_classes) counts, rows the true class, columns the predicted one."""
    keep = target != ignore_index
    t, p = target[keep].long(), pred[keep].long()
    return torch.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_scores(matrix: Tensor) -> tuple[Tensor, Tensor]:
    """Per-class IoU from a confusion matrix, and which classes occur (true or predicted): a class
    absent from both has no IoU and is left out of the mean, as in the Cityscapes scripts."""
    matrix = matrix.double()
    tp = matrix.diag()
    union = matrix.sum(0) + matrix.sum(1) - tp
    return tp / union.clamp(min=1), union > 0


class SegmentationScores(ganzoo.Metric):
    """mIoU, per-class IoU and pixel accuracy of per-pixel logits (N, C, H, W) against *_mask labels."""

    Config = TaskMetricConfig
    needs_target = True
    target_key = "_mask"
    higher_is_better = {"miou": True, "pixel_accuracy": True}

    def reset(self) -> None:
        self.matrix: Tensor | None = None

    def update(self, output: Tensor, target: Tensor | None = None) -> None:
        if target is None or output.dim() != 4 or target.shape != output.shape[:1] + output.shape[2:]:
            raise GanzooError(f"miou needs per-pixel logits (N, C, H, W) and masks (N, H, W); got "
                              f"{tuple(output.shape)} and {None if target is None else tuple(target.shape)}")
        n = output.shape[1]
        if self.matrix is None:
            self.matrix = torch.zeros(n, n, dtype=torch.long)
        self.matrix += confusion(output.argmax(1), target, n, self.config.ignore_index)

    def compute(self) -> dict[str, float]:
        if self.matrix is None or not self.matrix.sum():
            raise GanzooError("miou: no labelled pixel was scored")
        iou, present = iou_scores(self.matrix)
        names = list(self.config.class_names)
        out = {"miou": float(iou[present].mean()),
               "pixel_accuracy": float(self.matrix.diag().sum() / self.matrix.sum())}
        for k in range(len(iou)):
            if present[k]:
                out[f"iou_{names[k] if k < len(names) else k}"] = float(iou[k])
        return out


class ClassificationScores(ganzoo.Metric):
    """Accuracy of logits (N, C[, 1, 1]) against *_label labels: class indices (N,), or multi-hot
    (N, C) floats, where an image counts as right when every label is (exact match) and
    ``label_accuracy`` is the fraction of labels right."""

    Config = TaskMetricConfig
    needs_target = True
    target_key = "_label"
    higher_is_better = {"accuracy": True, "label_accuracy": True}

    def reset(self) -> None:
        self.right = self.total = self.labels_right = self.labels_total = 0

    def update(self, output: Tensor, target: Tensor | None = None) -> None:
        if target is None:
            raise GanzooError("task_accuracy needs *_label labels")
        logits = output.flatten(1)
        if target.is_floating_point():  # multi-hot
            hits = (logits > 0) == (target > 0.5)
            self.right += int(hits.all(1).sum())
            self.labels_right += int(hits.sum())
            self.labels_total += hits.numel()
        else:
            self.right += int((logits.argmax(1) == target).sum())
        self.total += len(target)

    def compute(self) -> dict[str, float]:
        if not self.total:
            raise GanzooError("task_accuracy: no labelled image was scored")
        out = {"accuracy": self.right / self.total}
        if self.labels_total:
            out["label_accuracy"] = self.labels_right / self.labels_total
        return out
