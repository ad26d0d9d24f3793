"""Domain adaptation measured by a downstream task (docs/adaptation.md): task networks, the task
loss and metrics, gradient reversal, and the methods ``task`` (source only, target oracle,
pixel-level adaptation through a trained translation run) and ``dann`` (feature-level)."""

import ganzoo

_EXPORTS = {  # imported on first use, so that loading the entry point needs no torch
    "ganzoo_adapt.networks": ("SegUNet", "SegUNetConfig", "TaskClassifier", "TaskClassifierConfig",
                              "DomainClassifier", "DomainClassifierConfig"),
    "ganzoo_adapt.losses": ("TaskCrossEntropy", "TaskLossConfig", "SemanticConsistency", "GradientReversal",
                            "grad_reverse", "dann_lambda"),
    "ganzoo_adapt.metrics": ("SegmentationScores", "ClassificationScores", "TaskMetricConfig", "confusion",
                             "iou_scores"),
    "ganzoo_adapt.methods": ("TaskMethod", "TaskMethodConfig", "DANN", "DANNConfig", "RunTranslator"),
    "ganzoo_adapt.folders": ("LabelledFolders", "LabelledFoldersConfig"),
}
__getattr__, __dir__ = ganzoo.lazy_exports(__name__, _EXPORTS)

__all__ = [name for names in _EXPORTS.values() for name in names]
