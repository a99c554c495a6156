"""A 3-D articulated body: joint angles with limits, forward kinematics, views.

Body frame (unit = standing height, crown to sole): ``l`` points to the
person's left, ``y`` down, ``f`` forward. A body yaw ``phi`` turns the person
about the vertical axis; the camera is orthographic and looks along +z:

    x = l cos(phi) + f sin(phi),   z = l sin(phi) - f cos(phi)

so ``phi = 0`` faces the camera (the person's right shoulder appears on the
image left, as in OpenPose front views), 180 shows the back, +90 faces image
right. Limb directions are two angles: flexion swings a limb forward in the
sagittal plane, abduction lifts it sideways (``limb_direction``).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

SIDES = {"r": -1.0, "l": 1.0}  # sign of the person's left

# Joint limits in degrees (roughly the normal active range of motion).
LIMITS: dict[str, tuple[float, float]] = {
    "yaw": (-180.0, 180.0),
    "head_yaw": (-40.0, 40.0),
    "lean": (-10.0, 20.0),
    "tilt": (-8.0, 8.0),
    "shoulder_flex": (-50.0, 175.0),
    "shoulder_abd": (0.0, 170.0),
    "elbow": (0.0, 150.0),
    "forearm_abd": (-110.0, 40.0),  # relative to the upper arm; negative turns the hand inwards
    "hip_flex": (-30.0, 110.0),
    "hip_abd": (-8.0, 40.0),
    "knee": (0.0, 140.0),
}


@dataclass(frozen=True)
class Body:
    """Segment lengths and half-widths as fractions of standing height."""

    neck_y: float = 0.18  # the OpenPose neck point, between the shoulders
    pelvis_y: float = 0.495
    shoulder_half: float = 0.095
    hip_half: float = 0.055
    chest_half: float = 0.125  # outline half-widths of the torso
    waist_half: float = 0.088
    hips_outline_half: float = 0.1
    torso_depth: float = 0.07
    upper_arm: float = 0.165
    forearm: float = 0.14
    hand: float = 0.055
    thigh: float = 0.225
    shin: float = 0.23
    foot: float = 0.06
    head_half_width: float = 0.047
    head_half_height: float = 0.062
    arm_radius: float = 0.029
    leg_radius: float = 0.047

    def scaled(self, rng: np.random.Generator, spread: float = 0.04) -> Body:
        """An individual: every measure jittered by a few percent."""
        return replace(self, **{f.name: getattr(self, f.name) * float(rng.uniform(1 - spread, 1 + spread)) for f in fields(self)})


@dataclass(frozen=True)
class Pose:
    """Joint angles in degrees; per-side angles are (right, left)."""

    yaw: float = 0.0
    head_yaw: float = 0.0
    lean: float = 0.0
    tilt: float = 0.0
    shoulder_flex: tuple[float, float] = (0.0, 0.0)
    shoulder_abd: tuple[float, float] = (8.0, 8.0)
    elbow: tuple[float, float] = (10.0, 10.0)
    forearm_abd: tuple[float, float] = (0.0, 0.0)
    hip_flex: tuple[float, float] = (0.0, 0.0)
    hip_abd: tuple[float, float] = (4.0, 4.0)
    knee: tuple[float, float] = (3.0, 3.0)

    def clipped(self) -> Pose:
        """The same pose with every angle inside ``LIMITS`` (yaw wrapped to [-180, 180))."""
        values = {}
        for f in fields(self):
            lo, hi = LIMITS[f.name]
            v = getattr(self, f.name)
            if f.name == "yaw":
                values[f.name] = (v + 180.0) % 360.0 - 180.0
            elif isinstance(v, tuple):
                values[f.name] = tuple(float(np.clip(x, lo, hi)) for x in v)
            else:
                values[f.name] = float(np.clip(v, lo, hi))
        return Pose(**values)


def limb_direction(flex: float, abd: float, side: float) -> np.ndarray:
    """Unit vector (l, y, f) of a limb hanging down, swung forward by ``flex`` and out by ``abd`` degrees."""
    a, b = np.radians(flex), np.radians(abd)
    return np.array([side * np.sin(b), np.cos(b) * np.cos(a), np.cos(b) * np.sin(a)])


def head_to_body(points: np.ndarray, head_yaw: float) -> np.ndarray:
    """Rotate head-frame offsets (l, y, f) by the head's yaw relative to the body."""
    d = np.radians(head_yaw)
    l, y, f = points[..., 0], points[..., 1], points[..., 2]
    return np.stack([l * np.cos(d) + f * np.sin(d), y, -l * np.sin(d) + f * np.cos(d)], axis=-1)


