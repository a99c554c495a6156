"""The differentiable vertex + edge renderer of Horiuchi et al.: rrect against its piecewise
definition, maps against hand-computed values and a per-pixel transcription of eqs. 5-10,
missing keypoints, and gradients (gradcheck in double precision)."""
from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call

from baselines.layers.drender import (
    REFERENCE_EDGE_LENGTHS,
    DifferentiablePoseRenderer,
    beta_for_width,
    rrect,
)
from bench.data.keypoints import INDEX, MISSING, NUM_KEYPOINTS, SKELETON
from bench.data.pose import heatmaps
from bench.errors import BenchError

EDGE = {pair: i for i, pair in enumerate(SKELETON)}


def rrect_piecewise(x: float, gamma: float) -> float:
    """Eq. 13, case by case."""
    if x < -gamma:
        return 0.0
    if x < gamma:
        return (x + gamma) / (2 * gamma)
    if x < 1 - gamma:
        return 1.0
    if x < 1 + gamma:
        return -(x - 1 - gamma) / (2 * gamma)
    return 0.0


def missing(n: int = 1) -> torch.Tensor:
    return torch.full((n, NUM_KEYPOINTS, 2), float(MISSING), dtype=torch.float64)


def renderer(**kwargs) -> DifferentiablePoseRenderer:
    """A double-precision renderer whose maps are plain values (the gradient tests pass their own parameters)."""
    return DifferentiablePoseRenderer(**kwargs).double().requires_grad_(False)


# --------------------------------------------------------------------------------------
# rrect


@pytest.mark.parametrize("gamma", [0.05, 0.1, 0.2, 0.35, 0.5])
def test_rrect_equals_its_piecewise_definition(gamma):
    breakpoints = [-gamma, gamma, 1 - gamma, 1 + gamma]
    xs = torch.cat((torch.linspace(-1.0, 2.0, 1201, dtype=torch.float64), torch.tensor(breakpoints, dtype=torch.float64)))
    expected = torch.tensor([rrect_piecewise(float(x), gamma) for x in xs], dtype=torch.float64)
    torch.testing.assert_close(rrect(xs, gamma), expected, rtol=0, atol=1e-12)
    # Each part is visited: zero outside, both ramps, the flat top (except gamma = 0.5, where it is a point).
    assert (expected == 0).any() and (expected == 1).any()
    assert ((expected > 0) & (expected < 1) & (xs < 0.5)).any() and ((expected > 0) & (expected < 1) & (xs > 0.5)).any()


def test_rrect_rejects_bad_gamma():
    with pytest.raises(BenchError, match="gamma"):
        rrect(torch.zeros(3), 0.6)
    with pytest.raises(BenchError, match="gamma"):
        DifferentiablePoseRenderer(gamma=0.0)


# --------------------------------------------------------------------------------------
# Parameters and shapes


def test_parameters_and_their_initial_values():
    r = DifferentiablePoseRenderer()
    assert sum(p.numel() for p in r.parameters()) == 18 + 3 * 19
    torch.testing.assert_close(r.sigma, torch.full((18,), 6.0))
    assert (r.alpha_start == 0).all() and (r.alpha_end == 0).all()
    # Band 6 px wide at each edge's median length under the literal eq. 9: beta = 1 / (6 L).
    torch.testing.assert_close(r.beta, 1 / (6 * torch.tensor(REFERENCE_EDGE_LENGTHS["market"])))
    assert beta_for_width(4.0, 20.0, "unit") == [0.25]
    with pytest.raises(BenchError, match="sigma_init"):
        DifferentiablePoseRenderer(sigma_init=[1.0] * 17)
    with pytest.raises(BenchError, match="positive"):
        DifferentiablePoseRenderer(beta_init=0.0)
    with pytest.raises(BenchError, match="vertex"):
        DifferentiablePoseRenderer(vertex="gauss")


def test_output_channels_and_leading_dimensions():
    kp = torch.rand(2, 3, NUM_KEYPOINTS, 2, dtype=torch.float64) * torch.tensor([12.0, 8.0], dtype=torch.float64)
    assert renderer()(kp, (12, 8)).shape == (2, 3, 37, 12, 8)
    assert renderer(edges=False)(kp, (12, 8)).shape == (2, 3, 18, 12, 8)
    only_edges = renderer(vertices=False)
    assert only_edges.channels == 19
    torch.testing.assert_close(only_edges(kp, (12, 8)), renderer()(kp, (12, 8))[:, :, 18:])
    with pytest.raises(BenchError, match="keypoints"):
        renderer()(torch.zeros(2, 17, 2), (12, 8))


