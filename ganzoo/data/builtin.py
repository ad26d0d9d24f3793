"""The core's own datasets, registered through the same hook as any plugin (like pytest's
built-in plugins), so they are listed with provenance and can be overridden by name clash rules."""

from __future__ import annotations

from ganzoo.hookspecs import hookimpl


@hookimpl
def register_components(registrar):
    from ganzoo.data.folders import UnpairedFolderDataset
    from ganzoo.data.paired import AlignedDataset, PairedFoldersDataset
    from ganzoo.data.procedural import ProceduralDataset
    from ganzoo.data.two_folders import TwoFoldersDataset

    registrar.dataset("procedural", ProceduralDataset)
    registrar.dataset("unpaired_folders", UnpairedFolderDataset)
    registrar.dataset("two_folders", TwoFoldersDataset)
    registrar.dataset("aligned", AlignedDataset)
    registrar.dataset("paired_folders", PairedFoldersDataset)
