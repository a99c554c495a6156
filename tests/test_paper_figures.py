"""The seed papers' analysis figures, drawn from one-iteration trained runs on a tiny synthetic Market."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.train.run import train
from bench.data.splits import prepare
from bench.data.synth import synthesize
from bench.errors import BenchError
from bench.paper_figures import first_skip_counts, lakhal_mask_counts, sdgan_scales, tang_relations

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("figures")
    data, pairs = root / "synth-market", root / "prepared"
    synthesize("synth-market", data, seed=0, identities_train=3, identities_test=2, images_per_identity=3, progress=False)
    prepare(dataset=data, out=pairs, images_for_test=4)
    out = {}
    for model in ("sdgan", "partflow", "vdg", "vdg-munet", "vdg-munet-g"):
        out[model] = root / "runs" / model
        train(model, data, out[model], profile="cpu", params=REPO / "params.yaml", pairs_dir=pairs, iterations=1,
              overrides={"batch_size": 1, "threads": 1, **({"model.g1_steps": 1} if model.startswith("vdg") else {})},
              progress=False)
    torch.set_num_threads(threads)
    return data, pairs, out


def test_sdgan_fig5_shows_every_scale(runs):
    data, pairs, out = runs
    fig = sdgan_scales(out["sdgan"], data, pairs, n=2)
    titles = [ax.get_title() for ax in fig.axes[:5]]
    assert titles == ["source", "ground truth", "scale 1 (32x16)", "scale 2 (64x32)", "scale 3 (128x64)"]
    assert len(fig.axes) == 2 * 5
    with pytest.raises(BenchError, match="needs sdgan"):
        sdgan_scales(out["vdg"], data, pairs)


def test_tang_fig7_relation_maps_are_distributions_over_the_pooled_regions(runs):
    data, pairs, out = runs
    fig = tang_relations(out["partflow"], data, pairs, n=2)
    assert [ax.get_title() for ax in fig.axes[:4]] == ["ground truth", "generated (query)", "relation map, 4x4 pool",
                                                       "relation map, 6x6 pool"]
    overlay = fig.axes[2].images[1].get_array()  # the 4x4 relation map, upsampled nearest to the image
    assert overlay.shape == (128, 64) and len(np.unique(np.asarray(overlay))) <= 16
    # each map is one softmax row: 16 regions of 32x16 pixels whose weights sum to 1
    assert float(np.asarray(overlay)[::32, ::16].sum()) == pytest.approx(1.0, abs=1e-5)


def test_lakhal_fig4_counts_non_masked_pixels_per_channel(runs):
    data, pairs, out = runs
    plain = first_skip_counts(out["vdg"], data, pairs, n=2)
    dense = first_skip_counts(out["vdg-munet"], data, pairs, n=2)
    grid = first_skip_counts(out["vdg-munet-g"], data, pairs, n=2)
    assert plain.shape == dense.shape == grid.shape == (16,)  # VDG's first block at the cpu width: 128 x 0.125
    assert (plain <= 128 * 64).all() and (dense <= plain + 1e-9).all()  # a mask only zeroes pixels
    assert (grid <= plain + 1e-9).all()
    fig = lakhal_mask_counts({"No-mask": plain, "mUNet": dense, "mUNet_g": grid}, 128 * 64)
    assert [line.get_label() for line in fig.axes[0].lines][:3] == ["No-mask", "mUNet", "mUNet_g"]