# Head-frame offsets from the head centre (l, y, f) and outward normals (l, f)
# of the face points; a point faces the camera when normal . view > threshold.
FACE_POINTS: dict[str, tuple[tuple[float, float, float], tuple[float, float], float]] = {
    "nose": ((0.0, 0.012, 0.046), (0.0, 1.0), -0.1),
    "r_eye": ((-0.019, -0.009, 0.038), (-0.45, 0.9), 0.1),
    "l_eye": ((0.019, -0.009, 0.038), (0.45, 0.9), 0.1),
    "r_ear": ((-0.04, -0.002, -0.004), (-0.95, -0.3), -0.45),
    "l_ear": ((0.04, -0.002, -0.004), (0.95, -0.3), -0.45),
}


def faces_camera(normal: tuple[float, float], total_yaw: float, threshold: float) -> bool:
    """Whether a surface with body-frame normal (l, f) is turned towards the camera."""
    psi = np.radians(total_yaw)
    return bool(normal[1] * np.cos(psi) - normal[0] * np.sin(psi) > threshold)


def forward_kinematics(body: Body, pose: Pose) -> dict[str, np.ndarray]:
    """3-D positions (l, y, f) of the joints and of the extra points the renderer needs.

    The body stands on y = 1: the lowest sole touches the ground.
    """
    p: dict[str, np.ndarray] = {}
    lean, tilt = np.radians(pose.lean), np.radians(pose.tilt)
    up = np.array([-np.sin(tilt), -np.cos(tilt) * np.cos(lean), np.cos(tilt) * np.sin(lean)])
    lateral = np.array([np.cos(tilt), -np.sin(tilt), 0.0])
    p["pelvis"] = np.array([0.0, body.pelvis_y, 0.0])
    p["neck"] = p["pelvis"] + up * (body.pelvis_y - body.neck_y)
    p["head_center"] = p["neck"] + up * 0.104 + head_to_body(np.array([0.0, 0.0, 0.008]), pose.head_yaw)
    p["up"] = up
    for name, (offset, _, _) in FACE_POINTS.items():
        p[name] = p["head_center"] + head_to_body(np.array(offset), pose.head_yaw)
    for s, side in SIDES.items():
        i = 0 if s == "r" else 1
        p[f"{s}_shoulder"] = p["neck"] + lateral * side * body.shoulder_half
        upper = limb_direction(pose.shoulder_flex[i], pose.shoulder_abd[i], side)
        lower = limb_direction(pose.shoulder_flex[i] + pose.elbow[i], pose.shoulder_abd[i] + pose.forearm_abd[i], side)
        p[f"{s}_elbow"] = p[f"{s}_shoulder"] + upper * body.upper_arm
        p[f"{s}_wrist"] = p[f"{s}_elbow"] + lower * body.forearm
        p[f"{s}_hand"] = p[f"{s}_wrist"] + lower * body.hand
        p[f"{s}_hip"] = p["pelvis"] + np.array([side * body.hip_half, 0.0, 0.0])
        thigh = limb_direction(pose.hip_flex[i], pose.hip_abd[i], side)
        shin = limb_direction(pose.hip_flex[i] - pose.knee[i], pose.hip_abd[i], side)
        p[f"{s}_knee"] = p[f"{s}_hip"] + thigh * body.thigh
        p[f"{s}_ankle"] = p[f"{s}_knee"] + shin * body.shin
        p[f"{s}_heel"] = p[f"{s}_ankle"] + np.array([0.0, 0.035, -0.012])
        p[f"{s}_toe"] = p[f"{s}_ankle"] + np.array([side * 0.008, 0.04, body.foot])
    ground = max(p["r_heel"][1], p["l_heel"][1], p["r_toe"][1], p["l_toe"][1]) + 0.01
    shift = np.array([0.0, 1.0 - ground, 0.0])
    return {k: (v if k == "up" else v + shift) for k, v in p.items()}


def to_view(points: np.ndarray, yaw: float) -> np.ndarray:
    """Body-frame points (..., 3) as (x, y, z) seen from the camera for body yaw ``yaw`` (degrees)."""
    phi = np.radians(yaw)
    l, y, f = points[..., 0], points[..., 1], points[..., 2]
    return np.stack([l * np.cos(phi) + f * np.sin(phi), y, l * np.sin(phi) - f * np.cos(phi)], axis=-1)


# ---------------------------------------------------------------------------
# Pose samplers. Each returns an unclipped Pose; callers clip.

def _jitter(rng: np.random.Generator, scale: float, n: int = 2) -> np.ndarray:
    return rng.normal(0.0, scale, n)