# --------------------------------------------------------------------------------------
# Vertex maps


def test_vertex_map_is_defgans_gaussian_at_hand_computed_points():
    kp = missing()
    kp[0, 3] = torch.tensor([5.0, 3.0])
    r = renderer(sigma_init=2.0)
    m = r(kp, (12, 8))[0, 3]
    assert m[5, 3] == 1.0
    assert m[7, 3] == pytest.approx(math.exp(-4 / 8))  # d^2 = 4, 2 sigma^2 = 8
    assert m[6, 4] == pytest.approx(math.exp(-2 / 8))
    assert m[0, 0] == pytest.approx(math.exp(-(25 + 9) / 8))


def test_vertex_map_as_printed_in_eq2():
    kp = missing()
    kp[0, 3] = torch.tensor([5.0, 3.0])
    m = renderer(sigma_init=2.0, vertex="paper-eq2")(kp, (12, 8))[0, 3]
    assert m[7, 3] == pytest.approx(math.exp(-2 / 4))  # |d| = 2, sigma^2 = 4
    assert m[8, 7] == pytest.approx(math.exp(-5 / 4))  # |d| = 5


def test_vertex_maps_at_sigma_6_equal_the_batch_heatmaps():
    g = torch.Generator().manual_seed(0)
    kp = torch.rand(3, NUM_KEYPOINTS, 2, generator=g, dtype=torch.float64) * torch.tensor([128.0, 64.0], dtype=torch.float64)
    kp[0, 4] = MISSING
    torch.testing.assert_close(renderer()(kp, (128, 64))[:, :18], heatmaps(kp, (128, 64), 6.0, torch.float64))


def test_each_keypoint_has_its_own_sigma():
    kp = missing()
    kp[0, :, 0], kp[0, :, 1] = 10.0, 10.0
    sigmas = torch.linspace(1.0, 5.0, 18).tolist()
    m = renderer(sigma_init=sigmas)(kp, (21, 21))[0, :18]
    for i, s in enumerate(sigmas):
        assert m[i, 10, 13] == pytest.approx(math.exp(-9 / (2 * s * s)))


# --------------------------------------------------------------------------------------
# Edge maps


def horizontal_edge(y: float, x0: float, x1: float) -> tuple[torch.Tensor, int]:
    """Keypoints with only neck (x0) and right shoulder (x1) on row y: edge (1, 2)."""
    kp = missing()
    kp[0, INDEX["neck"]] = torch.tensor([y, x0])
    kp[0, INDEX["r_shoulder"]] = torch.tensor([y, x1])
    return kp, EDGE[(INDEX["neck"], INDEX["r_shoulder"])]


def test_edge_map_by_hand_on_a_horizontal_edge():
    kp, e = horizontal_edge(10.0, 5.0, 25.0)  # length 20
    r = renderer(beta_init=1 / (4 * 20))  # literal eq. 9: band 4 px wide on a 20 px edge
    m = r(kp, (20, 32))[0, 18 + e]
    assert m[10, 15] == 1.0  # midpoint
    assert m[10, 5] == pytest.approx(0.5) and m[10, 25] == pytest.approx(0.5)  # end points sit in the middle of the ramps
    assert m[10, 3] == pytest.approx(0.25)  # t = -0.1: (t + 0.2) / 0.4
    assert m[11, 15] == 1.0 and m[9, 15] == 1.0  # across = +-0.25: flat part
    # across = +-0.5: band edge (eps = 1e-8 against |v'_normal|^2 = 1/400 moves it by ~5e-6)
    assert m[12, 15] == pytest.approx(0.5, abs=1e-4) and m[8, 15] == pytest.approx(0.5, abs=1e-4)
    assert m[0, 0] == 0.0 and m[19, 31] == 0.0 and m[10, 30] == 0.0  # far away
    others = torch.cat((r(kp, (20, 32))[0, 18:18 + e], r(kp, (20, 32))[0, 19 + e:]))
    assert (others == 0).all()  # every other edge has a missing end point


