"""The core's own metrics, registered through the same hook as any plugin's (kind ``metric``),
so ``ganzoo list-components metric`` shows them with provenance and a plugin can add its own.
Registered by import path: listing them needs no torch."""

from __future__ import annotations

from ganzoo.hookspecs import hookimpl


@hookimpl
def register_components(registrar):
    registrar.metric("fid", "ganzoo.metrics.distribution:FID")
    registrar.metric("kid", "ganzoo.metrics.distribution:KID")
    registrar.metric("psnr", "ganzoo.metrics.paired:PSNR")
    registrar.metric("ssim", "ganzoo.metrics.paired:SSIM")
    registrar.metric("lpips", "ganzoo.metrics.paired:LPIPS")
    registrar.metric("diversity", "ganzoo.metrics.diversity:Diversity")
    registrar.metric("sr", "ganzoo.metrics.sr:SRMetrics")
