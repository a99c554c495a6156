"""Named evaluation protocols: where the papers disagree, each convention is an option.

A protocol fixes every choice a metric leaves open; results record its name and
fields, and tables never mix protocols without saying so.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bench.errors import BenchError


@dataclass(frozen=True)
class Protocol:
    name: str
    #: SSIM Gaussian kernel: "legacy-13" = scipy gaussian_filter(sigma=1.5, truncate=4.0),
    #: as in the scikit-image <= 0.14 the original scripts pinned; "skimage-11" = the
    #: current scikit-image (truncate=3.5).
    ssim_kernel: str = "legacy-13"
    #: DeepFashion geometry (bench/metrics/geometry.py): "patn" = 176x256 images, SSIM and
    #: IS padded white to 256x256 (PATN getMetrics_fashion.py `addBounding`); "posegan" =
    #: pose-gan's 256x256 frame and old split; "gfla" = resized to 256x256 (GFLA).
    fashion_geometry: str = "patn"
    #: FID reference set: "train" (GFLA: the whole training set) or "test-targets".
    fid_reference: str = "train"
    #: FID feature extractor and batching (bench/metrics/fid_gfla.py): "torch-fidelity" =
    #: TF-FID Inception weights, every image; "gfla-script" = GFLA script/metrics.py:
    #: torchvision's ImageNet Inception, batches of 64, the last partial batch dropped.
    fid_convention: str = "torch-fidelity"
    #: Images per batch of the feature extractors (Inception for IS/FID/KID, AlexNet for LPIPS);
    #: None = :func:`feature_batch_size`'s rule for the device. The scores do not depend on it
    #: (up to float rounding); the gfla-script convention fixes its own 64 (bench/metrics/fid_gfla.py).
    batch_size: int | None = None

    def replace(self, **changes) -> "Protocol":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


#: The one batch-size rule of the feature extractors (both run channels-last), per device type.
#: CPU: 16 images of 256x176 or more (Inception sees 299x299), and for smaller images as many as
#: hold the same number of pixels (:data:`CPU_BATCH_PIXELS`). Measured on the 2-core box
#: (2026-12-07, 200 pairs, 3 interleaved rounds, random-init AlexNet, against contiguous batches of
#: 50): LPIPS at 256x176 channels-last batch 16 1.60x, 50 1.48x, 200 1.16x; at 128x64 batch 16
#: 0.99x, 50 1.32x, 200 1.30x (so 88, the pixel rule, there). Inception 1.75x at 16 (2026-12-03).
#: CUDA: 128, to fill a GPU with Inception at 299x299 (about 2 GiB of activations); not measured
#: (no GPU here).
FEATURE_BATCH = {"cpu": 16, "cuda": 128}
CPU_BATCH_PIXELS = 16 * 256 * 176


def device_batch_size(device: str, image_pixels: int | None = None) -> int:
    """The rule's batch size for ``device`` ("cpu", "cuda", "cuda:1", a torch.device) and, on CPU,
    images of ``image_pixels`` (H * W as the network sees them; None: 299x299 or larger)."""
    if str(device).startswith("cuda"):
        return FEATURE_BATCH["cuda"]
    return max(FEATURE_BATCH["cpu"], CPU_BATCH_PIXELS // image_pixels) if image_pixels else FEATURE_BATCH["cpu"]


def feature_batch_size(protocol: Protocol, device: str, image_pixels: int | None = None) -> int:
    """The protocol's batch size if it sets one, else the device's rule."""
    return protocol.batch_size if protocol.batch_size is not None else device_batch_size(device, image_pixels)


FASHION_GEOMETRIES = ("patn", "posegan", "gfla")
DEFAULT_PROTOCOL = "paper"  # `bench evaluate`'s and the pipeline's (params.yaml evaluate.protocol)
FID_CONVENTIONS = ("torch-fidelity", "gfla-script")

PROTOCOLS: dict[str, Protocol] = {
    # The authors' scripts as they ran them (PATN / PoNA / pose-gan), DeepFashion in PATN's geometry.
    "paper": Protocol("paper"),
    # Same, with the current scikit-image SSIM kernel (11 taps).
    "modern": Protocol("modern", ssim_kernel="skimage-11"),
    # DeepFashion in pose-gan's 256x256 frame, old split (Def-GAN; Lakhal et al. Table 3);
    # pose-gan pins scikit-image 0.13.1: the 13-tap kernel.
    "posegan": Protocol("posegan", fashion_geometry="posegan"),
    # The same frame with the 11-tap kernel: Horiuchi et al. ("window size of 11"), MS-DefGAN on pose-gan's data.
    "posegan-modern": Protocol("posegan-modern", ssim_kernel="skimage-11", fashion_geometry="posegan"),
    # GFLA's script/metrics.py as Tang et al. followed it: DeepFashion resized to 256x256,
    # FID with torchvision's Inception against the whole training set, batches of 64.
    "gfla": Protocol("gfla", fashion_geometry="gfla", fid_convention="gfla-script"),
}


def check_protocol(protocol: Protocol) -> None:
    """Field values a metric would otherwise reject mid-run."""
    if protocol.fashion_geometry not in FASHION_GEOMETRIES:
        raise BenchError(f"protocol {protocol.name!r}: fashion_geometry must be one of {', '.join(FASHION_GEOMETRIES)}, "
                         f"got {protocol.fashion_geometry!r}")
    if protocol.batch_size is not None and (isinstance(protocol.batch_size, bool) or not isinstance(protocol.batch_size, int)
                                            or protocol.batch_size < 1):
        raise BenchError(f"protocol {protocol.name!r}: batch_size must be a positive integer or None, got {protocol.batch_size!r}")
    if protocol.fid_convention not in FID_CONVENTIONS:
        raise BenchError(f"protocol {protocol.name!r}: fid_convention must be one of {', '.join(FID_CONVENTIONS)}, "
                         f"got {protocol.fid_convention!r}")


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise BenchError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}") from None