def test_alpha_extends_the_edge_at_start_and_end():
    kp, e = horizontal_edge(10.0, 5.0, 25.0)
    r = renderer(beta_init=1 / (4 * 30), alpha_start_init=-0.25, alpha_end_init=0.25)  # now from x = 0 to x = 30
    m = r(kp, (20, 32))[0, 18 + e]
    assert m[10, 0] == pytest.approx(0.5) and m[10, 30] == pytest.approx(0.5)
    assert m[10, 3] == pytest.approx(0.75) and m[10, 27] == pytest.approx(0.75)  # t = 0.1 and 0.9
    assert m[10, 5] == pytest.approx((5 / 30 + 0.2) / 0.4)  # the start keypoint is on the ramp now
    assert m[10, 7] == 1.0 and m[10, 23] == 1.0


def test_literal_eq9_draws_longer_edges_thinner_and_unit_normal_does_not():
    short, e = horizontal_edge(10.0, 5.0, 25.0)
    long, _ = horizontal_edge(10.0, 5.0, 45.0)
    paper = renderer(beta_init=1 / 80)
    assert paper(short, (20, 48))[0, 18 + e, 12, 15] == pytest.approx(0.5, abs=1e-4)  # across = beta L d = 0.5
    assert paper(long, (20, 48))[0, 18 + e, 12, 25] == 0.0  # across = 1.0: past the band
    unit = renderer(beta_init=0.25, normal="unit")  # width 1 / beta = 4 px for any length
    assert unit(short, (20, 48))[0, 18 + e, 12, 15] == pytest.approx(0.5)
    assert unit(long, (20, 48))[0, 18 + e, 12, 25] == pytest.approx(0.5)


def edge_map_by_pixel(kp, j, k, a_s, a_e, beta, gamma, eps, size, normal="paper"):
    """Eqs. 5-10 transcribed per pixel with Python floats (independent of the vectorised code)."""
    (yj, xj), (yk, xk) = kp[j], kp[k]
    sy, sx = yj + a_s * (yk - yj), xj + a_s * (xk - xj)
    ey, ex = yk + a_e * (yk - yj), xk + a_e * (xk - xj)
    n2 = (ey - sy) ** 2 + (ex - sx) ** 2 + eps
    vy, vx = (ey - sy) / n2, (ex - sx) / n2
    ry, rx = vx, -vy  # [[0, 1], [-1, 0]] @ (vy, vx)
    r2 = ry * ry + rx * rx
    scale = beta / (r2 + eps) if normal == "paper" else beta / math.sqrt(r2 + eps ** 2)
    ny, nx = scale * ry, scale * rx
    out = torch.zeros(size, dtype=torch.float64)
    for y in range(size[0]):
        for x in range(size[1]):
            t = (y - sy) * vy + (x - sx) * vx
            u = (y - sy) * ny + (x - sx) * nx
            out[y, x] = rrect_piecewise(t, gamma) * rrect_piecewise(u + 0.5, gamma)
    return out


@pytest.mark.parametrize("normal", ["paper", "unit"])
def test_edge_maps_match_the_per_pixel_equations(normal):
    g = torch.Generator().manual_seed(1)
    size = (16, 12)
    kp = torch.rand(NUM_KEYPOINTS, 2, generator=g, dtype=torch.float64) * torch.tensor([16.0, 12.0], dtype=torch.float64)
    a_s = (torch.rand(19, generator=g, dtype=torch.float64) - 0.5) * 0.6
    a_e = (torch.rand(19, generator=g, dtype=torch.float64) - 0.5) * 0.6
    beta = torch.rand(19, generator=g, dtype=torch.float64) * 0.1 + 0.02 if normal == "paper" else torch.full((19,), 0.3)
    r = renderer(alpha_start_init=a_s.tolist(), alpha_end_init=a_e.tolist(), beta_init=beta.tolist(), normal=normal)
    maps = r(kp[None], size)[0, 18:]
    for i, (j, k) in enumerate(SKELETON):
        expected = edge_map_by_pixel(kp.tolist(), j, k, float(r.alpha_start[i]), float(r.alpha_end[i]), float(r.beta[i]),
                                     r.gamma, r.eps, size, normal)
        torch.testing.assert_close(maps[i], expected, rtol=0, atol=1e-9)
    assert maps.amax() == 1.0 and (maps > 0).float().mean() > 0.05  # something was drawn


