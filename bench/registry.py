"""One small registry class, two instances: MODELS and METRICS.

Registration is a decorator carrying typed metadata (:class:`bench.cards.ModelCard`,
:class:`bench.cards.MetricSpec`); lookup of an unknown name raises a KeyError that lists
close matches and every valid name (the timm / lm-evaluation-harness pattern).
Discovery is lazy and explicit: :mod:`bench.plugins` names the module that registers each
name, imported when that name is first asked for, so this module imports no plug-in.
"""
from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bench.cards import MetricSpec, ModelCard
from bench.plugins import METRIC_PLUGINS, MODEL_PLUGINS

T = TypeVar("T", bound=Callable[..., Any])
M = TypeVar("M")


@dataclass(frozen=True)
class Entry(Generic[T, M]):
    name: str
    constructor: T
    meta: M  # the entry's ModelCard or MetricSpec


class UnknownNameError(KeyError):
    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


class Registry(Generic[T, M]):
    def __init__(self, kind: str, meta_type: type[M], plugins: Mapping[str, str] | None = None):
        self.kind = kind
        self.meta_type = meta_type
        self.plugins = dict(plugins or {})  # name -> module that registers it
        self._entries: dict[str, Entry[T, M]] = {}

    def register(self, name: str, meta: M) -> Callable[[T], T]:
        def decorator(constructor: T) -> T:
            self.add(name, constructor, meta)
            return constructor

        return decorator

    def add(self, name: str, constructor: T, meta: M) -> None:
        if not isinstance(meta, self.meta_type):
            raise TypeError(f"{self.kind} {name!r}: metadata must be a {self.meta_type.__name__}, got {type(meta).__name__}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, constructor, meta)

    def _load(self, name: str) -> None:
        """Import the module that registers ``name``, if the plug-in table knows it."""
        if name in self._entries or name not in self.plugins:
            return
        importlib.import_module(self.plugins[name])
        if name not in self._entries:
            raise RuntimeError(f"{self.plugins[name]} did not register {self.kind} {name!r} (bench/plugins.py is stale)")

    def _load_all(self) -> None:
        for module in dict.fromkeys(self.plugins.values()):
            importlib.import_module(module)

    def get(self, name: str) -> Entry[T, M]:
        self._load(name)
        try:
            return self._entries[name]
        except KeyError:
            known = sorted(set(self._entries) | set(self.plugins))
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise UnknownNameError(f"unknown {self.kind} {name!r}.{hint} Valid names: {', '.join(known)}") from None

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching an fnmatch pattern; answered from the plug-in table, no import."""
        return sorted(n for n in set(self._entries) | set(self.plugins) if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: str) -> bool:
        return name in self._entries or name in self.plugins

    def __iter__(self) -> Iterator[Entry[T, M]]:
        self._load_all()
        return iter([self._entries[n] for n in sorted(self._entries)])

    def __len__(self) -> int:
        return len(self.names())


# Generators: constructors take (dataset: str, **config) and return a bench.models.PoseTransferModel.
MODELS: Registry[Callable[..., Any], ModelCard] = Registry("model", ModelCard, MODEL_PLUGINS)

# Metrics: constructors take (EvalInputs, Protocol) and return a MetricResult.
METRICS: Registry[Callable[..., Any], MetricSpec] = Registry("metric", MetricSpec, METRIC_PLUGINS)
