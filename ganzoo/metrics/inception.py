"""The Inception v3 network FID and KID are defined with, and where its weights come from.

Published FIDs (the CycleGAN, CUT, UNSB tables) are computed with pytorch-fid, whose network
is *not* torchvision's ImageNet Inception v3 but a port of the TensorFlow graph of the original
TTUR FID code: the same layers, different weights (1008 classes), and three quirks of that graph
kept on purpose. Using torchvision's network instead shifts FID by several points, so this
module rebuilds pytorch-fid's variant on top of torchvision's blocks:

* in the ``Mixed_5*`` (A) and ``Mixed_6b..e`` (C) blocks and in ``Mixed_7b`` (E), the pooling
  branch is a 3x3 average pool that does **not** count the zero padding (TensorFlow's
  ``avg_pool``), where torchvision counts it;
* in ``Mixed_7c`` the pooling branch is a 3x3 **max** pool (a quirk of the TF graph);
* the input (RGB in [0, 1]) is resized to 299x299 with bilinear interpolation
  (``align_corners=False``, no antialiasing), then scaled to [-1, 1]; the 2048-d features
  are the global average pool of ``Mixed_7c`` (pool3).

The weights file is ``pt_inception-2015-12-05-6726825d.pth`` from pytorch-fid's releases. It
is never downloaded implicitly: evaluation must not depend on the network, and the file's
hash is recorded with every result instead.
"""

from __future__ import annotations

import functools
import hashlib
import os
import weakref
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import inception as tv_inception

from ganzoo.errors import GanzooError
from ganzoo.metrics.weights import CATALOG, find_weights, hub_checkpoints_dir

FID_WEIGHTS_NAME = CATALOG["inception"].filename
FID_WEIGHTS_URL = CATALOG["inception"].url
WEIGHTS_ENV = "GANZOO_INCEPTION_WEIGHTS"
FID_INPUT_SIZE = 299
BLOCK_INDEX_BY_DIM = {64: 0, 192: 1, 768: 2, 2048: 3}
"""Feature dimension -> last block used (pytorch-fid's ``--dims``); 2048 is the standard FID."""


# --------------------------------------------------------------------------- weights


def inception_weights_candidates(path: str | Path | None = None) -> list[Path]:
    """Where the weights are looked for, in order: ``path``, $GANZOO_INCEPTION_WEIGHTS, and
    torch hub's checkpoint cache (where pytorch-fid itself stores the file)."""
    candidates: list[Path] = []
    if path:
        candidates.append(Path(path).expanduser())
    if os.environ.get(WEIGHTS_ENV):
        candidates.append(Path(os.environ[WEIGHTS_ENV]).expanduser())
    candidates.append(hub_checkpoints_dir() / FID_WEIGHTS_NAME)
    return candidates


def resolve_inception_weights(path: str | Path | None = None) -> Path:
    """The FID Inception weights file, or a :class:`GanzooError` that says where to get it."""
    return find_weights(
        inception_weights_candidates(path), explicit=bool(path), label="FID Inception weights",
        needs=f"FID/KID need the FID Inception weights {FID_WEIGHTS_NAME}", url=FID_WEIGHTS_URL,
        option="--inception-weights", env=WEIGHTS_ENV,
    )


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, cached per (path, size, mtime): recorded with results so that two
    evaluations can be checked to have used the same network."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


# --------------------------------------------------------------------------- network


class FIDInceptionA(tv_inception.InceptionA):
    """InceptionA whose pooling branch ignores the zero padding (TensorFlow's average pool)."""

    def _forward(self, x: Tensor) -> list[Tensor]:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        return [self.branch1x1(x), b5, b3, self.branch_pool(pool)]


class FIDInceptionC(tv_inception.InceptionC):
    """InceptionC whose pooling branch ignores the zero padding."""

    def _forward(self, x: Tensor) -> list[Tensor]:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7d = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                      self.branch7x7dbl_4, self.branch7x7dbl_5):
            b7d = layer(b7d)
        pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        return [self.branch1x1(x), b7, b7d, self.branch_pool(pool)]


