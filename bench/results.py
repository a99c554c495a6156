"""The evaluation record: one typed shape that ``bench evaluate`` and the profile stage write and
the leaderboard, report and compare read (``results/metrics/**.json``).

On disk it stays the JSON object evaluate has always written (``record_version`` 1); records
from before ``record_version`` existed load too (a dataset or protocol given as a plain name,
no ``setting``). :func:`read_record` is the one validation; the keys this module does not
type (provenance, pairs, generated, ...) are kept in ``Record.data`` as written, so a record
read and written again is the same JSON.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.errors import BenchError, DataError
from bench.io import RECORD, atomic_write_json, read_text, record_files

SCHEMA_VERSION = 1  # the record_version evaluate writes; a larger one is refused


@dataclass(frozen=True)
class MetricEntry:
    value: float | None  # None: unavailable, and ``reason`` says why
    reason: str | None = None
    higher_is_better: bool | None = None
    per_pair: bool = False
    version: str | None = None
    paper: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, name: str, obj: Any, path: Path | None = None) -> MetricEntry:
        if not isinstance(obj, dict) or "value" not in obj:
            raise DataError(path, f"metrics.{name} has no 'value'")
        value = obj["value"]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise DataError(path, f"metrics.{name}.value is not a number or null: {value!r}")
        return cls(value=value, reason=obj.get("reason"),
                   higher_is_better=obj.get("higher_is_better"), per_pair=bool(obj.get("per_pair", False)),
                   version=obj.get("version"), paper=obj.get("paper"), details=obj.get("details") or {})

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "higher_is_better": self.higher_is_better, "per_pair": self.per_pair,
                "reason": self.reason, "version": self.version, "paper": self.paper, "details": self.details}


@dataclass(frozen=True)
class Record:
    model: str
    dataset_kind: str
    protocol_name: str
    metrics: dict[str, MetricEntry]
    data: dict[str, Any]  # the whole JSON object as written (untyped keys included, in order)

    @property
    def dataset_root(self) -> Path | None:
        dataset = self.data.get("dataset")
        root = dataset.get("root") if isinstance(dataset, dict) else None
        return Path(root) if root else None

    @property
    def record_version(self) -> int | None:
        return self.data.get("record_version")

    def get(self, key: str, default: Any = None) -> Any:
        """An untyped key of the record (provenance, pairs, per_pair_csv, ...)."""
        return self.data.get(key, default)

    def setting_label(self) -> str:
        from bench.setting import Setting

        return Setting.of_record(self.data).label()

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.data)
        out.update(model=self.model, metrics={name: m.to_dict() for name, m in self.metrics.items()})
        return out

    def with_data(self, **keys: Any) -> Record:
        """The record with untyped keys added or replaced (e.g. outputs_sha256)."""
        return replace(self, data={**self.data, **keys})

    @classmethod
    def from_dict(cls, obj: Any, path: Path | None = None) -> Record:
        if not isinstance(obj, dict):
            raise DataError(path, "not a `bench evaluate` record: not a JSON object")
        for key in ("model", "dataset", "protocol", "metrics"):
            if key not in obj:
                raise DataError(path, f"evaluation record has no {key!r} key")
        version = obj.get("record_version")
        if version is not None and (not isinstance(version, int) or version > SCHEMA_VERSION):
            raise DataError(path, f"record_version {version!r}: this bench reads records up to version {SCHEMA_VERSION}")
        if not isinstance(obj["metrics"], dict):
            raise DataError(path, "'metrics' is not an object of {name: {value, reason, ...}}")
        dataset, protocol = obj["dataset"], obj["protocol"]
        metrics = {name: MetricEntry.from_dict(name, m, path) for name, m in obj["metrics"].items()}
        record = cls(model=str(obj["model"]), dataset_kind=str(dataset["kind"] if isinstance(dataset, dict) else dataset),
                     protocol_name=str(protocol["name"] if isinstance(protocol, dict) else protocol),
                     metrics=metrics, data=obj)
        try:
            record.setting_label()
        except (BenchError, TypeError, ValueError) as err:
            raise DataError(path, f"bad 'setting': {err}") from None
        return record


def read_record(path: str | Path, kind: str = "evaluation record") -> Record:
    path = Path(path)
    if not path.exists():
        raise DataError(path, f"{kind} does not exist")
    try:
        obj = json.loads(read_text(path, kind))
    except json.JSONDecodeError as err:
        raise DataError(path, f"not valid JSON: {err.msg}", err.lineno) from None
    return Record.from_dict(obj, path)


def read_records(folder: str | Path) -> dict[Path, Record]:
    """Every record under ``folder`` (``*.json`` but the flat scores files), by path, sorted."""
    return {path: read_record(path) for path in record_files(folder)}


def write_record(path: str | Path, record: Record | dict[str, Any]) -> Record:
    """Validate, then write atomically (temp file, then rename)."""
    if isinstance(record, dict):
        record = Record.from_dict(record, Path(path))
    atomic_write_json(path, record.to_dict(), RECORD)
    return record


def metric_value(entry: MetricEntry) -> float:
    """The value as a table cell reads it: NaN when unavailable."""
    return math.nan if entry.value is None else float(entry.value)
