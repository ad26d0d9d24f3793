"""The core's own datasets, registered through the same hook as any plugin (like pytest's
built-in plugins), so they are listed with provenance and can be overridden by name clash rules.
Registered by import path: listing them needs no torch."""

from __future__ import annotations

from ganzoo.hookspecs import hookimpl


@hookimpl
def register_components(registrar):
    registrar.dataset("procedural", "ganzoo.data.procedural:ProceduralDataset")
    registrar.dataset("unpaired_folders", "ganzoo.data.folders:UnpairedFolderDataset")
    registrar.dataset("two_folders", "ganzoo.data.two_folders:TwoFoldersDataset")
    registrar.dataset("aligned", "ganzoo.data.paired:AlignedDataset")
    registrar.dataset("paired_folders", "ganzoo.data.paired:PairedFoldersDataset")
    registrar.dataset("multidomain_procedural", "ganzoo.data.multidomain:MultiDomainProceduralDataset")
    registrar.dataset("domain_folders", "ganzoo.data.domain_folders:DomainFoldersDataset")
    registrar.dataset("celeba_attributes", "ganzoo.data.domain_folders:CelebAAttributesDataset")
    registrar.dataset("sr_folders", "ganzoo.data.sr:SRFoldersDataset", config="ganzoo.data.sr:SRFoldersConfig",
                      summary="Super-resolution pairs from a folder of HR images (LR by degradation or LR folder).")
    registrar.dataset("sr_procedural", "ganzoo.data.sr_procedural:SRProceduralDataset",
                      config="ganzoo.data.sr_procedural:SRProceduralConfig",
                      summary="Built-in super-resolution data: textured procedural scenes, LR made on the fly.")
