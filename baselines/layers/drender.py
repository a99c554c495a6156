"""Differentiable vertex + edge pose renderer (Horiuchi et al., "Differentiable
Rendering-based Pose-Conditioned Human Image Generation", 2021; the seed text names no venue).

No public code exists; this follows the paper's equations (1)-(14) (seed
``000_095035fc56598335.txt``). Keypoints are (y, x) pixel coordinates, -1 where
missing, and maps are evaluated at integer pixel positions p = (row, column), the
grid pose-gan's ``cords_to_map`` uses.

Vertex renderer (sec. 3.1): one map per keypoint, with a learnable sigma per keypoint,
zero for a missing keypoint. Edge renderer (sec. 3.2, eqs. 5-14), for each of the 19
edges (j, k) of :data:`bench.data.keypoints.SKELETON`::

    p_start = p_j + alpha_s (p_k - p_j)                                    (5)
    p_end   = p_k + alpha_e (p_k - p_j)                                    (6)
    v_straight = (p_end - p_start) / (|p_end - p_start|^2 + eps)           (7)
    v'_normal  = [[0, 1], [-1, 0]] v_straight                              (8)
    v_normal   = beta v'_normal / (|v'_normal|^2 + eps)                    (9)
    H_E(p) = rrect((p - p_start).v_straight) rrect((p - p_start).v_normal + 0.5)   (10)
    rrect(x) = clip((1 + g - x) / 2g, 0, 1) + clip((g + x) / 2g, 0, 1) - 1, g = 0.2 (13, 14)

so the first factor is the position along the extended segment as a fraction of its
length (1 on [g, 1 - g], ramps of width 2g around both ends, 0.5 on the end points) and
the second a band across it. Each factor lies in [0, 1], so the maps need no clamp and
peak at exactly 1. With eq. 9 taken literally, |v_normal| = beta |p_end - p_start|, so the
band's full width at the 0.5 level is ``1 / (beta L)`` pixels for an edge of length L:
longer edges are drawn thinner (``normal="paper"``); ``normal="unit"`` makes it
``1 / beta`` pixels for every length (eq. 9 with a unit-normalised v'_normal).

Gaps in the paper and how they are filled here (each a documented choice):

1. Vertex map form. Eq. 2 prints ``exp(-|p - p_i| / sigma^2)`` and calls it Def-GAN's,
   whose code (pose-gan ``cords_to_map``) uses ``exp(-|p - p_i|^2 / (2 sigma^2))`` with
   sigma = 6. Default ``vertex="defgan"`` (the Gaussian the paper says it replaces);
   ``vertex="paper-eq2"`` is eq. 2 as printed.
2. Initial sigma: 6 for every keypoint (Def-GAN's cross-validated value, sec. 3.1).
3. Positivity: sigma = exp(log_sigma) and beta = exp(log_beta) are learned in log space;
   alpha_s, alpha_e are unconstrained reals (eq. 5 with alpha_s > 0 moves the start
   *towards* p_k, so the sign is left to training). Initial alpha_s = alpha_e = 0 (the
   segment between the two keypoints).
4. Initial beta: not given. ``beta_for_width(width, length, normal)`` sets it so the band
   is ``width`` pixels wide for an edge of ``length`` pixels. Default: each edge's beta
   makes its band 6 pixels (sigma) wide at that edge's median length in the real
   annotations (:data:`REFERENCE_EDGE_LENGTHS`), so with the literal eq. 9 no edge starts
   as a wide bar across a short edge (nose-eye is ~3.6 px long on Market).
5. eps: not given; 1e-8 (|v'_normal|^2 is about 1/L^2 >= 1e-5 for edges under ~300 px, so
   eps changes the maps by under 0.1 %).
6. Channels: the paper shows vertices and edges both feeding the generator without saying
   how; the 18 vertex maps and 19 edge maps are concatenated (37 channels, vertices first;
   eq. 12's upper index k is a typo for 19). ``vertices`` / ``edges`` switch either off.
7. Missing or degenerate edges: a missing end point gives a zero map. A zero-length edge
   (both key points on the same pixel, ~1e-4 of Market's edges) makes v_straight = v_normal
   = 0 and eq. 10 a constant 0.5 over the whole image; it is drawn as a zero map instead.
8. Orientation of eq. 8 in (y, x) order: the band is symmetric about the segment, so the
   sign of the normal does not matter.
9. Pixel grid: "a tensor with a sequence of numbers" (sec. 3.1) is read as the integer
   pixel coordinates 0..H-1, 0..W-1 (no half-pixel offset), the grid of the sigma-6 maps.
10. Eq. 14 equals eq. 13 only for gamma <= 0.5 (the ramps overlap beyond); other values
    are rejected.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bench.data.keypoints import MISSING, NUM_KEYPOINTS, SKELETON
from bench.errors import BenchError

GAMMA = 0.2  # sec. 3.2: "The slope of the edge gamma is fixed to 0.2"
EPS = 1e-8
SIGMA_INIT = 6.0  # Def-GAN's sigma
EDGE_WIDTH = 6.0  # initial band width in pixels at the reference length (gap 4)
# Median length in pixels of each SKELETON edge (both end points present, length > 0) in
# the real annotations: Market-1501 train CSV (12,936 images) and the old DeepFashion
# test CSV (4,061 images; the only DeepFashion annotations at hand).
REFERENCE_EDGE_LENGTHS = {
    "market": (13.0, 13.0, 20.4, 17.0, 20.1, 17.1, 38.8, 27.7, 26.8, 38.8, 27.5, 26.5, 16.6, 3.6, 7.1, 3.6, 7.3,
               16.2, 17.0),
    "deepfashion": (23.0, 23.0, 62.2, 51.5, 63.0, 52.8, 111.9, 57.1, 53.0, 112.3, 57.1, 52.6, 42.0, 8.9, 10.3, 9.4,
                    11.7, 45.2, 45.9),
}
VERTEX_FORMS = ("defgan", "paper-eq2")
NORMALS = ("paper", "unit")

Init = float | Sequence[float]


def rrect(x: torch.Tensor, gamma: float = GAMMA) -> torch.Tensor:
    """Ramped rectangle (eq. 14): 0 outside (-gamma, 1 + gamma), 1 on [gamma, 1 - gamma], linear ramps between."""
    if not 0 < gamma <= 0.5:
        raise BenchError(f"rrect needs 0 < gamma <= 0.5, got {gamma}")
    return ((1 + gamma - x) / (2 * gamma)).clamp(0, 1) + ((gamma + x) / (2 * gamma)).clamp(0, 1) - 1


def beta_for_width(width: float, length: float | Sequence[float], normal: str = "paper") -> list[float]:
    """Per-edge betas whose bands are ``width`` pixels wide (at the 0.5 level) on edges of ``length`` pixels."""
    if normal not in NORMALS:
        raise BenchError(f"unknown normal {normal!r}; choose one of {', '.join(NORMALS)}")
    lengths = [float(length)] if isinstance(length, (int, float)) else [float(v) for v in length]
    return [1.0 / (width * v) if normal == "paper" else 1.0 / width for v in lengths]


def _init(value: Init, n: int, name: str, positive: bool = False) -> torch.Tensor:
    values = [float(value)] if isinstance(value, (int, float)) else [float(v) for v in value]
    if len(values) == 1:
        values = values * n
    if len(values) != n:
        raise BenchError(f"{name} needs 1 or {n} initial values, got {len(values)}")
    if positive and min(values) <= 0:
        raise BenchError(f"{name} must be positive, got {min(values)}")
    return torch.tensor(values, dtype=torch.float32)


def _present(keypoints: torch.Tensor) -> torch.Tensor:
    """(..., 18) bool: neither coordinate is the missing marker (as bench.data.pose.heatmaps)."""
    return (keypoints != MISSING).all(-1)


class DifferentiablePoseRenderer(nn.Module):
    """Keypoints (..., 18, 2) (y, x) -> pose maps (..., 18 + 19, H, W), differentiable in
    every parameter and in the keypoints.

    Learnable: ``log_sigma`` (18), ``alpha_start``, ``alpha_end``, ``log_beta`` (19 each).
    """

    def __init__(self, sigma_init: Init = SIGMA_INIT, alpha_start_init: Init = 0.0, alpha_end_init: Init = 0.0,
                 beta_init: Init | None = None, gamma: float = GAMMA, eps: float = EPS, vertex: str = "defgan",
                 normal: str = "paper", vertices: bool = True, edges: bool = True,
                 skeleton: Sequence[tuple[int, int]] = SKELETON):
        super().__init__()
        if vertex not in VERTEX_FORMS:
            raise BenchError(f"unknown vertex form {vertex!r}; choose one of {', '.join(VERTEX_FORMS)}")
        if normal not in NORMALS:
            raise BenchError(f"unknown normal {normal!r}; choose one of {', '.join(NORMALS)}")
        if not (vertices or edges):
            raise BenchError("the renderer needs vertices, edges or both")
        if not 0 < gamma <= 0.5:
            raise BenchError(f"rrect needs 0 < gamma <= 0.5, got {gamma}")
        if beta_init is None:
            beta_init = beta_for_width(EDGE_WIDTH, REFERENCE_EDGE_LENGTHS["market"], normal)
        n_edges = len(skeleton)
        sigma = _init(sigma_init, NUM_KEYPOINTS, "sigma_init", positive=True)
        beta = _init(beta_init, n_edges, "beta_init", positive=True)
        self.gamma, self.eps, self.vertex, self.normal = gamma, eps, vertex, normal
        self.use_vertices, self.use_edges = vertices, edges
        self.log_sigma = nn.Parameter(sigma.log())
        self.alpha_start = nn.Parameter(_init(alpha_start_init, n_edges, "alpha_start_init"))
        self.alpha_end = nn.Parameter(_init(alpha_end_init, n_edges, "alpha_end_init"))
        self.log_beta = nn.Parameter(beta.log())
        self.register_buffer("edge_index", torch.tensor(skeleton, dtype=torch.long).reshape(n_edges, 2), persistent=False)

    @property
    def channels(self) -> int:
        return NUM_KEYPOINTS * self.use_vertices + len(self.edge_index) * self.use_edges

    @property
    def sigma(self) -> torch.Tensor:
        return self.log_sigma.exp()

    @property
    def beta(self) -> torch.Tensor:
        return self.log_beta.exp()

    def forward(self, keypoints: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if keypoints.shape[-2:] != (NUM_KEYPOINTS, 2):
            raise BenchError(f"keypoints must have shape (..., {NUM_KEYPOINTS}, 2), got {tuple(keypoints.shape)}")
        lead = keypoints.shape[:-2]
        kp = keypoints.reshape(-1, NUM_KEYPOINTS, 2).to(self.log_sigma.dtype)
        maps = []
        if self.use_vertices:
            maps.append(self.render_vertices(kp, size))
        if self.use_edges:
            maps.append(self.render_edges(kp, size))
        out = torch.cat(maps, 1)
        return out.reshape(*lead, *out.shape[1:])

    def _grid(self, kp: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = size
        ys = torch.arange(height, dtype=kp.dtype, device=kp.device)
        xs = torch.arange(width, dtype=kp.dtype, device=kp.device)
        return ys[:, None], xs[None, :]  # (H, 1), (1, W)

    def render_vertices(self, kp: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(N, 18, 2) -> (N, 18, H, W): one blob per keypoint with its own sigma; zero if missing."""
        ys, xs = self._grid(kp, size)
        dy = ys - kp[..., 0, None, None]  # (N, 18, H, 1)
        dx = xs - kp[..., 1, None, None]  # (N, 18, 1, W)
        sigma2 = self.sigma.square()[:, None, None]
        if self.vertex == "defgan":
            maps = torch.exp(-(dy.square() + dx.square()) / (2 * sigma2))
        else:  # eq. 2 as printed: Euclidean distance over sigma^2
            maps = torch.exp(-torch.sqrt(dy.square() + dx.square()) / sigma2)
        return maps * _present(kp)[..., None, None]

    def edge_frames(self, kp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, 18, 2) -> p_start, v_straight, v_normal (N, 19, 2) and the edges' validity (N, 19)."""
        pj, pk = kp[:, self.edge_index[:, 0]], kp[:, self.edge_index[:, 1]]
        along = pk - pj
        start = pj + self.alpha_start[:, None] * along  # eq. 5
        end = pk + self.alpha_end[:, None] * along  # eq. 6
        d = end - start
        v_straight = d / (d.square().sum(-1, keepdim=True) + self.eps)  # eq. 7
        v_rot = torch.stack((v_straight[..., 1], -v_straight[..., 0]), -1)  # eq. 8
        if self.normal == "paper":
            v_normal = self.beta[:, None] * v_rot / (v_rot.square().sum(-1, keepdim=True) + self.eps)  # eq. 9
        else:  # unit normal scaled by beta: band width 1 / beta pixels
            v_normal = self.beta[:, None] * v_rot / torch.sqrt(v_rot.square().sum(-1, keepdim=True) + self.eps ** 2)
        present = _present(kp)
        valid = present[:, self.edge_index[:, 0]] & present[:, self.edge_index[:, 1]] & (along != 0).any(-1)
        return start, v_straight, v_normal, valid

    def render_edges(self, kp: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(N, 18, 2) -> (N, 19, H, W): eq. 10 for every edge; zero for missing or zero-length edges."""
        start, v_straight, v_normal, valid = self.edge_frames(kp)
        ys, xs = self._grid(kp, size)
        dy = ys - start[..., 0, None, None]  # (N, 19, H, 1)
        dx = xs - start[..., 1, None, None]  # (N, 19, 1, W)
        along = dy * v_straight[..., 0, None, None] + dx * v_straight[..., 1, None, None]
        across = dy * v_normal[..., 0, None, None] + dx * v_normal[..., 1, None, None]
        maps = rrect(along, self.gamma) * rrect(across + 0.5, self.gamma)
        return maps * valid[..., None, None]

    def extra_repr(self) -> str:
        return (f"vertices={self.use_vertices}, edges={self.use_edges} ({len(self.edge_index)}), vertex={self.vertex!r}, "
                f"normal={self.normal!r}, gamma={self.gamma}, eps={self.eps}")
