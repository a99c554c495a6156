"""Which module registers each model and metric name, read on demand (lm-eval's lazy
"name -> module" placeholders). The registry imports a module only when one of its names
is asked for, so looking up a metric's direction or a model's card never imports the rest.
``tests/test_registry.py`` checks that these tables and the registered names agree.
"""
from __future__ import annotations

MODEL_PLUGINS: dict[str, str] = {
    "def-gan": "baselines.defgan",
    "gfla": "baselines.gfla",
    "msdefgan": "baselines.msdefgan",
    "msdefgan-drender": "baselines.msdefgan_drender",
    "partflow": "baselines.partflow",
    "partflow-wo-hdcb": "baselines.partflow",
    "partflow-wo-part": "baselines.partflow",
    "partflow-wo-pnb": "baselines.partflow",
    "patn": "baselines.patn",
    "pg2": "baselines.pg2",
    "pona": "baselines.pona",
    "pona-b1": "baselines.pona",
    "pona-b2": "baselines.pona",
    "pona-b4": "baselines.pona",
    "pona-b5": "baselines.pona",
    "pona-fuse-middle": "baselines.pona",
    "pona-fuse-none": "baselines.pona",
    "pona-fuse-tail": "baselines.pona",
    "pona-wo-cross": "baselines.pona",
    "pona-wo-self": "baselines.pona",
    "sdgan": "baselines.sdgan",
    "source-copy": "baselines.reference",
    "unet": "baselines.unet",
    "vdg": "baselines.vdg",
    "vdg-np": "baselines.vdg",
    "vdg-munet": "baselines.munet",
    "vdg-munet-o": "baselines.munet",
    "vdg-munet-g": "baselines.munet",
    "vdg-np-munet": "baselines.munet",
    "def-gan-munet": "baselines.munet",
    "vunet": "baselines.vunet",
}

METRIC_PLUGINS: dict[str, str] = {
    "ssim": "bench.metrics.ssim",
    "mask-ssim": "bench.metrics.ssim",
    "is": "bench.metrics.inception",
    "mask-is": "bench.metrics.inception",
    "fid": "bench.metrics.inception",
    "kid": "bench.metrics.inception",
    "lpips": "bench.metrics.lpips",
    "mask-lpips": "bench.metrics.lpips",
    "psnr": "bench.metrics.psnr",
    "mask-psnr": "bench.metrics.psnr",
    "psnr-uint8-wrap": "bench.metrics.psnr",
    "pckh": "bench.metrics.pckh",
}
