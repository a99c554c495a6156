"""Training configuration: a typed dataclass resolved from ``params.yaml`` profiles.

``params.yaml`` holds, under ``profiles``, one block per profile (``paper``,
``cpu``). A profile has ``defaults`` and one block per model, which may hold its
own ``defaults`` and one block per dataset kind::

    profiles:
      paper:
        defaults: {lr_g: 2.0e-4, ...}
        patn:
          market: {batch_size: 32, model: {gan_mode: vanilla, ...}}
          deepfashion: {...}

Resolution order (later wins): ``TrainConfig`` defaults, ``<profile>.defaults``, ``<profile>.<dataset>``,
``<profile>.<model>.defaults``, ``<profile>.<model>.<dataset>``, command-line
``--set key=value``. A model key may be a glob (``pona*``: every PoNA variant);
pattern blocks apply before the block named exactly after the model. The ``model`` mapping is merged key by key and handed to
``create_model(name, dataset, **model)``, whose own config rejects unknown options.
Any other unknown key is an error naming its full path.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.data.layout import KINDS
from bench.errors import BenchError, DataError

DATASET_KINDS = tuple(KINDS)  # ("market", "deepfashion"): bench.data.layout is the one home


AMP_MODES = ("off", "bf16", "fp16")
DEVICE_NAMES = re.compile(r"auto|cpu|cuda(:\d+)?")  # every --device / device: value


@dataclass
class TrainConfig:
    # Length and batch. ``batch_size`` is global: under DDP each rank takes batch_size / world_size.
    iterations: int = 1000
    batch_size: int = 1
    # Adam for G and for each discriminator (PATN: 2e-4, betas (0.5, 0.999)).
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    # LR schedule in iterations: constant for ``niter``, then linear decay to 0 over
    # ``niter_decay`` (PATN's per-epoch rule with an epoch of 4000 samples, per iteration).
    niter: int = 1000
    niter_decay: int = 0
    # Optional step decay on top (SDGAN: "declines from 0.01 to 0.0001 with 0.1 decay rate for
    # every 100 iterations"): x ``lr_step_gamma`` every ``lr_step_every`` iterations (0: off),
    # never below ``lr_step_floor`` x the base rate.
    lr_step_every: int = 0
    lr_step_gamma: float = 0.1
    lr_step_floor: float = 0.0
    # Data. ``sources`` 0: the pair split (``pairs-train.csv``); K >= 1: the K-source tuples
    # (``msource-train-k{K}.csv`` or the first K sources of a larger prepared K; ``bench.data.multisource``).
    sources: int = 0
    flip: bool = False
    num_workers: int = 0
    # Options of the generator's own config (loss weights, gan_mode, pool_size,
    # perceptual on/off, width multiplier, ...): passed to ``create_model``.
    model: dict[str, Any] = field(default_factory=dict)
    # Validation (bench.train.validation): every ``val_every`` iterations (0: never) score the
    # first ``val_items`` (0: all) validation tuples with the per-pair metric ``val_metric``
    # under protocol ``val_protocol``; the best weights go to best.pt (Horiuchi et al.: best SSIM).
    val_every: int = 0
    val_metric: str = "ssim"
    val_protocol: str = "paper"
    val_items: int = 0
    # Bookkeeping.
    seed: int = 0
    log_every: int = 50
    ckpt_every: int = 1000
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # CPU threads for torch (0: torch's default); 1 is fastest for tiny models on a busy box
    # GPU speed options (all off by default; each also runs on CPU). ``amp``: mixed precision under
    # ``torch.autocast`` (bf16, or fp16 with a GradScaler); ``channels_last``: NHWC weights and batches;
    # ``cudnn_benchmark``: let cuDNN time its convolution algorithms (CUDA only; no effect on CPU).
    amp: str = "off"  # off | bf16 | fp16
    channels_last: bool = False
    cudnn_benchmark: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def check(ok: bool, message: str) -> None:
            if not ok:
                raise BenchError(message)

        check(self.iterations >= 0, f"iterations must be >= 0, got {self.iterations}")
        check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        check(self.niter >= 0 and self.niter_decay >= 0, "niter and niter_decay must be >= 0")
        check(
            self.iterations <= self.niter + self.niter_decay,
            f"iterations ({self.iterations}) exceed niter + niter_decay ({self.niter} + {self.niter_decay}): "
            "the learning rate would be 0 for the last iterations",
        )
        check(self.log_every >= 1 and self.ckpt_every >= 1, "log_every and ckpt_every must be >= 1")
        check(self.num_workers >= 0, "num_workers must be >= 0")
        check(self.sources >= 0, f"sources must be >= 0 (0: pairs), got {self.sources}")
        check(self.threads >= 0, "threads must be >= 0")
        check(self.val_every >= 0 and self.val_items >= 0, "val_every and val_items must be >= 0")
        check(self.lr_step_every >= 0 and 0 < self.lr_step_gamma <= 1 and 0 <= self.lr_step_floor <= 1,
              "lr_step_every must be >= 0, lr_step_gamma in (0, 1], lr_step_floor in [0, 1]")
        check(len(self.betas) == 2, f"betas must have two values, got {self.betas}")
        check(self.amp in AMP_MODES, f"amp {self.amp!r}: expected one of {', '.join(AMP_MODES)}")
        check(DEVICE_NAMES.fullmatch(self.device) is not None, f"device {self.device!r}: expected auto, cpu, cuda or cuda:N")
        from bench.models.options import check_model_options

        check_model_options(self.model)

    def lr_factor(self, step: int) -> float:
        """Multiplier of the base learning rate at 0-based iteration ``step``."""
        steps = max(self.lr_step_gamma ** (step // self.lr_step_every), self.lr_step_floor) if self.lr_step_every else 1.0
        if step < self.niter:
            return steps
        return steps * max(0.0, 1.0 - (step - self.niter + 1) / (self.niter_decay + 1))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "config") -> "TrainConfig":
        """A config from plain values (params.yaml, a checkpoint), type-checked key by key."""
        coerced = {key: _coerce(key, value, where) for key, value in values.items()}
        try:
            return cls(**coerced)
        except BenchError as err:
            raise BenchError(f"{where}: {err}") from None


_TYPES = typing.get_type_hints(TrainConfig)



def _coerce(key: str, value: Any, where: str) -> Any:
    """Check (and gently convert) one value against the field type, naming the key on error."""
    if key not in _TYPES:
        raise BenchError(f"{where}: unknown key {key!r}; valid keys: {', '.join(_TYPES)}")
    kind = _TYPES[key]

    def bad(expected: str) -> BenchError:
        return BenchError(f"{where}.{key}: expected {expected}, got {value!r}")

    if kind is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise bad("an integer")
        return int(value)
    if kind is float:
        if isinstance(value, bool):
            raise bad("a number")
        try:
            return float(value)  # YAML 1.1 reads ``2e-4`` as a string
        except (TypeError, ValueError):
            raise bad("a number") from None
    if kind is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if key == "betas":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise bad("two numbers [beta1, beta2]")
        return tuple(float(v) for v in value)
    if key == "model":
        if not isinstance(value, dict):
            raise bad("a mapping of model options")
        return dict(value)
    raise AssertionError(f"no coercion for {key}: {kind}")  # a new field needs a rule above


# ---------------------------------------------------------------------------------- params.yaml


def read_params(path: str | Path) -> dict[str, Any]:
    from bench.yamlfile import read_yaml

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "params file not found")
    params = read_yaml(path)
    if not isinstance(params, dict) or not isinstance(params.get("profiles"), dict):
        raise DataError(path, "expected a top-level 'profiles' mapping")
    return params


def _mapping(value: Any, path: Path, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DataError(path, f"{where}: expected a mapping, got {value!r}")
    return value


def check_profiles(params: dict[str, Any], path: Path, models: list[str] | None = None) -> None:
    """Validate every profile block; ``models`` (registered names) also checks model keys."""
    for profile, block in params["profiles"].items():
        block = _mapping(block, path, f"profiles.{profile}")
        for key, sub in block.items():
            where = f"profiles.{profile}.{key}"
            if key == "defaults" or key in DATASET_KINDS:  # every model / every model on one dataset
                _check_values(_mapping(sub, path, where), path, where)
                continue
            if models is not None and not fnmatch.filter(models, key):
                raise DataError(path, f"{where}: unknown model {key!r}; registered models: {', '.join(models)}")
            for part, values in _mapping(sub, path, where).items():
                if part != "defaults" and part not in DATASET_KINDS:
                    raise DataError(
                        path, f"{where}.{part}: unknown key; expected 'defaults' or a dataset kind ({', '.join(DATASET_KINDS)})"
                    )
                _check_values(_mapping(values, path, f"{where}.{part}"), path, f"{where}.{part}")


def _check_values(values: dict[str, Any], path: Path, where: str) -> None:
    for key, value in values.items():
        try:
            _coerce(key, value, where)
        except BenchError as err:
            raise DataError(path, str(err)) from None


def resolve(
    params: dict[str, Any], path: Path, profile: str, model: str, dataset: str, overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """The config of ``model`` on ``dataset`` (a kind: market / deepfashion) under ``profile``."""
    profiles = params["profiles"]
    if profile not in profiles:
        raise DataError(path, f"unknown profile {profile!r}; defined profiles: {', '.join(profiles)}")
    block = _mapping(profiles[profile], path, f"profiles.{profile}")
    layers = [(f"profiles.{profile}.defaults", block.get("defaults")),
              (f"profiles.{profile}.{dataset}", block.get(dataset))]
    if not _model_keys(block, model):
        raise DataError(path, f"profiles.{profile} has no entry for model {model!r}: add a block with its paper settings")
    for key in _model_keys(block, model):
        per_model = _mapping(block[key], path, f"profiles.{profile}.{key}")
        layers += [
            (f"profiles.{profile}.{key}.defaults", per_model.get("defaults")),
            (f"profiles.{profile}.{key}.{dataset}", per_model.get(dataset)),
        ]
    merged: dict[str, Any] = {}
    for where, values in layers:
        values = _mapping(values, path, where)
        _check_values(values, path, where)
        for key, value in values.items():
            merged[key] = {**merged.get("model", {}), **value} if key == "model" else value
    for key, value in (overrides or {}).items():
        merged = _apply_override(merged, key, value)
    return TrainConfig.from_dict(merged, where=f"{path} (profile {profile}, model {model}, dataset {dataset})")


def _model_keys(block: dict[str, Any], model: str) -> list[str]:
    """Blocks that apply to ``model``: glob patterns (``pona*``) in file order, then its exact name."""
    patterns = [k for k in block if k not in ("defaults", *DATASET_KINDS) and k != model and fnmatch.fnmatchcase(model, k)]
    return patterns + ([model] if model in block else [])


def _apply_override(merged: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    merged = dict(merged)
    if key.startswith("model."):
        merged["model"] = {**merged.get("model", {}), key.removeprefix("model."): value}
    else:
        _coerce(key, value, "--set")
        merged[key] = value
    return merged


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr_g=1e-4", "model.width=0.5"]`` -> dict, values parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise BenchError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise BenchError(f"--set {item!r}: cannot parse the value") from None
    return out


def load_config(
    model: str,
    dataset: str,
    profile: str,
    params_path: str | Path = "params.yaml",
    overrides: dict[str, Any] | None = None,
    models: list[str] | None = None,
) -> TrainConfig:
    """Read ``params_path``, validate all profiles, and resolve one training config."""
    path = Path(params_path)
    params = read_params(path)
    check_profiles(params, path, models)
    return resolve(params, path, profile, model, dataset, overrides)
