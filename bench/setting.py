"""The setting of a result: under which variant of the protocol a model was scored.

A paper's table often reports one model several times: Horiuchi et al. with n = 1, 3,
10 source images, Lakhal et al. Stage I alone beside the full model, PoNA with a
portion p. An evaluation record carries its :class:`Setting`; the leaderboard and
``bench compare`` key results on (model, setting), and a published row matches the
measured one whose :meth:`Setting.label` equals its ``setting`` column
(results/published.csv), e.g. ``n=3``, ``stage-1``, ``p=0.2``. The default setting
(the test pairs, the model's final output) has the empty label.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from bench.errors import BenchError

_PART = re.compile(r"^(?:n=(?P<n>\d+)|stage-(?P<stage>\d+)|p=(?P<p>\d+(?:\.\d+)?))$")


@dataclass(frozen=True)
class Setting:
    sources: int = 0  # 0: the test pairs; n >= 1: the n-source test tuples (bench generate/evaluate --sources n)
    stage: int = 0  # 0: the model's final output; s >= 1: the output of stage s (bench generate --stage s)
    portion: float | None = None  # PoNA Table VI's p (not produced by the pipeline yet)

    def __post_init__(self) -> None:
        if self.sources < 0 or self.stage < 0:
            raise BenchError(f"a setting's sources and stage are >= 0, got sources={self.sources}, stage={self.stage}")

    def label(self) -> str:
        """The text of results/published.csv's ``setting`` column: ``n=3``, ``stage-1``, ``n=3, stage-1``, ``""``."""
        parts = []
        if self.sources:
            parts.append(f"n={self.sources}")
        if self.stage:
            parts.append(f"stage-{self.stage}")
        if self.portion is not None:
            parts.append(f"p={self.portion:g}" if self.portion != 1 else "p=1.0")
        return ", ".join(parts)

    def slug(self) -> str:
        """A file-name form of the label (``n3``, ``stage-1``, ``n3_stage-1``, ``default``)."""
        return self.label().replace("=", "").replace(", ", "_") or "default"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label()}

    @classmethod
    def parse(cls, label: str) -> Setting:
        """The inverse of :meth:`label`; one clear error for anything else."""
        values: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in label.split(","))):
            m = _PART.match(part)
            if m is None:
                raise BenchError(f"unknown setting {part!r} in {label!r}; valid parts: n=<sources>, stage-<s>, p=<portion>")
            if m["n"]:
                values["sources"] = int(m["n"])
            elif m["stage"]:
                values["stage"] = int(m["stage"])
            else:
                values["portion"] = float(m["p"])
        return cls(**values)

    @classmethod
    def of_record(cls, record: dict[str, Any]) -> Setting:
        """A record's setting; records written before settings existed carry only ``sources``."""
        given = record.get("setting")
        if isinstance(given, dict):
            return cls(sources=int(given.get("sources") or 0), stage=int(given.get("stage") or 0),
                       portion=given.get("portion"))
        return cls(sources=int(record.get("sources") or 0))
