"""Every metric's spec and every other quantity a results table shows: one home each.

Label and decimals are as the papers print them (PoNA/PATN: 3 for SSIM/IS/PSNR, 2 for PCKh;
GFLA/Tang: 4 for LPIPS); the order of ``METRIC_SPECS`` is the column order of the tables.
The metric modules register their functions under these specs; this module imports no torch,
so the leaderboard, report and compare read it without loading any metric.
"""
from __future__ import annotations

from importlib.metadata import version

from bench.cards import MetricSpec, Quantity

# Pieces of the version strings that several metrics share.
_SSIM_CALL = ("compare_ssim(reference, generated, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, "
              "multichannel=True, data_range=generated.max()-generated.min())")
_FIDELITY = f"torch-fidelity {version('torch-fidelity')} inception-v3-compat"
KID_SUBSETS, KID_SUBSET_SIZE, KID_SEED = 100, 1000, 2020  # torch-fidelity 0.4 defaults.py (kid_*, rng_seed)
_LPIPS = "lpips 0.1.4 LPIPS(net='alex', version='0.1'), inputs in [-1,1], every pair"

METRIC_SPECS: dict[str, MetricSpec] = {
    'ssim': MetricSpec(
        label='SSIM', higher_is_better=True, decimals=3, per_pair=True,
        paper='Wang et al. 2004; pose-gan / PATN getMetrics protocol',
        version=f'{_SSIM_CALL}; kernel per protocol.ssim_kernel; DeepFashion per protocol.fashion_geometry (patn: padded white to 256x256)',
    ),
    'mask-ssim': MetricSpec(
        label='mask-SSIM', higher_is_better=True, decimals=3, per_pair=True,
        paper='Ma et al. 2017 (PG2) mask; pose-gan / PATN getMetrics_market.py',
        version=(f'{_SSIM_CALL} on images times the PG2 target mask (black background); '
                 'DeepFashion per protocol.fashion_geometry (patn: padded black to 256x256)'),
    ),
    'is': MetricSpec(
        label='IS', higher_is_better=True, decimals=3, per_pair=False,
        paper='Salimans et al. 2016; PG2/PATN protocol',
        version=f'{_FIDELITY} logits_unbiased, 10 splits in order',
    ),
    'mask-is': MetricSpec(
        label='mask-IS', higher_is_better=True, decimals=3, per_pair=False,
        paper='Ma et al. 2017 (PG2) mask-IS; PATN protocol',
        version=f'{_FIDELITY} logits_unbiased, 10 splits in order, PG2 target mask, black background',
    ),
    'fid': MetricSpec(
        label='FID', higher_is_better=False, decimals=3, per_pair=False,
        paper='Heusel et al. 2017; GFLA protocol (Ren et al. 2020)',
        version=(f'protocol.fid_convention: torch-fidelity = {_FIDELITY} pool 2048 (TF-FID weights), all images; '
                 'gfla-script = GFLA script/metrics.py (bench/metrics/fid_gfla.py); reference = protocol.fid_reference'),
    ),
    'kid': MetricSpec(
        label='KID', higher_is_better=False, decimals=4, per_pair=False,
        paper='Binkowski et al. 2018 (KID); torch-fidelity',
        version=(f'{_FIDELITY} pool 2048 (TF-FID weights), kid_features_to_metric: degree 3, coef0 1, '
                 f'{KID_SUBSETS} subsets of min({KID_SUBSET_SIZE}, n), seed {KID_SEED}; reference = protocol.fid_reference'),
    ),
    'lpips': MetricSpec(
        label='LPIPS', higher_is_better=False, decimals=4, per_pair=True,
        paper='Zhang et al. 2018; GFLA protocol (Ren et al. 2020)',
        version=_LPIPS,
    ),
    'mask-lpips': MetricSpec(
        label='mask-LPIPS', higher_is_better=False, decimals=4, per_pair=True,
        paper='GFLA script/metrics.py --calculate_mask (Ren et al. 2020)',
        version=f"{_LPIPS}, PG2 target mask applied in [-1,1] (grey background)",
    ),
    'psnr': MetricSpec(
        label='PSNR', higher_is_better=True, decimals=3, per_pair=True,
        paper='Tang et al. AAAI 2021 (Table 1); GFLA / PG2 compare_psnr',
        version='10*log10(255^2/MSE), float MSE per pair, mean over pairs (skimage peak_signal_noise_ratio)',
        convention='float',
    ),
    'mask-psnr': MetricSpec(
        label='mask-PSNR', higher_is_better=True, decimals=3, per_pair=True,
        paper='Tang et al. AAAI 2021 (Table 1, Market Mask-PSNR)',
        version='psnr of both images times the PG2 target mask (black background), MSE over the whole frame',
        convention='float, masked images',
    ),
    'psnr-uint8-wrap': MetricSpec(
        label='PSNR (uint8)', higher_is_better=True, decimals=3, per_pair=True,
        paper='PISE util/psnr.py (Zhang et al. 2021); PoNA Table I values',
        version='((orig - target)**2).mean() on uint8 (wraps mod 256), 20*log10(255) - 10*log10(mse)',
        convention='uint8-wrap: inflated, >= 24.07 dB for any images; only to compare with PoNA/PISE',
    ),
    'pckh': MetricSpec(
        label='PCKh', higher_is_better=True, decimals=2, per_pair=False,
        paper='Zhu et al. 2019 (PATN), tool/calPCKH_market.py; head-box PCKh with alpha 0.5',
        version='1',
    ),
}

# Quantities that are not registered metrics: profile results, user studies, re-ID.
OTHER_QUANTITIES: dict[str, Quantity] = {
    'params_m': Quantity('Params (M)', higher_is_better=False, decimals=2),
    'fps': Quantity('FPS', higher_is_better=True, decimals=2),
    'time_ms': Quantity('Time (ms)', higher_is_better=False, decimals=1),
    'user-g2r': Quantity('G2R (%)', higher_is_better=True, decimals=2),
    'user-prefer': Quantity('Prefer (%)', higher_is_better=True, decimals=2),
    'reid-map': Quantity('re-ID mAP (%)', higher_is_better=True, decimals=1),
}


def quantity(name: str) -> Quantity | None:
    """The spec of a metric or other quantity; None for a name no table knows."""
    return METRIC_SPECS.get(name) or OTHER_QUANTITIES.get(name)


def metric_label(name: str) -> str:
    """A column's label; the name itself for a quantity no table knows."""
    spec = quantity(name)
    return spec.label if spec else name


def column_order(names) -> list[str]:
    """Metrics in table order, then any other quantity alphabetically."""
    present = set(names)
    return [m for m in METRIC_SPECS if m in present] + sorted(present - set(METRIC_SPECS))
