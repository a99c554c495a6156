"""Deformable skip connections of Siarohin et al. (CVPR 2018), shared by the Def-GAN family.

Facts from AliaksandrSiarohin/pose-gan (``pose_transform.py`` at HEAD 4b23294,
``conditional_gan.py``) and keras-contrib's ``InstanceNormalization``:

* **10 body parts**, in this order: torso, head, R/L upper leg, R/L lower leg,
  R/L upper arm, R/L forearm (:data:`PARTS`).
* **Transforms** (``affine_transforms``) are affine maps from the *target* pose to the
  *source* pose in (x = column, y = row) pixel coordinates, i.e. backward warps:
  an output pixel of the target frame samples the source there.

  - torso: fit over {Rhip, Lhip, Lsho, Rsho};
  - head: fit over the head points (nose, eyes, ears) present in *both* poses plus both
    shoulders; no common head point gives the off-image translation;
  - limb (from, to): fit between the 4 corners of the limb rectangles
    (``estimate_polygon(fr, to, st, inc_to, 0.1, 0.2, 0.2)``) in both poses. The
    rectangle extends the ``from`` end by 0.1 of the segment, then the ``to`` end by
    ``inc_to`` of the *already extended* segment (0.1 upper limbs, 0.3 lower limbs), and
    has half-width 0.2·st; ends that coincide give the square ``fr±1, to∓1``. A limb
    missing in the target gives the off-image translation; missing in the source, the
    mirrored limb (R<->L) of the source is used; both missing: off-image translation.
  - ``st = sqrt((|Rhip - Rsho|^2 + |Lhip - Lsho|^2) / 2)`` per pose.
  - a singular fitted matrix is replaced by the translation by (1000, 1000) px, which
    samples only zeros ("no point").

  The original fits with ``skimage.transform.estimate_transform('affine')``; here the
  fit is ordinary least squares (:func:`fit_affine`). Both agree exactly wherever an
  affine map fits the points exactly (every limb: rectangle to rectangle; a head with
  one common point), and differ slightly for the torso and heads with several points
  (skimage solves a total-least-squares system whose normalisation changed between
  versions).
* **Masks** (``pose_masks``) are drawn in the target pose at image resolution: torso =
  the whole image (the box version is commented out in the original); head = box
  ``[c - b, c + b)`` in rows and columns around the integer-truncated mean of the present
  head points, ``b = int(0.4·st)``; limbs = ``skimage.measure.grid_points_in_poly`` of
  the rectangles with ``inc_to`` 0.1 (upper) / 0.5 (lower), with scikit-image's pre-0.18
  even-odd rule (see :func:`_points_in_polygon`). A missing limb or head gives an empty
  mask.
* **Warping** (``AffineTransformLayer``) at a feature level ``s`` times smaller than the
  image divides the translation terms by ``s`` (the linear part is unchanged, so level
  pixel ``x`` stands for image pixel ``s·x``); ``tf.contrib.image.transform`` samples with
  NEAREST interpolation (``round``, half away from zero) and zeros outside. Masks are
  resized to the level with TF1 nearest-neighbour (pixel ``i`` reads ``floor(i·s)``).
  Each warped copy is multiplied by its mask and the maximum over the 10 copies is the
  skip feature.
* **Instance norm**: keras-contrib's ``InstanceNormalization()`` with its default
  ``axis=None`` normalises each sample over height, width *and* channels together,
  divides by (population std + 1e-3) and has one scalar scale and shift
  (:class:`ScalarInstanceNorm`).
* **Nearest-neighbour loss** (``conditional_gan.nn_loss``): for every location of the
  generated feature map, the minimum over the k x k neighbourhood in the real target's
  features (padded with -10000) of the channel-summed absolute difference; Keras then
  averages over batch and locations (:func:`nn_loss`).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.data.keypoints import FLIP_PERMUTATION, INDEX, MISSING

PARTS: tuple[str, ...] = (
    "torso", "head",
    "r_upper_leg", "l_upper_leg", "r_lower_leg", "l_lower_leg",
    "r_upper_arm", "l_upper_arm", "r_forearm", "l_forearm",
)
NUM_PARTS = len(PARTS)

TORSO: tuple[int, ...] = tuple(INDEX[n] for n in ("r_hip", "l_hip", "l_shoulder", "r_shoulder"))
HEAD_POINTS: tuple[int, ...] = tuple(INDEX[n] for n in ("nose", "r_eye", "l_eye", "r_ear", "l_ear"))
SHOULDERS: tuple[int, ...] = (INDEX["l_shoulder"], INDEX["r_shoulder"])

# (from, to, inc_to of the transform rectangle, inc_to of the mask rectangle), parts 2..9.
LIMBS: tuple[tuple[int, int, float, float], ...] = tuple(
    (INDEX[a], INDEX[b], inc_tr, inc_mask)
    for a, b, inc_tr, inc_mask in (
        ("r_hip", "r_knee", 0.1, 0.1), ("l_hip", "l_knee", 0.1, 0.1),
        ("r_knee", "r_ankle", 0.3, 0.5), ("l_knee", "l_ankle", 0.3, 0.5),
        ("r_shoulder", "r_elbow", 0.1, 0.1), ("l_shoulder", "l_elbow", 0.1, 0.1),
        ("r_elbow", "r_wrist", 0.3, 0.5), ("l_elbow", "l_wrist", 0.3, 0.5),
    )
)
INC_FROM = 0.1
HALF_WIDTH = 0.2  # of st, both ends
HEAD_BORDER = 0.40  # of st
NO_POINT_SHIFT = 1000.0  # px: the "no point" translation samples only zeros


# --------------------------------------------------------------------------------------
# Keypoint geometry (numpy, float64, vectorised over a batch)


def _xy(keypoints: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(N, 18, 2) (y, x) keypoints -> (x, y) float64 points and a presence mask (N, 18)."""
    kp = keypoints.detach().cpu().numpy() if isinstance(keypoints, torch.Tensor) else np.asarray(keypoints)
    if kp.ndim != 3 or kp.shape[1:] != (len(FLIP_PERMUTATION), 2):
        raise ValueError(f"keypoints must have shape (N, 18, 2), got {kp.shape}")
    present = np.all(kp != MISSING, axis=-1)
    return kp[..., ::-1].astype(np.float64), present