def test_missing_and_zero_length_edges_give_zero_maps():
    g = torch.Generator().manual_seed(2)
    kp = torch.rand(1, NUM_KEYPOINTS, 2, generator=g, dtype=torch.float64) * 10 + 1
    kp[0, INDEX["r_elbow"]] = MISSING
    kp[0, INDEX["l_hip"], 1] = MISSING  # one coordinate missing is missing
    kp[0, INDEX["r_knee"]] = kp[0, INDEX["r_hip"]]  # zero-length edge (8, 9)
    r = renderer()
    maps = r(kp, (12, 12))[0]
    for name in ("r_elbow", "l_hip"):
        assert (maps[INDEX[name]] == 0).all()
    for i, (j, k) in enumerate(SKELETON):
        dead = {INDEX["r_elbow"], INDEX["l_hip"]} & {j, k} or (j, k) == (INDEX["r_hip"], INDEX["r_knee"])
        assert bool((maps[18 + i] == 0).all()) == bool(dead), (j, k)
    assert (r(missing(2), (12, 12)) == 0).all()


# --------------------------------------------------------------------------------------
# Gradients


KINKS = (-0.2, 0.2, 0.8, 1.2)


def gradcheck_pose() -> torch.Tensor:
    """Neck, shoulders and right elbow on a 12x8 image at non-integer positions: edges (1, 2), (1, 5), (2, 3)."""
    kp = missing()
    kp[0, INDEX["neck"]] = torch.tensor([2.25, 3.75])
    kp[0, INDEX["r_shoulder"]] = torch.tensor([3.05, 1.25])
    kp[0, INDEX["l_shoulder"]] = torch.tensor([2.85, 6.45])
    kp[0, INDEX["r_elbow"]] = torch.tensor([8.55, 1.95])
    return kp


def assert_away_from_kinks(r: DifferentiablePoseRenderer, kp: torch.Tensor, size, margin: float = 1e-4) -> None:
    """No pixel's rrect arguments within ``margin`` of a kink, so finite differences see a smooth map
    (gradcheck's 1e-6 steps move these arguments by well under 1e-5 here)."""
    start, v_straight, v_normal, valid = r.edge_frames(kp)
    ys = torch.arange(size[0], dtype=kp.dtype)[:, None]
    xs = torch.arange(size[1], dtype=kp.dtype)[None, :]
    for i in valid[0].nonzero().flatten().tolist():
        dy, dx = ys - start[0, i, 0], xs - start[0, i, 1]
        along = dy * v_straight[0, i, 0] + dx * v_straight[0, i, 1]
        across = dy * v_normal[0, i, 0] + dx * v_normal[0, i, 1] + 0.5
        for arg in (along, across):
            assert min((arg - kink).abs().min() for kink in KINKS) > margin


@pytest.mark.parametrize("vertex, normal", [("defgan", "paper"), ("paper-eq2", "unit")])
def test_gradcheck_parameters_and_keypoints(vertex, normal):
    size = (12, 8)
    beta = 1 / (3 * 4.0) if normal == "paper" else 1 / 3
    r = renderer(vertex=vertex, normal=normal, beta_init=beta, sigma_init=1.5,
                 alpha_start_init=-0.13, alpha_end_init=0.11)
    kp = gradcheck_pose()
    assert_away_from_kinks(r, kp, size)
    names = ("log_sigma", "alpha_start", "alpha_end", "log_beta")
    params = tuple(getattr(r, n).detach().clone().requires_grad_() for n in names)
    present = (kp[0] != MISSING).all(-1)
    # Only the present keypoints are inputs: nudging a -1 marker would make a keypoint appear.
    points = kp[0, present].clone().requires_grad_()

    def render(*args):
        full = kp.clone()
        full[0, present] = args[4]
        return functional_call(r, dict(zip(names, args[:4])), (full, size))

    # fast_mode checks random projections of the Jacobian (the full one needs 3,552 backward passes).
    assert torch.autograd.gradcheck(render, (*params, points), eps=1e-6, atol=1e-6, fast_mode=True)
    # Every input individually, on a few output pixels of each channel kind, in full mode.
    pick = lambda *args: render(*args)[:, [3, 18 + 2], 5:8, 1:4]  # noqa: E731  (r_elbow vertex, edge (2, 3))
    assert torch.autograd.gradcheck(pick, (*params, points), eps=1e-6, atol=1e-6)

    # Gradients reach exactly the parameters of the drawn vertices and edges, and every present keypoint.
    render(*params, points).sum().backward()
    assert (params[0].grad[present] != 0).all() and (params[0].grad[~present] == 0).all()
    drawn = torch.tensor([bool(present[j] and present[k]) for j, k in SKELETON])
    for p in params[1:]:
        assert (p.grad[drawn] != 0).all() and (p.grad[~drawn] == 0).all()
    assert (points.grad != 0).any(-1).all()