def standing(rng: np.random.Generator, yaw: float) -> Pose:
    """Relaxed stance: arms down, weight shifted a little to one leg."""
    shift = rng.uniform(-1, 1)
    return Pose(
        yaw=yaw, head_yaw=rng.normal(0, 10), lean=rng.normal(2, 3), tilt=rng.normal(0, 2),
        shoulder_flex=tuple(_jitter(rng, 8)), shoulder_abd=tuple(rng.uniform(4, 16, 2)),
        elbow=tuple(rng.uniform(3, 25, 2)), forearm_abd=tuple(rng.uniform(-12, 4, 2)),
        hip_flex=tuple(rng.normal(0, 4, 2) + [4 * shift, -4 * shift]),
        hip_abd=tuple(rng.uniform(2, 8, 2)), knee=tuple(rng.uniform(0, 6, 2) + [max(0.0, 10 * shift), max(0.0, -10 * shift)]),
    )


def walking(rng: np.random.Generator, yaw: float) -> Pose:
    """A phase of the gait cycle: legs swing opposite, arms counter-swing."""
    phase = rng.uniform(0, 2 * np.pi)
    stride, swing = rng.uniform(14, 28), rng.uniform(8, 28)
    s = np.array([np.sin(phase), -np.sin(phase)])  # (right, left)
    swing_knee = np.maximum(0.0, np.sin(np.array([phase, phase + np.pi]) + 1.0))
    return Pose(
        yaw=yaw, head_yaw=rng.normal(0, 8), lean=rng.normal(5, 3), tilt=rng.normal(0, 1.5),
        shoulder_flex=tuple(-swing * s), shoulder_abd=tuple(rng.uniform(4, 12, 2)),
        elbow=tuple(rng.uniform(8, 30, 2) + 10 * np.maximum(0, -s)), forearm_abd=tuple(rng.uniform(-8, 2, 2)),
        hip_flex=tuple(stride * s + 4), hip_abd=tuple(rng.uniform(1, 5, 2)),
        knee=tuple(5 + 45 * swing_knee * rng.uniform(0.6, 1.0)),
    )


def arm_pose(rng: np.random.Generator, yaw: float) -> Pose:
    """Standing with one or both arms doing something: hands on hips, raised, phone, bag strap."""
    base = standing(rng, yaw)
    kind = rng.choice(["hips", "raise", "phone", "cross", "wave"])
    side = int(rng.integers(2))
    flex, abd, elbow, fore = list(base.shoulder_flex), list(base.shoulder_abd), list(base.elbow), list(base.forearm_abd)
    arms = [0, 1] if kind in ("hips", "cross") or rng.random() < 0.3 else [side]
    for i in arms:
        if kind == "hips":
            flex[i], abd[i], elbow[i], fore[i] = rng.normal(-5, 5), rng.uniform(35, 50), rng.uniform(20, 50), rng.uniform(-95, -70)
        elif kind == "raise":
            flex[i], abd[i], elbow[i], fore[i] = rng.uniform(60, 170), rng.uniform(10, 100), rng.uniform(0, 40), rng.uniform(-10, 10)
        elif kind == "phone":
            flex[i], abd[i], elbow[i], fore[i] = rng.uniform(5, 25), rng.uniform(5, 20), rng.uniform(110, 145), rng.uniform(-40, -10)
        elif kind == "cross":
            flex[i], abd[i], elbow[i], fore[i] = rng.uniform(20, 40), rng.uniform(5, 15), rng.uniform(70, 100), rng.uniform(-100, -75)
        else:
            flex[i], abd[i], elbow[i], fore[i] = rng.uniform(10, 40), rng.uniform(60, 100), rng.uniform(60, 120), rng.uniform(-20, 20)
    return replace(base, shoulder_flex=tuple(flex), shoulder_abd=tuple(abd), elbow=tuple(elbow), forearm_abd=tuple(fore))


def model_pose(rng: np.random.Generator, yaw: float) -> Pose:
    """Catalogue stance: one knee bent, hip out, arms relaxed or a hand on the hip."""
    base = arm_pose(rng, yaw) if rng.random() < 0.5 else standing(rng, yaw)
    i = int(rng.integers(2))
    knee, hip_flex, hip_abd = list(base.knee), list(base.hip_flex), list(base.hip_abd)
    knee[i], hip_flex[i], hip_abd[i] = rng.uniform(10, 30), rng.uniform(5, 18), rng.uniform(-4, 4)
    return replace(base, knee=tuple(knee), hip_flex=tuple(hip_flex), hip_abd=tuple(hip_abd), tilt=rng.normal(0, 3))


SAMPLERS = {"standing": standing, "walking": walking, "arms": arm_pose, "model": model_pose}


def sample_pose(rng: np.random.Generator, yaw: float, weights: dict[str, float]) -> Pose:
    """Draw a pose family by ``weights`` (name -> probability), then a pose of it, clipped to the limits."""
    names = sorted(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    family = names[int(rng.choice(len(names), p=p / p.sum()))]
    return SAMPLERS[family](rng, yaw).clipped()