def st_distance(xy: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(N,) shoulder-hip scale ``sqrt(mean(|Rhip-Rsho|^2, |Lhip-Lsho|^2))``; NaN without the torso."""
    r = ((xy[:, INDEX["r_hip"]] - xy[:, INDEX["r_shoulder"]]) ** 2).sum(-1)
    l = ((xy[:, INDEX["l_hip"]] - xy[:, INDEX["l_shoulder"]]) ** 2).sum(-1)
    st = np.sqrt((r + l) / 2.0)
    return np.where(present[:, list(TORSO)].all(-1), st, np.nan)


def limb_polygon(fr: np.ndarray, to: np.ndarray, st: np.ndarray, inc_to: float) -> np.ndarray:
    """Corners (..., 4, 2) of a limb rectangle (``estimate_polygon`` with 0.1 / 0.2 / 0.2)."""
    fr = fr + (fr - to) * INC_FROM
    to = to + (to - fr) * inc_to  # measured from the extended ``fr``, as the original does
    d = fr - to
    normal = np.stack([-d[..., 1], d[..., 0]], axis=-1)
    length = np.linalg.norm(normal, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = np.asarray(st)[..., None] * HALF_WIDTH * normal / length
    rect = np.stack([fr + offset, fr - offset, to - offset, to + offset], axis=-2)
    square = np.stack([fr + 1, fr - 1, to - 1, to + 1], axis=-2)
    return np.where((length == 0)[..., None], square, rect)


def fit_affine(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares affine maps ``dst ~ A @ [src, 1]``, batched.

    ``src``, ``dst``: (..., P, 2) points; ``weights``: (..., P) of 0/1 (which points take
    part). Returns (..., 3, 3) matrices and an (...,) flag that is False where the
    points do not determine an affine map (fewer than 3 non-collinear points) or the
    map is singular.
    """
    if weights is None:
        weights = np.ones(src.shape[:-1])
    w = weights[..., None]
    design = np.concatenate([src, np.ones_like(src[..., :1])], axis=-1) * w  # (..., P, 3)
    normal = np.swapaxes(design, -1, -2) @ design  # (..., 3, 3)
    rhs = np.swapaxes(design, -1, -2) @ (dst * w)  # (..., 3, 2)
    # Well-posed iff the weighted points span the plane; judge on a scale-free matrix.
    scale = np.maximum(np.abs(normal).max(axis=(-1, -2), keepdims=True), 1e-300)
    solvable = np.abs(np.linalg.det(normal / scale)) > 1e-12
    safe = np.where(solvable[..., None, None], normal, np.eye(3))
    coef = np.linalg.solve(safe, rhs)  # (..., 3, 2): columns give the x and y rows
    matrix = np.zeros(src.shape[:-2] + (3, 3))
    matrix[..., :2, :] = np.swapaxes(coef, -1, -2)
    matrix[..., 2, 2] = 1.0
    ok = solvable & (np.abs(np.linalg.det(matrix[..., :2, :2])) > 1e-12)
    return matrix, ok


def no_point_transform(shape: tuple[int, ...] = ()) -> np.ndarray:
    m = np.broadcast_to(np.eye(3), shape + (3, 3)).copy()
    m[..., 0, 2] = m[..., 1, 2] = NO_POINT_SHIFT
    return m


def part_transforms(source_keypoints, target_keypoints) -> np.ndarray:
    """(N, 10, 3, 3) backward affine maps, target (x, y) pixel -> source (x, y) pixel."""
    src, src_present = _xy(source_keypoints)
    tgt, tgt_present = _xy(target_keypoints)
    st_src, st_tgt = st_distance(src, src_present), st_distance(tgt, tgt_present)
    out = no_point_transform((len(src), NUM_PARTS))

    torso = list(TORSO)
    m, ok = fit_affine(tgt[:, torso], src[:, torso])
    ok &= src_present[:, torso].all(-1) & tgt_present[:, torso].all(-1)
    out[ok, 0] = m[ok]

    head = list(HEAD_POINTS) + list(SHOULDERS)
    common = src_present[:, head] & tgt_present[:, head]
    m, ok = fit_affine(tgt[:, head], src[:, head], common.astype(np.float64))
    ok &= common[:, : len(HEAD_POINTS)].any(-1) & common[:, len(HEAD_POINTS):].all(-1)
    out[ok, 1] = m[ok]

    flip = np.asarray(FLIP_PERMUTATION)
    for part, (fr, to, inc_to, _) in enumerate(LIMBS, start=2):
        in_target = tgt_present[:, [fr, to]].all(-1)
        in_source = src_present[:, [fr, to]].all(-1)
        mirrored = ~in_source & src_present[:, [flip[fr], flip[to]]].all(-1)
        s_fr = np.where(mirrored[:, None], src[:, flip[fr]], src[:, fr])
        s_to = np.where(mirrored[:, None], src[:, flip[to]], src[:, to])
        with np.errstate(invalid="ignore"):
            poly_t = limb_polygon(tgt[:, fr], tgt[:, to], st_tgt, inc_to)
            poly_s = limb_polygon(s_fr, s_to, st_src, inc_to)
        finite = np.isfinite(poly_t).all((-1, -2)) & np.isfinite(poly_s).all((-1, -2))
        m, ok = fit_affine(np.nan_to_num(poly_t), np.nan_to_num(poly_s))
        ok &= in_target & (in_source | mirrored) & finite
        out[ok, part] = m[ok]
    return out


def _points_in_polygon(rows: np.ndarray, cols: np.ndarray, poly_rc: np.ndarray) -> np.ndarray:
    """scikit-image < 0.18 ``grid_points_in_poly``: the half-open even-odd rule.

    ``grid_points_in_poly(shape, verts)`` calls ``point_in_polygon(vx=verts rows,
    vy=verts cols, x=row, y=col)``; edge (i, j=i-1) toggles when ``y`` lies in
    ``[y_i, y_j)`` or ``[y_j, y_i)`` and ``x < (x_j - x_i)(y - y_i)/(y_j - y_i) + x_i``.
    ``rows``/``cols`` broadcast against ``poly_rc[..., 0, 0]``; returns a bool array.
    """
    inside = np.zeros(np.broadcast(rows, cols, poly_rc[..., 0, 0]).shape, dtype=bool)
    n = poly_rc.shape[-2]
    for i in range(n):
        j = i - 1
        xi, yi = poly_rc[..., i, 0], poly_rc[..., i, 1]
        xj, yj = poly_rc[..., j, 0], poly_rc[..., j, 1]
        crossed = ((yi <= cols) & (cols < yj)) | ((yj <= cols) & (cols < yi))
        with np.errstate(invalid="ignore", divide="ignore"):
            bound = (xj - xi) * (cols - yi) / (yj - yi) + xi
        inside ^= crossed & (rows < bound)
    return inside


def part_masks(target_keypoints, size: tuple[int, int]) -> np.ndarray:
    """(N, 10, H, W) float32 masks of the parts in the target pose (``pose_masks``)."""
    tgt, present = _xy(target_keypoints)
    height, width = size
    st = st_distance(tgt, present)
    masks = np.zeros((len(tgt), NUM_PARTS, height, width), dtype=np.float32)
    masks[:, 0] = 1.0

    rows = np.arange(height)[:, None]
    cols = np.arange(width)[None, :]
    head = list(HEAD_POINTS)
    n_head = present[:, head].sum(-1)
    for k in np.flatnonzero((n_head > 0) & np.isfinite(st)):
        centre = (tgt[k, head][present[k, head]].mean(0)).astype(np.int64)  # (x, y), truncated
        border = int(HEAD_BORDER * st[k])
        lo = np.maximum(centre - border, 0)
        hi = np.minimum(centre + border, (width, height))
        masks[k, 1, lo[1]:hi[1], lo[0]:hi[0]] = 1.0

    for part, (fr, to, _, inc_to) in enumerate(LIMBS, start=2):
        drawn = present[:, [fr, to]].all(-1) & np.isfinite(st)
        if not drawn.any():
            continue
        poly = limb_polygon(tgt[drawn, fr], tgt[drawn, to], st[drawn], inc_to)[..., ::-1]  # (row, col)
        inside = _points_in_polygon(rows[None], cols[None], poly[:, None, None])
        masks[drawn, part] = inside.astype(np.float32)
    return masks


# --------------------------------------------------------------------------------------
# Warping (torch)


def level_transforms(transforms: torch.Tensor, factor: float) -> torch.Tensor:
    """Image-level maps (..., 3, 3) -> maps of a level ``factor`` times smaller (translations / factor)."""
    out = transforms.clone()
    out[..., :2, 2] = out[..., :2, 2] / factor
    return out


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def warp(features: torch.Tensor, transforms: torch.Tensor, mode: str = "nearest") -> torch.Tensor:
    """Backward-warp ``features`` (B, C, h, w) by level maps (B, P, 3, 3): (B, P, C, h, w).

    Output pixel (x, y) reads the input at ``M @ (x, y, 1)`` (x = column); zeros outside.
    ``mode="nearest"`` rounds half away from zero like ``tf.contrib.image.transform``;
    ``"bilinear"`` interpolates (not in the original; offered as an option).
    """
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"warp mode must be 'nearest' or 'bilinear', got {mode!r}")
    b, c, h, w = features.shape
    p = transforms.shape[1]
    m = transforms.to(features.device, torch.float64)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64, device=features.device),
                            torch.arange(w, dtype=torch.float64, device=features.device), indexing="ij")
    grid = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(1, 1, h * w, 3)
    sampled = grid @ m.transpose(-1, -2)  # (B, P, h*w, 3): source (x, y, 1)
    sx, sy = sampled[..., 0], sampled[..., 1]
    if mode == "nearest":
        sx, sy = _round_half_away(sx), _round_half_away(sy)
        valid = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    # align_corners=True puts pixel centres 0 and w-1 at -1 and +1.
    gx = sx * 2 / max(w - 1, 1) - 1
    gy = sy * 2 / max(h - 1, 1) - 1
    norm_grid = torch.stack([gx, gy], -1).reshape(b * p, h, w, 2).to(features.dtype)
    repeated = features.unsqueeze(1).expand(b, p, c, h, w).reshape(b * p, c, h, w)
    out = F.grid_sample(repeated, norm_grid, mode=mode, padding_mode="zeros", align_corners=True)
    out = out.reshape(b, p, c, h, w)
    if mode == "nearest":  # also covers 1-pixel-wide levels, where align_corners maps everything to 0
        out = out * valid.reshape(b, p, 1, h, w).to(out.dtype)
    return out


