"""Entry point of the ``adapt`` plugin (components registered by import path: listing them needs no torch)."""

import ganzoo


@ganzoo.hookimpl
def register_components(registrar: ganzoo.Registrar) -> None:
    registrar.component("task_network", "seg_unet", "ganzoo_adapt.networks:SegUNet",
                        summary="Small U-Net segmenter: image -> per-pixel class logits (output_nc classes).")
    registrar.component("task_network", "task_classifier", "ganzoo_adapt.networks:TaskClassifier",
                        summary="Small CNN classifier: image -> (N, output_nc, 1, 1) class logits.")
    # The domain classifier judges feature maps, as a discriminator judges images.
    registrar.discriminator("domain_classifier", "ganzoo_adapt.networks:DomainClassifier",
                            summary="DANN's domain classifier: a feature map -> source/target logit per patch.")
    registrar.loss("task_ce", "ganzoo_adapt.losses:TaskCrossEntropy",
                   summary="Cross-entropy on class indices with an ignore index (BCE for multi-hot labels).")
    registrar.loss("semantic_consistency", "ganzoo_adapt.losses:SemanticConsistency",
                   summary="CyCADA's semantic consistency: the task model's prediction on a translated "
                           "image should match its prediction on the source image.")
    registrar.metric("miou", "ganzoo_adapt.metrics:SegmentationScores",
                     summary="Segmentation: mean and per-class IoU and pixel accuracy against *_mask labels.")
    registrar.metric("task_accuracy", "ganzoo_adapt.metrics:ClassificationScores",
                     summary="Classification: accuracy against *_label labels (exact match for multi-hot).")
    registrar.method("task", "ganzoo_adapt.methods:TaskMethod",
                     summary="Train a task model on source labels (source only), target labels (oracle) or "
                             "source images translated by a trained run (pixel-level adaptation).")
    registrar.method("dann", "ganzoo_adapt.methods:DANN",
                     summary="Feature-level adaptation: gradient reversal into a domain classifier (Ganin et al.).")
    registrar.dataset("labelled_folders", "ganzoo_adapt.folders:LabelledFolders",
                      summary="Unpaired folders with task labels: trainA/ + trainA_labels/ index-mask PNGs, "
                              "testB/ + testB_labels/ (Cityscapes-style), or class labels from a CSV.")
