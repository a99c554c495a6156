"""mUNet learnable skip masks: eqs. (3)-(7) on hand-made values, the vectorised grid mask
against a naive loop, all-pass masks leave VDG and Def-GAN unchanged, gradients through the
straight-through estimator, shapes, parameter counts and training steps of the masked models."""
from __future__ import annotations

import math

import pytest
import torch

from baselines import munet
from bench.errors import BenchError
from bench.models import MODELS, count_parameters, create_model
from pair_gan_helpers import SIZES, posed_batch

SMALL = 1 / 16
GATES = ("munet", "munet-o", "munet-g")


# --------------------------------------------------------------------------------------
# Equations (3)-(7) on hand-made values


def test_phi_is_equation_3():
    x = torch.tensor([2.0, -1.0, 0.0, 3.0, -2.0, 0.5])
    y = torch.tensor([1.0, 1.0, -5.0, -0.1, -0.5, 0.0])
    # x*y = 2, -1, 0, -0.3, 1, 0 -> sigmoid >= 0.5 where x*y >= 0
    assert munet.phi(x, y).tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    # as written, on float32 sigmoid: a product too small to move sigmoid off 0.5 passes
    assert munet.phi(torch.tensor([-1e-9]), torch.tensor([1.0])).item() == 1.0
    assert munet.phi(torch.tensor([-1e-6]), torch.tensor([1.0])).item() == 0.0


