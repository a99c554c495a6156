"""Each participant's trials, a pure function of the study and the participant's id.

Per dataset (config order): one realness block per method (block order shuffled), each of
``real`` real targets and ``generated`` of that method's images drawn without replacement and
shuffled, the first ``warmup`` of the block not scored; then ``groups`` preference groups, each a
test pair every method has, the methods' results in a shuffled order. Resuming, or
reloading a page, re-derives the same trials, so nothing about a plan needs storing but the id.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from bench.userstudy.pool import ImageRef, Study

REALNESS, PREFERENCE = "realness", "preference"


@dataclass(frozen=True)
class Trial:
    index: int  # 0-based position in the participant's session
    dataset: str
    protocol: str  # realness | preference
    method: str | None  # realness: the block's method; preference: None
    scored: bool  # False for a realness block's warm-up
    images: tuple[ImageRef, ...]  # realness: the one image; preference: source, pose, then results
    position: int = 0  # realness: position in its block; preference: group number

    @property
    def truth(self) -> str | None:
        """realness: 'real' or 'generated'."""
        return ("real" if self.images[0].role == "real" else "generated") if self.protocol == REALNESS else None

    @property
    def results(self) -> tuple[ImageRef, ...]:
        return tuple(r for r in self.images if r.role == "generated") if self.protocol == PREFERENCE else ()


def participant_seed(study_seed: int, participant: str) -> int:
    digest = hashlib.sha256(f"{study_seed}:{participant}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def make_plan(study: Study, participant: str) -> list[Trial]:
    config = study.config
    rng = random.Random(participant_seed(config.seed, participant))
    trials: list[Trial] = []
    for spec in config.datasets:
        pool = study.pools[spec.name]
        methods = list(spec.methods)
        rng.shuffle(methods)
        for method in methods:
            real = [ImageRef("real", spec.name, name) for name in rng.sample(pool.real, config.real)]
            have = [p for p in pool.pairs if p in pool.generated[method]]
            fake = [ImageRef("generated", spec.name, pool.generated[method][p].name, method, p)
                    for p in rng.sample(have, config.generated)]
            block = real + fake
            rng.shuffle(block)
            for position, ref in enumerate(block):
                trials.append(Trial(len(trials), spec.name, REALNESS, method, position >= config.warmup, (ref,), position))
        for group, pair in enumerate(rng.sample(pool.common, config.groups)):
            order = list(spec.methods)
            rng.shuffle(order)
            results = tuple(ImageRef("generated", spec.name, pool.generated[m][pair].name, m, pair) for m in order)
            images = (ImageRef("source", spec.name, pair[0], pair=pair), ImageRef("pose", spec.name, pair[1], pair=pair))
            trials.append(Trial(len(trials), spec.name, PREFERENCE, None, True, images + results, group))
    return trials


def image_token(study_hash: str, participant: str, trial: int, slot: int) -> str:
    """The opaque name an image is served under: it says nothing about the image's role or method."""
    return hashlib.sha256(f"{study_hash}:{participant}:{trial}:{slot}".encode()).hexdigest()[:20]
