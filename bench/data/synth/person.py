"""Turn an appearance and a pose into drawable parts and OpenPose-style keypoints.

A keypoint is annotated when (1) it lies inside the image, (2) for face points,
the face side it sits on is turned towards the camera (so back views lose nose
and eyes, side views the far eye and ear, as OpenPose does), and (3) the
front-most part drawn at its pixel is one of the parts it belongs to (an
occluder, the other arm or the torso in a side view hides it). Otherwise both
coordinates are -1.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from bench.data.keypoints import MISSING, NAMES
from bench.data.synth.appearance import Appearance
from bench.data.synth.kinematics import FACE_POINTS, SIDES, Pose, faces_camera, forward_kinematics, head_to_body, to_view
from bench.data.synth.render import Canvas, Paint, Part

_EYE = Paint((0.09, 0.07, 0.06))

# Parts a keypoint may be seen on ("{s}" is the keypoint's side).
_OWN_PARTS: dict[str, tuple[str, ...]] = {
    "nose": ("head", "hair"), "eye": ("head", "hair"), "ear": ("head", "hair"),
    # In side views the near arm passes in front of the neck and far shoulder;
    # OpenPose still finds them there, so an upper arm does not hide them.
    "neck": ("torso", "neck", "head", "hair", "r_upper_arm", "l_upper_arm"),
    "shoulder": ("torso", "neck", "hair", "r_upper_arm", "l_upper_arm"),
    "elbow": ("{s}_upper_arm", "{s}_forearm"),
    "wrist": ("{s}_forearm", "{s}_hand"),
    # A hand resting on the hip does not hide it either.
    "hip": ("torso", "pelvis", "skirt", "{s}_thigh", "r_hand", "l_hand", "r_forearm", "l_forearm"),
    "knee": ("{s}_thigh", "{s}_shin", "skirt"),
    "ankle": ("{s}_shin", "{s}_shoe", "skirt"),
}


def own_parts(keypoint: str) -> frozenset[str]:
    side, _, joint = keypoint.partition("_") if "_" in keypoint else ("", "", keypoint)
    return frozenset(p.format(s=side) for p in _OWN_PARTS[joint])


@dataclass(frozen=True)
class Placement:
    """Where the body frame lands in the image: pixels per body height, crown row, pelvis column."""

    scale: float
    top: float
    center_x: float
    z_offset: float = 0.0  # pixels; background people sit far behind


@dataclass
class Person:
    parts: list[Part]
    keypoints: np.ndarray  # (18, 3) float image (y, x, z)
    face_visible: np.ndarray  # (18,) bool, False for face points turned away


def _width(w: float, d: float, yaw: float) -> tuple[float, float]:
    """Projected half-width of an elliptic cross-section (half axes w sideways, d deep) and its depth ratio."""
    phi = np.radians(yaw)
    across = float(np.hypot(w * np.cos(phi), d * np.sin(phi)))
    deep = float(np.hypot(w * np.sin(phi), d * np.cos(phi)))
    return across, deep / across


class _Builder:
    """Collects parts whose geometry is given in body-frame points (l, y, f)."""

    def __init__(self, pose: Pose, place: Placement, prefix: str):
        self.pose, self.place, self.prefix = pose, place, prefix
        self.parts: list[Part] = []

    def point(self, p: np.ndarray) -> np.ndarray:
        xyz = to_view(np.asarray(p, dtype=float), self.pose.yaw)
        s = self.place
        return np.array([s.top + xyz[1] * s.scale, s.center_x + xyz[0] * s.scale, xyz[2] * s.scale + s.z_offset])

    def add(self, label: str, pa, pb, radii, paint: Paint, *, cap: bool = True, corner: float = 0.0,
            depth_ratio: float = 1.0, z_bias: float = 0.0, push_a: float = 0.0) -> None:
        """Add a part; lengths in body units. ``push_a`` moves the ``a`` end back (tucks a thigh under the shirt)."""
        a, b, s = self.point(pa), self.point(pb), self.place.scale
        a[2] += push_a * s
        radii = tuple(float(r * s) for r in np.atleast_1d(radii))
        if paint.pattern != "solid":
            paint = replace(paint, period=paint.period * s)
        self.parts.append(Part(self.prefix + label, (a[0], a[1]), (b[0], b[1]), radii, float(a[2]), float(b[2]), paint,
                               cap=cap, corner=corner * s, depth_ratio=depth_ratio, z_bias=z_bias * s))


def build_person(app: Appearance, pose: Pose, place: Placement, prefix: str = "") -> Person:
    """Parts (in no particular order: the z-buffer sorts them out) and keypoints of one person."""
    body, p = app.body, forward_kinematics(app.body, pose)
    skin = Paint(app.skin)
    up = p["up"]
    b = _Builder(pose, place, prefix)
    _torso(b, app, p, up)
    _head(b, app, pose, p, up, skin)
    for s in SIDES:
        _arm(b, app, p, s, skin)
        _leg(b, app, p, s, skin)
    _lower_garment(b, app, p, up)
    if app.backpack is not None:
        back = np.array([0.0, 0.0, -(body.torso_depth + 0.03)])
        b.add("backpack", p["neck"] - up * 0.035 + back, p["neck"] - up * 0.25 + back, (0.07, 0.078), app.backpack,
              cap=False, corner=0.025, depth_ratio=0.5)

    kp = np.stack([b.point(p[n]) for n in NAMES])
    face_visible = np.ones(len(NAMES), dtype=bool)
    total_yaw = pose.yaw + pose.head_yaw
    for name, (_, normal, threshold) in FACE_POINTS.items():
        face_visible[NAMES.index(name)] = faces_camera(normal, total_yaw, threshold)
    return Person(b.parts, kp, face_visible)


def _torso(b: _Builder, app: Appearance, p, up) -> None:
    body, yaw = app.body, b.pose.yaw
    chest, ratio = _width(body.chest_half, body.torso_depth, yaw)
    waist, _ = _width(body.waist_half, body.torso_depth * 0.9, yaw)
    hips, _ = _width(body.hips_outline_half, body.torso_depth, yaw)
    # Slightly in front of the waistband and sleeves where they meet.
    b.add("torso", p["neck"] + up * 0.02, p["pelvis"] - up * 0.075, (chest, chest * 0.97, waist, hips), app.top,
          cap=False, corner=0.05, depth_ratio=ratio, z_bias=-0.012)
    if np.cos(np.radians(yaw)) > 0.5:  # a V neckline on the chest, seen from the front only
        front = np.array([0.0, 0.0, body.torso_depth * 0.6])
        b.add("torso", p["neck"] + up * 0.015 + front, p["neck"] - up * 0.045 + front, (0.026, 0.004), Paint(app.skin),
              cap=False, corner=0.004, depth_ratio=0.3)


def _head(b: _Builder, app: Appearance, pose: Pose, p, up, skin: Paint) -> None:
    body = app.body
    hh, c = body.head_half_height, p["head_center"]
    hw, ratio = _width(body.head_half_width, body.head_half_width * 1.15, pose.yaw + pose.head_yaw)  # longer front to back
    back = head_to_body(np.array([0.0, 0.0, -0.013]), pose.head_yaw)
    b.add("neck", c - up * 0.02, p["neck"], 0.024, skin)
    b.add("head", c + up * hh, c - up * hh, (hw * 0.95, hw, hw * 0.82), skin, cap=False, corner=hw * 0.95, depth_ratio=ratio)
    hair_low = 0.35 if app.hair_style == "short" else 0.6
    b.add("hair", c + back + up * (hh + 0.007), c + back - up * hh * hair_low, hw + 0.005, app.hair,
          cap=False, corner=hw, depth_ratio=1.05)
    if app.hair_style == "long":
        far = head_to_body(np.array([0.0, 0.0, -0.028]), pose.head_yaw)
        b.add("hair", c + far + up * 0.02, p["neck"] + far - up * 0.11, (hw + 0.004, hw + 0.014), app.hair,
              cap=False, corner=0.02, depth_ratio=0.6)
    elif app.hair_style == "bun":
        bun = c + up * 0.045 + head_to_body(np.array([0.0, 0.0, -0.04]), pose.head_yaw)
        b.add("hair", bun, bun, 0.022, app.hair)
    total_yaw = pose.yaw + pose.head_yaw
    for eye in ("r_eye", "l_eye"):
        _, normal, threshold = FACE_POINTS[eye]
        if faces_camera(normal, total_yaw, threshold):
            b.add("head", p[eye], p[eye], 0.0055, _EYE, z_bias=-0.02)
    if faces_camera((0.0, 1.0), total_yaw, 0.5):
        mouth = p["nose"] - up * 0.024
        half = head_to_body(np.array([0.011, 0.0, 0.0]), pose.head_yaw)
        lips = Paint(tuple(float(x) for x in np.asarray(app.skin) * np.array([0.72, 0.5, 0.5])))
        b.add("head", mouth - half, mouth + half, 0.0045, lips, z_bias=-0.02)


def _arm(b: _Builder, app: Appearance, p, s: str, skin: Paint) -> None:
    r = app.body.arm_radius
    sleeve = app.top if app.sleeves == "long" else skin
    grow = 0.004 if app.sleeves == "long" else 0.0
    # Start the arm inside the shoulder so its round end does not bulge above the torso.
    shoulder = p[f"{s}_shoulder"] + 0.15 * (p[f"{s}_elbow"] - p[f"{s}_shoulder"])
    b.add(f"{s}_upper_arm", shoulder, p[f"{s}_elbow"], (r + grow, r * 0.88 + grow), sleeve)
    b.add(f"{s}_forearm", p[f"{s}_elbow"], p[f"{s}_wrist"], (r * 0.86 + grow, r * 0.68 + grow), sleeve)
    b.add(f"{s}_hand", p[f"{s}_wrist"], p[f"{s}_hand"], (r * 0.62, r * 0.55), skin)
    if app.sleeves == "short":
        start = p[f"{s}_shoulder"] - 0.1 * (p[f"{s}_elbow"] - p[f"{s}_shoulder"])
        end = p[f"{s}_shoulder"] + 0.55 * (p[f"{s}_elbow"] - p[f"{s}_shoulder"])
        b.add(f"{s}_upper_arm", start, end, (r + 0.008, r + 0.007), app.top, cap=False, corner=0.01)


def _leg(b: _Builder, app: Appearance, p, s: str, skin: Paint) -> None:
    r = app.body.leg_radius
    covered = app.bottom_kind in ("pants", "jumpsuit")
    paint, grow = (app.bottom, 0.007) if covered else (skin, 0.0)
    b.add(f"{s}_thigh", p[f"{s}_hip"], p[f"{s}_knee"], (r + grow, r * 0.8 + grow), paint, push_a=0.04)
    b.add(f"{s}_shin", p[f"{s}_knee"], p[f"{s}_ankle"], (r * 0.76 + grow, r * 0.52 + grow), paint)
    b.add(f"{s}_shoe", p[f"{s}_heel"], p[f"{s}_toe"], (0.022, 0.02), app.shoes)
    if app.bottom_kind == "shorts":
        start = p[f"{s}_hip"] - 0.2 * (p[f"{s}_knee"] - p[f"{s}_hip"])
        end = p[f"{s}_hip"] + 0.5 * (p[f"{s}_knee"] - p[f"{s}_hip"])
        b.add(f"{s}_thigh", start, end, (r + 0.01, r + 0.008), app.bottom, cap=False, corner=0.01, push_a=0.05)


def _lower_garment(b: _Builder, app: Appearance, p, up) -> None:
    body, yaw = app.body, b.pose.yaw
    if app.bottom_kind in ("skirt", "dress"):
        length = 0.2 if app.bottom_kind == "skirt" else 0.3
        top, ratio = _width(body.hips_outline_half, body.torso_depth, yaw)
        hem, _ = _width(body.hips_outline_half * 1.4, body.torso_depth * 1.5, yaw)
        down = np.array([0.0, 1.0, 0.0])
        b.add("skirt", p["pelvis"] - down * 0.04, p["pelvis"] + down * length, (top, hem), app.bottom,
              cap=False, corner=0.015, depth_ratio=ratio, z_bias=-0.02)
    else:
        b.add("pelvis", p["r_hip"], p["l_hip"], body.leg_radius + 0.012, app.bottom, z_bias=0.03)


def annotate(person: Person, canvas: Canvas, image_size: tuple[int, int]) -> np.ndarray:
    """(18, 2) int (y, x) keypoints as an OpenPose annotation would record them; -1 where missing."""
    h, w = image_size
    out = np.full((len(NAMES), 2), MISSING, dtype=np.int64)
    for i, name in enumerate(NAMES):
        y, x = person.keypoints[i, :2]
        iy, ix = int(np.rint(y)), int(np.rint(x))
        if not (0 <= iy < h and 0 <= ix < w) or not person.face_visible[i]:
            continue
        if canvas.label_at(float(iy), float(ix)) not in own_parts(name):  # hidden, or rounded off the body
            continue
        out[i] = (iy, ix)
    return out
