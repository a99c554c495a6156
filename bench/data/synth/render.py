"""A tiny z-buffered rasteriser for shaded, textured body parts.

Every part is a tapered rounded box around a 2-D axis ``a -> b``: a signed
distance field in the part's own (along, across) coordinates gives its
silhouette, a bulge ``sqrt(1 - (1 - depth_inside / radius)^2)`` gives the
surface's depth and its normal, so overlapping limbs hide each other by depth
rather than by a fixed painting order, and each part is lit like a cylinder.
Rendering happens on a supersampled grid that ``Canvas.image`` box-filters
down, which antialiases every edge.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Color = tuple[float, float, float]


@dataclass(frozen=True)
class Paint:
    """Surface colour: solid, horizontal stripes (along the axis) or checks, in pixel periods."""

    color: Color
    pattern: str = "solid"  # "solid" | "stripes" | "checks"
    color2: Color = (0.0, 0.0, 0.0)
    period: float = 4.0
    gloss: float = 0.0  # extra highlight strength (leather shoes, hair)

    def albedo(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        base = np.asarray(self.color, dtype=np.float32)
        if self.pattern == "solid":
            return np.broadcast_to(base, u.shape + (3,))
        band = np.floor(u / self.period).astype(np.int64)
        if self.pattern == "checks":
            band = band + np.floor(v / self.period).astype(np.int64)
        second = (band % 2 == 1)[..., None]
        return np.where(second, np.asarray(self.color2, dtype=np.float32), base)


@dataclass(frozen=True)
class Part:
    """A body part in image pixels: axis a -> b as (y, x), radii along it, depth z at both ends.

    ``radii`` are half-widths at evenly spaced stations from a to b. A capsule
    (``cap=True``) reaches ``radius`` beyond each end with round caps; a box
    stops at a and b with corners rounded by ``corner`` pixels. ``depth_ratio``
    is the surface's half-thickness towards the camera over its half-width.
    """

    label: str
    a: tuple[float, float]
    b: tuple[float, float]
    radii: tuple[float, ...]
    za: float
    zb: float
    paint: Paint
    cap: bool = True
    corner: float = 0.0
    depth_ratio: float = 1.0
    z_bias: float = 0.0


@dataclass
class Canvas:
    """Supersampled colour, depth and part-label buffers over an (H, W) image."""

    height: int
    width: int
    supersample: int = 2
    light: tuple[float, float] = (-0.35, 0.94)  # (x, towards camera) of the light direction
    labels: tuple[str, ...] = ()
    color: np.ndarray = field(init=False)
    alpha: np.ndarray = field(init=False)
    depth: np.ndarray = field(init=False)
    label: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        s = self.supersample
        hs, ws = self.height * s, self.width * s
        self.color = np.zeros((hs, ws, 3), dtype=np.float32)
        self.alpha = np.zeros((hs, ws), dtype=bool)
        self.depth = np.full((hs, ws), np.inf, dtype=np.float32)
        self.label = np.full((hs, ws), -1, dtype=np.int16)
        # Pixel i covers [i - 0.5, i + 0.5); subsample centres inside it.
        self.ys = ((np.arange(hs) + 0.5) / s - 0.5).astype(np.float32)
        self.xs = ((np.arange(ws) + 0.5) / s - 0.5).astype(np.float32)
        self._labels = list(self.labels)

    def label_id(self, name: str) -> int:
        if name not in self._labels:
            self._labels.append(name)
        return self._labels.index(name)

    def label_at(self, y: float, x: float) -> str | None:
        """The front-most part label at image point (y, x), None for background or outside."""
        s = self.supersample
        i, j = int(np.floor((y + 0.5) * s)), int(np.floor((x + 0.5) * s))
        if not (0 <= i < self.label.shape[0] and 0 <= j < self.label.shape[1]):
            return None
        k = int(self.label[i, j])
        return None if k < 0 else self._labels[k]

    def draw(self, part: Part) -> None:
        a, b = np.asarray(part.a, np.float32), np.asarray(part.b, np.float32)
        axis = b - a
        length = float(np.hypot(*axis))
        direction = axis / length if length > 1e-6 else np.array([1.0, 0.0], np.float32)
        normal = np.array([-direction[1], direction[0]], np.float32)  # (y, x) rotated: points to image right for a downward axis
        reach = max(part.radii) + 1.0
        window = self._window(a, b, reach)
        if window is None:
            return
        (i0, i1), (j0, j1) = window
        py = self.ys[i0:i1, None] - a[0]
        px = self.xs[None, j0:j1] - a[1]
        u = py * direction[0] + px * direction[1]
        v = py * normal[0] + px * normal[1]
        t = np.clip(u / max(length, 1e-6), 0.0, 1.0)
        stations = np.linspace(0.0, 1.0, len(part.radii))
        r = np.interp(t, stations, np.asarray(part.radii, np.float32)).astype(np.float32)
        if part.cap:
            lo, hi, corner = -part.radii[0], length + part.radii[-1], r
        else:
            lo, hi, corner = 0.0, length, np.minimum(part.corner, r)
        sdf = _rounded_box_sdf(u - (lo + hi) / 2, v, (hi - lo) / 2, r, corner)
        zbuf = self.depth[i0:i1, j0:j1]
        inside = sdf < 0
        if not inside.any():
            return
        # From here on only the pixels inside the part.
        sdf, r, t, u, v = sdf[inside], r[inside], t[inside], u[inside], v[inside]
        depth_in = np.clip(-sdf / np.maximum(r, 1e-3), 0.0, 1.0)
        bulge = np.sqrt(depth_in * (2.0 - depth_in))
        z = part.za + (part.zb - part.za) * t - part.depth_ratio * r * bulge + part.z_bias
        front = z < zbuf[inside]
        if not front.any():
            return
        # Cylinder lighting: the normal leans sideways by (1 - depth_in) on the rim.
        side = np.sign(v) * normal[1] * (1.0 - depth_in)
        lx, lz = self.light
        lambert = np.clip(side * lx + bulge * lz, 0.0, 1.0)
        shade = 0.45 + 0.62 * lambert + part.paint.gloss * lambert**12
        rgb = part.paint.albedo(u, v) * shade[..., None]
        ii, jj = np.nonzero(inside)
        ii, jj = ii[front] + i0, jj[front] + j0
        self.color[ii, jj] = rgb[front]
        self.depth[ii, jj] = z[front]
        self.alpha[ii, jj] = True
        self.label[ii, jj] = self.label_id(part.label)

    def _window(self, a: np.ndarray, b: np.ndarray, reach: float):
        ymin, ymax = min(a[0], b[0]) - reach, max(a[0], b[0]) + reach
        xmin, xmax = min(a[1], b[1]) - reach, max(a[1], b[1]) + reach
        i0, i1 = np.searchsorted(self.ys, [ymin, ymax])
        j0, j1 = np.searchsorted(self.xs, [xmin, xmax])
        if i1 <= i0 or j1 <= j0:
            return None
        return (int(i0), int(i1)), (int(j0), int(j1))

    def composite(self, background: np.ndarray) -> np.ndarray:
        """Lay the drawn parts over an (H, W, 3) background, box-filtering the supersamples to (H, W, 3)."""
        s, h, w = self.supersample, self.height, self.width
        cover = self.alpha.reshape(h, s, w, s).mean(axis=(1, 3), dtype=np.float32)[..., None]
        paint = (self.color * self.alpha[..., None]).reshape(h, s, w, s, 3).mean(axis=(1, 3), dtype=np.float32)
        return paint + (1.0 - cover) * background


def _rounded_box_sdf(u: np.ndarray, v: np.ndarray, half_len: float, half_width: np.ndarray, corner: np.ndarray) -> np.ndarray:
    """Signed distance to a box centred at 0 (half sizes along u and v) with rounded corners."""
    qx = np.abs(u) - (half_len - corner)
    qy = np.abs(v) - (half_width - corner)
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0) - corner
