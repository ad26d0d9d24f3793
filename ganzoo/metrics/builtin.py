"""The core's own metrics, registered through the same hook as any plugin's (kind ``metric``),
so ``ganzoo list-components metric`` shows them with provenance and a plugin can add its own."""

from __future__ import annotations

from ganzoo.hookspecs import hookimpl


@hookimpl
def register_components(registrar):
    from ganzoo.metrics.distribution import FID, KID
    from ganzoo.metrics.paired import LPIPS, PSNR, SSIM

    registrar.metric("fid", FID)
    registrar.metric("kid", KID)
    registrar.metric("psnr", PSNR)
    registrar.metric("ssim", SSIM)
    registrar.metric("lpips", LPIPS)