def test_dense_masks_are_equation_4():
    f = torch.tensor([[[2.0, -1.0], [0.0, 3.0]], [[1.0, 1.0], [-4.0, 2.0]]]).unsqueeze(0)  # (1, 2, 2, 2)
    dense = munet.DenseMask(2, (2, 2))
    with torch.no_grad():
        dense.weight.copy_(torch.tensor([[[1.0, 1.0], [-5.0, -0.1]], [[-1.0, 2.0], [-1.0, -1.0]]]))
    expected = torch.tensor([[[2.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [-4.0, 0.0]]])
    assert torch.equal(dense(f)[0], expected)

    one = munet.DenseMask(2, (2, 2), channel_wise=False)
    assert one.weight.shape == (1, 2, 2)
    with torch.no_grad():
        one.weight.copy_(torch.tensor([[[1.0, -1.0], [2.0, -3.0]]]))
    # one weight map, but the binary mask is per channel: phi(f_c, M)
    expected = torch.tensor([[[2.0, -1.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]])
    assert torch.equal(one(f)[0], expected)


def test_grid_mask_is_equations_5_to_7():
    """2 channels, 5x4 map, 2x2 cells: 2x2 cells of 8 values each, the fifth row is left over."""
    c0 = torch.tensor([[1.0, 2.0, 0.0, 3.0],
                       [4.0, 5.0, 6.0, 0.0],
                       [0.0, 0.0, 1.0, -1.0],
                       [0.0, 7.0, 2.0, 3.0],
                       [9.0, 9.0, 9.0, 9.0]])
    c1 = torch.tensor([[1.0, 1.0, 0.0, 0.0],
                       [1.0, 1.0, 5.0, 5.0],
                       [0.0, 0.0, -2.0, -3.0],
                       [8.0, 8.0, 4.0, 4.0],
                       [9.0, 9.0, 9.0, 9.0]])
    f = torch.stack((c0, c1)).unsqueeze(0)
    grid = munet.GridMask(2, (5, 4), cell=(2, 2))
    assert grid.weight.shape == (2, 2)
    with torch.no_grad():
        grid.weight.copy_(torch.tensor([[1.0, -1.0], [-1.0, 2.0]]))
    # cell (0,0), m=1: no negative value -> 8 ones > 0 zeros: pass
    # cell (0,1), m=-1: zeros pass (sigmoid(0) = .5): values 0,3,6,0 | 0,0,5,5 -> 4 ones, 4 zeros: tie, blocked
    # cell (1,0), m=-1: values 0,0,0,7 | 0,0,8,8 -> 5 zeros of f give 5 ones > 3: pass (positives too)
    # cell (1,1), m=2: values 1,-1,2,3 | -2,-3,4,4 -> 5 ones > 3 zeros: pass
    votes = grid.cell_gates(f)
    assert votes.tolist() == [[[1.0, 0.0], [1.0, 1.0]]]
    expected = f.clone()
    expected[..., 0:2, 2:4] = 0
    assert torch.equal(grid(f), expected)  # the leftover fifth row passes unmasked
    with torch.no_grad():
        grid.weight[1, 1] = -2.0  # cell (1,1): ones only where f <= 0 (-1, -2, -3): 3 ones < 5 zeros, blocked
    assert grid.cell_gates(f).tolist() == [[[1.0, 0.0], [1.0, 0.0]]]


def test_grid_cells_clip_to_small_levels():
    grid = munet.GridMask(3, (2, 8))  # 4x4 cells on a 2-row level become 2x4
    assert grid.cell == (2, 4) and grid.weight.shape == (1, 2)


def naive_grid(f: torch.Tensor, m: torch.Tensor, cell: tuple[int, int]) -> torch.Tensor:
    """Eqs. (5)-(7) read literally: for every sample and every cell, count 1s and 0s of b_k."""
    out = f.clone()
    hg, wg = cell
    for n in range(f.shape[0]):
        for r in range(f.shape[2] // hg):
            for c in range(f.shape[3] // wg):
                g = f[n, :, r * hg:(r + 1) * hg, c * wg:(c + 1) * wg]
                ones = zeros = 0
                for value in g.flatten().tolist():
                    bit = 1 / (1 + math.exp(-value * m[r, c].item())) >= 0.5
                    ones, zeros = ones + bit, zeros + (not bit)
                if not ones > zeros:
                    out[n, :, r * hg:(r + 1) * hg, c * wg:(c + 1) * wg] = 0
    return out


def test_vectorised_grid_equals_naive_loop():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(3, 5, 10, 7, generator=g, dtype=torch.float64)
    f[f.abs() < 0.4] = 0  # exact zeros, as after a ReLU, make votes and ties likely
    grid = munet.GridMask(5, (10, 7), cell=(3, 2)).double()
    with torch.no_grad():
        grid.weight.copy_(torch.randn(grid.weight.shape, generator=g, dtype=torch.float64))
    out = grid(f)
    expected = naive_grid(f, grid.weight.detach(), (3, 2))
    assert torch.equal(out, expected)
    assert 0 < (out == 0).all(1).float().mean() < 1  # some cells blocked, some passed

    loop = munet.GridMaskLoop(5, (10, 7), cell=(3, 2)).double()
    loop.load_state_dict(grid.state_dict())
    fa, fb = f.clone().requires_grad_(), f.clone().requires_grad_()
    upstream = torch.randn(f.shape, generator=g, dtype=torch.float64)
    (grid(fa) * upstream).sum().backward()
    (loop(fb) * upstream).sum().backward()
    assert torch.equal(loop(f), out)
    assert torch.allclose(grid.weight.grad, loop.weight.grad, rtol=1e-12, atol=1e-15)
    assert torch.allclose(fa.grad, fb.grad, rtol=1e-12, atol=1e-15)


def test_straight_through_gradients():
    """Forward: the hard mask; backward: d/dM sum(u * f * phi) = u * f * sigmoid'(f M) * f."""
    g = torch.Generator().manual_seed(1)
    f = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64)
    u = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64)
    dense = munet.DenseMask(3, (4, 5)).double()
    with torch.no_grad():
        dense.weight.normal_(generator=g)
    (dense(f) * u).sum().backward()
    s = torch.sigmoid(f * dense.weight.detach())
    assert torch.allclose(dense.weight.grad, (u * f * s * (1 - s) * f).sum(0))

    grid = munet.GridMask(3, (4, 5), cell=(2, 2)).double()
    (grid(f) * u).sum().backward()  # weights 0: sigmoid' = 1/4; gradient of the cell's mean soft bit
    cells = lambda t: t[..., :4, :4].reshape(2, 3, 2, 2, 2, 2)  # noqa: E731
    expected = ((cells(u * f).sum((1, 3, 5), keepdim=True)) * cells(0.25 * f).mean((1, 3, 5), keepdim=True))
    assert torch.allclose(grid.weight.grad, expected.sum(0).reshape(2, 2))


# --------------------------------------------------------------------------------------
# Batches


def _batch(size: tuple[int, int], n: int = 1, seed: int = 0) -> dict:
    return posed_batch(size, n, seed, pose_maps=True)


def _masks(model) -> list[torch.nn.Module]:
    gen = model.generator
    gates = gen.stage1.skip_gates if hasattr(gen, "stage1") else gen.skip_gates
    return list(gates)


def _masked_copy(base: str, gate: str, dataset: str = "market", **config):
    """The unmasked model and the same weights with ``gate`` masks added."""
    torch.manual_seed(0)
    plain = create_model(base, dataset, width=SMALL, **config).eval()
    masked = create_model(base, dataset, width=SMALL, skip_gate=gate, **config).eval()
    missing, unexpected = masked.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.endswith(".weight") and "skip_gates" in k for k in missing)
    return plain, masked


# --------------------------------------------------------------------------------------
# All-pass masks leave the U-Net unchanged; the masks sit on the path


@pytest.mark.parametrize("gate", GATES)
def test_all_pass_masks_leave_vdg_unchanged(gate):
    batch = _batch((128, 64))
    plain, masked = _masked_copy("vdg", gate, stage=1)
    with torch.no_grad():
        reference = plain(batch)
        assert torch.equal(masked(batch), reference)  # weights 0: sigmoid(0) = .5 passes all
        for mask in _masks(masked):  # VDG's skips are post-ReLU (>= 0): any positive weight passes all too
            mask.weight.uniform_(0.1, 1.0)
        assert torch.equal(masked(batch), reference)
        for mask in _masks(masked):
            mask.weight.fill_(-1.0)  # blocks every non-zero value
        assert not torch.allclose(masked(batch), reference)


@pytest.mark.parametrize("gate", GATES)
def test_all_pass_masks_leave_defgan_unchanged(gate):
    batch = _batch((128, 64))
    plain, masked = _masked_copy("def-gan", gate, reconstruction="l1")
    assert len(_masks(masked)) == 5  # 6 levels at 128x64: the deepest is the decoder's input
    with torch.no_grad():
        reference = plain(batch)
        assert torch.equal(masked(batch), reference)  # signed features: only weight 0 passes everything
        for mask in _masks(masked):
            mask.weight.normal_()
        assert not torch.allclose(masked(batch), reference)


# --------------------------------------------------------------------------------------
# Gradients, shapes, counts, training


def _generator_loss(model, batch):
    terms = model.generator_losses(batch, model(batch))
    return sum(terms.values())


@pytest.mark.parametrize("name", ["vdg-munet", "vdg-munet-o", "vdg-munet-g", "vdg-np-munet", "def-gan-munet"])
def test_gradients_reach_every_mask(name):
    torch.manual_seed(0)
    config = {"stage": 1} if name.startswith("vdg") else {"reconstruction": "l1"}
    model = create_model(name, "market", width=SMALL, **config)
    batch = _batch((128, 64))
    _generator_loss(model, batch).backward()
    for mask in _masks(model):
        assert mask.weight.grad is not None and mask.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["vdg-munet", "vdg-munet-o", "vdg-munet-g", "vdg-np-munet"])
