"""The core's own datasets, registered through the same hook as any plugin (like pytest's
built-in plugins), so they are listed with provenance and can be overridden by name clash rules."""

from __future__ import annotations

from ganzoo.hookspecs import hookimpl


@hookimpl
def register_components(registrar):
    from ganzoo.data.folders import UnpairedFolderDataset
    from ganzoo.data.procedural import ProceduralDataset

    registrar.dataset("procedural", ProceduralDataset)
    registrar.dataset("unpaired_folders", UnpairedFolderDataset)