class _FIDInceptionE(tv_inception.InceptionE):
    def _pool(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _forward(self, x: Tensor) -> list[Tensor]:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        b3d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3d = torch.cat([self.branch3x3dbl_3a(b3d), self.branch3x3dbl_3b(b3d)], 1)
        return [self.branch1x1(x), b3, b3d, self.branch_pool(self._pool(x))]


class FIDInceptionE1(_FIDInceptionE):
    """``Mixed_7b``: InceptionE whose pooling branch ignores the zero padding."""

    def _pool(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionE2(_FIDInceptionE):
    """``Mixed_7c``: InceptionE with a *max* pool in the pooling branch, as in the TF graph."""

    def _pool(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


def fid_inception_v3() -> tv_inception.Inception3:
    """torchvision's Inception v3 with pytorch-fid's blocks swapped in, weights uninitialised
    beyond PyTorch's per-layer defaults (its own init is slow and is overwritten anyway)."""
    net = tv_inception.Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE1(1280)
    net.Mixed_7c = FIDInceptionE2(2048)
    return net


class FIDInceptionV3(nn.Module):
    """Images in [0, 1] -> (N, dims) FID features, as pytorch-fid's ``InceptionV3([block])``.

    ``weights``: a path (see :func:`resolve_inception_weights`), or None for a randomly
    initialised network seeded with ``seed``, which only tests should use: its features are
    consistent but meaningless, so its scores compare with nothing published.
    ``resize``: side the input is resized to (299 for real FID; tests use less for speed).
    """

    def __init__(self, weights: str | Path | None, *, dims: int = 2048, resize: int | None = FID_INPUT_SIZE,
                 seed: int = 0):
        super().__init__()
        if dims not in BLOCK_INDEX_BY_DIM:
            raise GanzooError(f"FID Inception: dims must be one of {sorted(BLOCK_INDEX_BY_DIM)}, got {dims}")
        self.dims, self.resize = dims, resize
        self.weights_path: Path | None = None
        # Built on the meta device: only the blocks up to ``dims`` are then materialised, by
        # loading the weights file (assign) or by a seeded random init, which saves most of the
        # ~27 M parameters' allocation and init when a smaller feature block is asked for.
        with torch.device("meta"):
            net = fid_inception_v3()
        if weights is not None:
            self.weights_path = Path(weights)
            try:
                state = torch.load(self.weights_path, map_location="cpu", weights_only=True)
                net.load_state_dict(state, strict=True, assign=True)
            except Exception as exc:  # noqa: BLE001 - truncated download, wrong file
                raise GanzooError(
                    f"{self.weights_path}: not the FID Inception weights ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else ''}); download {FID_WEIGHTS_URL} again"
                ) from None
        blocks = [
            [net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, nn.MaxPool2d(kernel_size=3, stride=2)],
            [net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2)],
            [net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c,
             net.Mixed_6d, net.Mixed_6e],
            [net.Mixed_7a, net.Mixed_7b, net.Mixed_7c],
        ]
        self.blocks = nn.Sequential(*[nn.Sequential(*b) for b in blocks[: BLOCK_INDEX_BY_DIM[dims] + 1]])
        if weights is None:
            self.blocks.to_empty(device="cpu")
            _random_init(self.blocks, seed)
        if any(t.is_meta for t in self.blocks.state_dict().values()):
            raise GanzooError(f"{self.weights_path}: does not hold every weight of the FID Inception network")
        self.requires_grad_(False)
        self.eval()

    @property
    def sha256(self) -> str | None:
        return file_sha256(self.weights_path) if self.weights_path else None

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # grey images are fed as RGB, as pytorch-fid's loader does
        if self.resize:
            x = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = self.blocks(x)
        return F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)


def _random_init(module: nn.Module, seed: int) -> None:
    """Seeded He-normal convs and identity batch norms. He init keeps activations O(1) through
    the 90-odd layers (PyTorch's default shrinks them to ~1e-8 by pool3, where FIDs underflow
    into rounding noise)."""
    generator = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            with torch.no_grad():
                m.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()


class FeatureExtractor:
    """A shared :class:`FIDInceptionV3` that remembers the features of the last few batches.

    FID and KID of one evaluation see the same images; with this cache the network runs once
    per batch, not once per metric. A batch is recognised as the very same tensor object (a
    weak reference, so a freed tensor whose memory is reused never matches) with an unchanged
    version counter (so an in-place change is never served stale features).
    """

    def __init__(self, net: FIDInceptionV3, device: torch.device, batch_size: int = 32, memo: int = 4):
        self.net = net.to(device)
        self.device = device
        self.batch_size = batch_size
        self._memo: list[tuple[weakref.ref, int, Tensor]] = []
        self._size = memo

    @torch.inference_mode()
    def __call__(self, images: Tensor) -> Tensor:
        """Images in [-1, 1] -> float64 CPU features (N, dims)."""
        for ref, version, feats in self._memo:
            if ref() is images and _version(images) == version:
                return feats
        chunks = [self.net((c.to(self.device, torch.float32) + 1) / 2).double().cpu()
                  for c in images.split(self.batch_size)]
        out = torch.cat(chunks) if chunks else torch.zeros(0, self.net.dims, dtype=torch.float64)
        self._memo = [*self._memo[-(self._size - 1):], (weakref.ref(images), _version(images), out)]
        return out


def _version(t: Tensor) -> int:
    try:
        return t._version
    except RuntimeError:  # inference tensors keep no version counter
        return -1


_EXTRACTORS: dict[tuple, FeatureExtractor] = {}


def feature_extractor(weights: str | Path | None, *, dims: int, resize: int | None, seed: int,
                      device: torch.device | str, batch_size: int) -> FeatureExtractor:
    """The process-wide extractor for these settings (loading the network costs ~1 s)."""
    device = torch.device(device)
    key = (str(weights) if weights else None, dims, resize, seed if weights is None else None, str(device))
    extractor = _EXTRACTORS.get(key)
    if extractor is None:
        net = FIDInceptionV3(weights, dims=dims, resize=resize, seed=seed)
        extractor = _EXTRACTORS[key] = FeatureExtractor(net, device, batch_size)
    extractor.batch_size = batch_size
    return extractor
