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
    #: DeepFashion: pad each 176-wide image with 40 px of white per side to 256x256
    #: before SSIM and IS (PATN getMetrics_fashion.py `addBounding`).
    fashion_pad_256: bool = True
    #: FID reference set: "train" (GFLA: the whole training set) or "test-targets".
    fid_reference: str = "train"
    #: FID/IS extractor batch size.
    batch_size: int = 50

    def replace(self, **changes) -> "Protocol":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PROTOCOLS: dict[str, Protocol] = {
    # The authors' scripts as they ran them (PATN / PoNA / pose-gan / GFLA FID).
    "paper": Protocol("paper"),
    # Same, with the current scikit-image SSIM kernel (11 taps).
    "modern": Protocol("modern", ssim_kernel="skimage-11"),
}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise BenchError(f"unknown protocol {name!r}; valid: {', '.join(PROTOCOLS)}") from None
