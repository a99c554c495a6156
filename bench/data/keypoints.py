"""The 18-keypoint OpenPose/COCO body model used by every pose-transfer dataset.

Order and names follow OpenPose's POSE_COCO_BODY_PARTS. pose-gan's ``LABELS``
calls indices 14-17 Leye/Reye/Lear/Rear, which is L/R-swapped (the CMU limb list
connects index 16 to the right shoulder); no metric depends on it, but the
horizontal flip does, so we keep OpenPose's names (protocol.md section 2).
"""
from __future__ import annotations

NAMES: tuple[str, ...] = (
    "nose", "neck",
    "r_shoulder", "r_elbow", "r_wrist",
    "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle",
    "l_hip", "l_knee", "l_ankle",
    "r_eye", "l_eye", "r_ear", "l_ear",
)
NUM_KEYPOINTS = len(NAMES)
MISSING = -1
INDEX = {name: i for i, name in enumerate(NAMES)}

# The 19 drawing edges (pose-gan pose_utils.LIMB_SEQ, PATN util/util.py), 0-based.
SKELETON: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
    (2, 16), (5, 17),
)

# The 23 limbs of the PG2 body mask (pose_utils.produce_ma_mask), given 1-based
# there; stored 0-based here: the skeleton plus neck-ears, hips and torso sides.
MASK_LIMBS: tuple[tuple[int, int], ...] = tuple(
    (a - 1, b - 1)
    for a, b in (
        (2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11),
        (2, 12), (12, 13), (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18),
        (2, 17), (2, 18), (9, 12), (12, 6), (9, 3), (17, 18),
    )
)

# Left/right partner of every keypoint, for horizontal flips.
FLIP_PERMUTATION: tuple[int, ...] = (
    0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16,
)

# Head keypoints used by PCKh for the head box (nose, neck, eyes, ears).
HEAD: tuple[int, ...] = (0, 1, 14, 15, 16, 17)
# The four joints every usable image must have (pose_transform.check_valid).
REQUIRED_FOR_PAIRS: tuple[int, ...] = (INDEX["r_shoulder"], INDEX["l_shoulder"], INDEX["r_hip"], INDEX["l_hip"])