@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
def test_vdg_shapes(name, dataset):
    torch.manual_seed(0)
    model = create_model(name, dataset, width=SMALL, stage=1)
    out = model(_batch(SIZES[dataset]))
    assert out.shape == (1, 3, *SIZES[dataset])
    shapes = model.generator.stage1.skip_shapes()
    kind = MODELS.get(name).meta.skip_gate
    for mask, (c, (h, w)) in zip(_masks(model), shapes, strict=True):
        expected = {"munet": (c, h, w), "munet-o": (1, h, w), "munet-g": (h // min(4, h), w // min(4, w))}[kind]
        assert mask.weight.shape == expected
    meta = model.metadata()
    assert meta["skip_gate"] == kind and meta["model"] == name and meta["mask_gaps_filled"]


@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
def test_defgan_shapes(dataset):
    torch.manual_seed(0)
    model = create_model("def-gan-munet", dataset, width=1 / 32, reconstruction="l1")
    out = model(_batch(SIZES[dataset]))
    assert out.shape == (1, 3, *SIZES[dataset])
    canvas = (128, 64) if dataset == "market" else (256, 256)
    channels = [2, 4, 8, 16, 16] + ([16] if dataset == "deepfashion" else [])  # 64, 128, ... x 1/32
    assert [tuple(m.weight.shape) for m in _masks(model)] == [
        (c, canvas[0] >> i, canvas[1] >> i) for i, c in enumerate(channels)]
    assert model.name == "def-gan-munet" and model.metadata()["skip_gate"] == "munet"


# Skip features at full width, written out: (channels, h, w) per level.
VDG_SKIPS = {
    "market": [(128, 128, 64), (256, 64, 32), (384, 32, 16), (512, 16, 8), (640, 8, 4)],
    "deepfashion": [(128, 256, 256), (256, 128, 128), (384, 64, 64), (512, 32, 32), (640, 16, 16), (768, 8, 8)],
}
DEFGAN_SKIPS = {  # appearance features of the skip levels (not the deepest)
    "market": [(64, 128, 64), (128, 64, 32), (256, 32, 16), (512, 16, 8), (512, 8, 4)],
    "deepfashion": [(64, 256, 256), (128, 128, 128), (256, 64, 64), (512, 32, 32), (512, 16, 16), (512, 8, 8)],
}
ADDED = {  # mask weights each gate adds on a level
    "munet": lambda c, h, w: c * h * w,
    "munet-o": lambda c, h, w: h * w,
    "munet-g": lambda c, h, w: (h // 4) * (w // 4),
}
BASE = {("vdg", "market"): 100_571_782, ("vdg", "deepfashion"): 175_657_094,
        ("vdg-np", "market"): 100_551_046, ("vdg-np", "deepfashion"): 175_636_358,
        ("def-gan", "market"): 61_109_085, ("def-gan", "deepfashion"): 82_080_611}


def test_hand_counts():
    assert sum(ADDED["munet"](*s) for s in VDG_SKIPS["market"]) == 1_855_488
    assert sum(ADDED["munet-o"](*s) for s in VDG_SKIPS["market"]) == 10_912  # 8192 + 2048 + 512 + 128 + 32
    assert sum(ADDED["munet-g"](*s) for s in VDG_SKIPS["market"]) == 682  # 512 + 128 + 32 + 8 + 2
    assert sum(ADDED["munet"](*s) for s in DEFGAN_SKIPS["market"]) == 999_424


@pytest.mark.parametrize("name", list(munet.VARIANTS))
@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
def test_parameter_counts(name, dataset):
    base, gate, _ = munet.VARIANTS[name]
    skips = DEFGAN_SKIPS if base == "def-gan" else VDG_SKIPS
    expected = BASE[base, dataset] + sum(ADDED[gate](*s) for s in skips[dataset])
    with torch.device("meta"):
        model = create_model(name, dataset)
    assert count_parameters(model.generator) == expected
    assert MODELS.get(name).meta.param_counts[dataset] == expected
    from bench.cli.models import generator_params

    assert generator_params(name, dataset) == expected
    discriminator = create_model(base, dataset, width=SMALL).discriminators  # D is the base model's
    assert [p.shape for p in discriminator.parameters()] == [
        p.shape for p in create_model(name, dataset, width=SMALL).discriminators.parameters()]


def _fit(model, batch, steps: int) -> list[float]:
    optimizer = torch.optim.Adam(model.generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    history = []
    for _ in range(steps):
        loss = _generator_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return history


@pytest.mark.parametrize("name", ["vdg-munet", "vdg-munet-o", "vdg-munet-g"])
def test_vdg_training_steps_reduce_the_loss_and_move_the_masks(name):
    torch.manual_seed(0)
    model = create_model(name, "market", width=SMALL, stage=1)
    history = _fit(model, _batch((128, 64)), 10)
    assert history[-1] < 0.8 * history[0], history
    assert all(m.weight.abs().sum() > 0 for m in _masks(model))


def test_defgan_training_steps_reduce_the_loss():
    torch.manual_seed(0)
    model = create_model("def-gan-munet", "market", width=1 / 32, reconstruction="l1", lambda_gan=0.01)
    model.train()
    history = []
    optimizer = torch.optim.Adam(model.generator.parameters(), lr=1e-3, betas=(0.5, 0.999))
    batch = _batch((128, 64))
    for _ in range(8):
        terms = model.generator_losses(batch, model(batch))
        optimizer.zero_grad(set_to_none=True)
        sum(terms.values()).backward()
        optimizer.step()
        history.append(terms["l1"].item())
    assert history[-1] < 0.8 * history[0], history
    assert all(m.weight.abs().sum() > 0 for m in _masks(model))


def test_registration_and_bad_configuration():
    for name, (base, gate, rows) in munet.VARIANTS.items():
        entry = MODELS.get(name)
        assert entry.meta.skip_gate == gate and entry.meta.base_model == base and "Table" in entry.meta.paper_rows
    with pytest.raises(BenchError, match="skip_gate"):
        create_model("vdg-munet", "market", width=SMALL, skip_gate="munet-o")
    with pytest.raises(BenchError, match="input_pose"):
        create_model("vdg-np-munet", "market", width=SMALL, input_pose=True)
    with pytest.raises(BenchError, match="unknown skip_gate"):
        create_model("def-gan", "market", width=SMALL, skip_gate="dense")
    mask = munet.DenseMask(4, (8, 4))
    with pytest.raises(BenchError, match=r"\(B, 4, 8, 4\)"):
        mask(torch.zeros(1, 4, 8, 8))
    # the unmasked def-gan keeps identity gates: no parameters, same state dict keys
    model = create_model("def-gan", "market", width=SMALL)
    assert all(isinstance(g, torch.nn.Identity) for g in model.generator.skip_gates)