def resize_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TF1 nearest resize of (B, P, H, W) masks: output pixel i reads floor(i * H / h)."""
    if tuple(masks.shape[-2:]) == tuple(size):
        return masks
    return F.interpolate(masks, size=size, mode="nearest")


def deformable_skip(features: torch.Tensor, transforms: torch.Tensor, masks: torch.Tensor,
                    image_size: tuple[int, int], mode: str = "nearest") -> torch.Tensor:
    """The deformable skip connection: max over parts of masked, part-warped features.

    ``features`` (B, C, h, w) at a level of an image of ``image_size``; ``transforms``
    (B, P, 3, 3) image-level backward maps; ``masks`` (B, P, H, W) image-level masks.
    """
    h, w = features.shape[-2:]
    factor = image_size[0] / h
    warped = warp(features, level_transforms(transforms, factor), mode)
    level_masks = resize_masks(masks.to(features.dtype), (h, w)).to(features.device)
    return (warped * level_masks.unsqueeze(2)).amax(dim=1)


# --------------------------------------------------------------------------------------
# Keras-contrib "instance norm" and the nearest-neighbour loss


class ScalarInstanceNorm(nn.Module):
    """keras-contrib ``InstanceNormalization(axis=None)``: per sample over (C, H, W), scalar affine.

    ``y = gamma * (x - mean) / (std + eps) + beta`` with the population std over all of
    a sample's channels and pixels (a LayerNorm without per-channel parameters, eps
    added to the std rather than the variance). Two parameters per layer.
    """

    def __init__(self, eps: float = 1e-3):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(1, x.dim()))
        mean = x.mean(dim=dims, keepdim=True)
        std = x.var(dim=dims, keepdim=True, unbiased=False).sqrt()
        return self.weight * (x - mean) / (std + self.eps) + self.bias

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


NN_PAD_VALUE = -10000.0


def nn_loss(generated: torch.Tensor, reference: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Nearest-neighbour loss (``conditional_gan.nn_loss``), averaged as Keras does.

    For each location of ``generated`` (B, C, H, W): the minimum over the ``size x size``
    window of ``reference`` (padded with -10000) centred there of ``sum_c |ref - gen|``;
    the mean over batch and locations.
    """
    if size % 2 != 1:
        raise ValueError(f"nn_loss window must be odd, got {size}")
    pad = size // 2
    h, w = generated.shape[-2:]
    padded = F.pad(reference, (pad, pad, pad, pad), value=NN_PAD_VALUE)
    best = None
    for dy in range(size):
        for dx in range(size):
            dist = (padded[..., dy:dy + h, dx:dx + w] - generated).abs().sum(1)
            best = dist if best is None else torch.minimum(best, dist)
    return best.mean()


__all__ = [
    "PARTS", "NUM_PARTS", "LIMBS", "st_distance", "limb_polygon", "fit_affine", "part_transforms",
    "part_masks", "level_transforms", "warp", "resize_masks", "deformable_skip", "ScalarInstanceNorm", "nn_loss",
]
