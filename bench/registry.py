"""One small registry class, two instances: MODELS and METRICS.

Registration is a decorator carrying metadata (paper, higher-is-better, ...);
lookup of an unknown name raises a KeyError that lists close matches and every
valid name (the timm / lm-evaluation-harness pattern).
"""
from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T", bound=Callable[..., Any])


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    constructor: T
    meta: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:  # entry.paper, entry.higher_is_better, ...
        try:
            return self.meta[key]
        except KeyError:
            raise AttributeError(key) from None


class UnknownNameError(KeyError):
    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str, required_meta: tuple[str, ...] = ()):
        self.kind = kind
        self.required_meta = required_meta
        self._entries: dict[str, Entry[T]] = {}
        self._loaders: list[Callable[[], None]] = []

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        missing = [k for k in self.required_meta if k not in meta]
        if missing:
            raise TypeError(f"{self.kind} {name!r} is missing metadata: {', '.join(missing)}")

        def decorator(constructor: T) -> T:
            self.add(name, constructor, **meta)
            return constructor

        return decorator

    def add(self, name: str, constructor: T, **meta: Any) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, constructor, meta)

    def add_loader(self, loader: Callable[[], None]) -> None:
        """A callable that imports the modules that register entries (run once, lazily)."""
        self._loaders.append(loader)

    def _load(self) -> None:
        while self._loaders:
            self._loaders.pop(0)()

    def get(self, name: str) -> Entry[T]:
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Valid names: {', '.join(sorted(self._entries))}"
            ) from None

    def names(self, pattern: str = "*") -> list[str]:
        self._load()
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        self._load()
        return iter([self._entries[n] for n in sorted(self._entries)])

    def __len__(self) -> int:
        self._load()
        return len(self._entries)


# Generators: meta has at least `paper` (short citation). Constructors take
# (dataset: str, **config) and return a bench.models.PoseTransferModel.
MODELS: Registry = Registry("model", required_meta=("paper",))

# Metrics: meta has `higher_is_better`, `paper` and `version`.
METRICS: Registry = Registry("metric", required_meta=("higher_is_better", "paper", "version"))


def _load_baselines() -> None:
    import baselines  # noqa: F401  (importing registers every generator)


def _load_metrics() -> None:
    import bench.metrics  # noqa: F401


MODELS.add_loader(_load_baselines)
METRICS.add_loader(_load_metrics)
