"""One GAN trainer for every generator.

The model supplies the networks and the loss terms (``bench.models.base``); the
trainer owns the loop, Adam optimisers (one for G, one per discriminator), the LR
schedule, logging, checkpoints and distribution. Each iteration follows PATN's
``optimize_parameters``: one generator step, then the discriminator step(s).

* G step: ``fake = model(batch)``; the discriminators are frozen (no gradients
  wasted on them) while ``generator_losses`` judges the fake.
* D step: ``discriminator_losses(batch, fake.detach())``; terms are keyed
  ``"<disc>/<term>"``. Each discriminator's terms depend only on its own
  parameters, so one backward over all terms followed by one step per optimiser
  equals PATN's sequential D_PP then D_PB steps.

Distributed (torchrun, see ``bench.train.distributed``): G and each D are wrapped
in ``DistributedDataParallel``; the batch size in the config is global and split
evenly over ranks; each rank draws a disjoint shard of pairs and has its own RNG
stream (``seed + rank``: dropout, image pools). Buffers:

* G: ``broadcast_buffers=True`` (default), so batch-norm running statistics used at
  test time are rank 0's and identical on every rank (they are what is saved).
* D: no buffer sync in forward (``forward_sync_buffers=False``; ``broadcast_buffers=False``
  before torch 2.13). A D runs several forwards (real, pooled fake) before one
  backward; re-broadcasting its BN buffers in the second forward modifies tensors
  autograd saved (pytorch/pytorch #22095). A D's running statistics (and
  spectral-norm power-iteration vectors) are never used at test time, so per-rank
  values are harmless; they start equal (same seed on every rank). SyncBatchNorm
  is not used: it would change the maths to global-batch statistics and needs CUDA.

Only rank 0 writes (checkpoints, logs, metadata); logged losses are averaged over
ranks. A checkpoint holds each rank's RNG states and image pools, so resuming with
the same world size continues bit-for-bit.
"""
from __future__ import annotations

import contextlib
import csv
import inspect
import io
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset

from bench.data.dataset import collate
from bench.errors import BenchError
from bench.io import (atomic_write_json, atomic_write_text, check_replaceable, claim_folder, clean_stale_temporaries,
                      device_name, provenance)
from bench.models.base import Batch, PoseTransferModel
from bench.train.log import LOG
from bench.train.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint, seed_everything
from bench.train.config import TrainConfig
from bench.train.distributed import DistInfo, barrier, gather_objects, mean_over_ranks, resolve_device
from bench.train.losses import ImagePool
from bench.train.sampler import BatchStream, PairSampler
from bench.train.validation import BEST, Validation

CHECKPOINT = "checkpoint.pt"
FINAL = "model.pt"
META = "meta.json"
#: Config keys a resumed run may change (everything else must match the checkpoint).
RESUMABLE_CHANGES = ("iterations", "log_every", "ckpt_every", "num_workers", "device", "threads",
                     "val_every", "val_items", "cudnn_benchmark")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


# torch 2.13 deprecates DDP's broadcast_buffers for forward_sync_buffers (which still syncs
# buffers once at construction: harmless, every rank's D starts identical anyway).
RUN_KIND = "a training run"
# A run folder from before output markers is accepted when it holds nothing but these.
_RUN_FILES = frozenset({CHECKPOINT, FINAL, LOG, META, BEST, "config.yaml"})


def check_run_folder(run_dir: str | Path) -> None:
    """Before any work: ``run_dir`` is new, empty, or a training run bench wrote (training writes and
    resumes in place, so this is the guard :func:`bench.io.atomic_path` gives other outputs)."""
    for name in _RUN_FILES:  # what a kill -9 during a checkpoint write leaves
        clean_stale_temporaries(Path(run_dir) / name)
    check_replaceable(Path(run_dir), as_dir=True, kind=RUN_KIND, legacy=_RUN_FILES)


def claim_run_folder(run_dir: str | Path) -> None:
    claim_folder(run_dir, RUN_KIND, legacy=_RUN_FILES)


_NO_FORWARD_BUFFER_SYNC = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters
    else {"broadcast_buffers": False}
)


def to_device(batch: Batch, device: torch.device, channels_last: bool = False) -> Batch:
    def move(v: Any) -> Any:
        if not torch.is_tensor(v):
            return v
        if channels_last and v.dim() == 4:
            return v.to(device, memory_format=torch.channels_last, non_blocking=True)
        return v.to(device, non_blocking=True)

    return {k: move(v) for k, v in batch.items()}


class Trainer:
    def __init__(
        self,
        model: PoseTransferModel,
        dataset: Dataset,
        config: TrainConfig,
        run_dir: str | Path | None = None,
        spec: dict[str, Any] | None = None,
        dist: DistInfo | None = None,
        progress: bool = True,
        extra_meta: dict[str, Any] | None = None,
        validation: Validation | None = None,
    ):
        if not model.trainable:
            raise BenchError(f"{type(model).__name__} is not trainable (a reference row): use `bench generate` directly")
        self.dist = dist or DistInfo(device=resolve_device(config.device))
        if config.batch_size % self.dist.world_size:
            raise BenchError(f"batch_size {config.batch_size} does not split evenly over {self.dist.world_size} ranks")
        self.config = config
        self.dataset = dataset
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.spec = spec or {}
        self.progress = progress and self.dist.is_main
        self.extra_meta = extra_meta or {}
        if config.val_every and validation is None:
            raise BenchError(f"val_every={config.val_every} needs a validation split (multi-source tuples: "
                             "`bench data prepare --multi-source K`)")
        self.validation = validation if config.val_every else None
        self.device = self.dist.device
        self.per_rank_batch = config.batch_size // self.dist.world_size

        if hasattr(model, "prepare_losses"):
            model.prepare_losses()  # VGG weights missing -> WeightsMissing now, not after an hour
        self.model = model.to(self.device)
        for module in model.loss_modules.values():
            module.to(self.device)
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = config.cudnn_benchmark
        # fp16 needs loss scaling (its 5-bit exponent underflows small gradients); bf16 does not.
        self.scaler = torch.amp.GradScaler(self.device.type) if config.amp == "fp16" else None
        self.generator = model.generator
        self.discriminators = dict(model.discriminators.items())

        betas = tuple(config.betas)
        self.optimizers = {"G": torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=betas)}
        for name, d in self.discriminators.items():
            self.optimizers[name] = torch.optim.Adam(d.parameters(), lr=config.lr_d, betas=betas)
        factor = config.lr_factor
        self.schedulers = {
            name: torch.optim.lr_scheduler.LambdaLR(opt, lambda step: factor(step)) for name, opt in self.optimizers.items()
        }
        self.sampler = PairSampler(len(dataset), seed=config.seed, rank=self.dist.rank, world_size=self.dist.world_size)
        self.step = 0
        self.resumed_at: list[int] = []
        self._wrapped: dict[str, nn.Module] | None = None
        self._columns: list[str] | None = None
        # Loss sums since the last log row (checkpointed, so curves survive a resume).
        self._window: dict[str, torch.Tensor] = {}
        self._window_steps = 0

    # ------------------------------------------------------------------ one iteration

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One G step then one D step on ``batch``; returns the detached loss terms."""
        self.model.train()
        batch = to_device(batch, self.device, self.config.channels_last)
        for d in self.discriminators.values():
            d.requires_grad_(False)
        with self._installed(discriminators=False), self._autocast():
            fake = self.model(batch)
            g_terms = self.model.generator_losses(batch, fake)
        if not g_terms:
            raise BenchError(f"{type(self.model).__name__}.generator_losses returned no terms")
        self.optimizers["G"].zero_grad(set_to_none=True)
        self._backward(sum(g_terms.values()))
        self._step("G")

        terms = {f"G/{k}": v.detach() for k, v in g_terms.items()}
        if self.discriminators:
            for d in self.discriminators.values():
                d.requires_grad_(True)
            with self._installed(discriminators=True), self._autocast():
                d_terms = self.model.discriminator_losses(batch, fake.detach())
            self._check_d_terms(d_terms)
            for name in self.discriminators:
                self.optimizers[name].zero_grad(set_to_none=True)
            if d_terms:
                self._backward(sum(d_terms.values()))
            for name in self.discriminators:
                self._step(name)
            terms.update({k: v.detach() for k, v in d_terms.items()})
        if self.scaler is not None:
            self.scaler.update()  # once per iteration, after every optimiser stepped (torch.amp docs)
        for scheduler in self.schedulers.values():
            scheduler.step()
        return terms

    def _autocast(self):
        if self.config.amp == "off":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AMP_DTYPES[self.config.amp])

    def _backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def _step(self, name: str) -> None:
        if self.scaler is not None:
            self.scaler.step(self.optimizers[name])  # skipped when the scaled gradients overflowed
        else:
            self.optimizers[name].step()

    def _check_d_terms(self, terms: dict[str, torch.Tensor]) -> None:
        for key in terms:
            name, sep, _ = key.partition("/")
            if not sep or name not in self.discriminators:
                raise BenchError(
                    f"discriminator loss key {key!r} must be '<discriminator>/<term>' with one of {', '.join(self.discriminators)}"
                )

    # ------------------------------------------------------------------ DDP wrappers

    def _wrap(self) -> None:
        """Build the DDP wrappers once (after loading a checkpoint: rank 0's weights are broadcast)."""
        if not self.dist.distributed or self._wrapped is not None:
            return
        ids = [self.device.index] if self.device.type == "cuda" else None
        # Multi-stage generators (PG2: G1 or G2 sits a stage out) leave parameters unused.
        unused = getattr(self.model, "ddp_find_unused_parameters", False)
        self._wrapped = {"G": DDP(self.generator, device_ids=ids, find_unused_parameters=unused)}
        for name, d in self.discriminators.items():
            self._wrapped[name] = DDP(d, device_ids=ids, **_NO_FORWARD_BUFFER_SYNC)

    @contextlib.contextmanager
    def _installed(self, discriminators: bool) -> Iterator[None]:
        """Route the model's calls through the DDP wrappers (G always, Ds only in their own step)."""
        if self._wrapped is None:
            yield
            return
        self.model.generator = self._wrapped["G"]
        if discriminators:
            for name in self.discriminators:
                self.model.discriminators[name] = self._wrapped[name]
        try:
            yield
        finally:
            self.model.generator = self.generator
            for name, d in self.discriminators.items():
                self.model.discriminators[name] = d

    # ------------------------------------------------------------------ state

    def _pools(self) -> dict[str, ImagePool]:
        pools = {name: m for name, m in self.model.named_modules() if isinstance(m, ImagePool)}
        pools.update({f"loss_modules.{k}": m for k, m in self.model.loss_modules.items() if isinstance(m, ImagePool)})
        return pools

    def state_dict(self, sampler_state: dict[str, int] | None = None) -> dict[str, Any]:
        """Everything needed to continue; gathers every rank's RNG and pool state (call on all ranks)."""
        rank_state = {
            "rng": capture_rng(),
            "pools": {k: p.get_extra_state() for k, p in self._pools().items()},
            "log_window": {k: v.detach().cpu() for k, v in self._window.items()},
            "log_steps": self._window_steps,
        }
        return {
            "step": self.step,
            "spec": self.spec,
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "sampler": sampler_state or self.sampler.state_dict(),
            "world_size": self.dist.world_size,
            "ranks": gather_objects(self.dist, rank_state),
            "validation": self.validation.state_dict() if self.validation else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_same_model(state.get("spec") or {})
        self._check_same_config(state["config"])
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as err:
            first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
            raise BenchError(f"cannot resume: the checkpoint's weights do not fit this model ({first})") from None
        for k, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][k])
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])
        self.sampler.load_state_dict(state["sampler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        if self.validation is not None:
            self.validation.load_state_dict(state.get("validation"))
        if state["world_size"] == self.dist.world_size:
            own = state["ranks"][self.dist.rank]
            for k, pool in self._pools().items():
                pool.set_extra_state(own["pools"][k])
            restore_rng(own["rng"])
            self._window = {k: v.to(self.device) for k, v in own["log_window"].items()}
            self._window_steps = int(own["log_steps"])
        else:  # a different world size: same weights, new random streams
            print(f"warning: checkpoint from {state['world_size']} ranks resumed on {self.dist.world_size}; "
                  "RNG streams and image pools are reseeded, so the run is not bit-identical", file=sys.stderr)
            seed_everything(self.config.seed + self.dist.rank + 7919 * self.step)

    def _check_same_model(self, saved: dict[str, Any]) -> None:
        """Resuming another model (another variant, dataset or option set) is refused by name, before any weights."""
        for key, what in (("model", "model"), ("dataset", "dataset"), ("model_options", "model options")):
            if key in saved and key in self.spec and saved[key] != self.spec[key]:
                old, new = saved[key], self.spec[key]
                if isinstance(old, dict) and isinstance(new, dict):  # name only the options that differ
                    keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
                    old, new = ({k: d.get(k) for k in keys} for d in (saved[key], self.spec[key]))
                raise BenchError(f"cannot resume: the checkpoint holds a run of {what} {old!r}, "
                                 f"not {new!r}; choose another --out or drop --resume")

    def _check_same_config(self, saved: dict[str, Any]) -> None:
        """A resumed run must train the same way; only its length and bookkeeping may change."""
        plain = lambda v: json.dumps(v, sort_keys=True, default=list)  # noqa: E731  (tuples == lists)
        current = self.config.to_dict()
        saved = {**TrainConfig().to_dict(), **saved}  # a key added since the checkpoint has its default there
        changed = [k for k in current if k not in RESUMABLE_CHANGES and plain(saved.get(k)) != plain(current[k])]
        if changed:
            details = "; ".join(f"{k}: {saved.get(k)!r} -> {current[k]!r}" for k in changed)
            raise BenchError(f"cannot resume: the configuration changed since the checkpoint ({details})")

    def save(self, path: Path, sampler_state: dict[str, int]) -> None:
        state = self.state_dict(sampler_state)  # collective: every rank takes part
        if self.dist.is_main:
            save_checkpoint(path, state)
        barrier(self.dist)

    # ------------------------------------------------------------------ the loop

    def fit(self, resume: bool = False, stop_at: int | None = None) -> dict[str, float]:
        """Train to ``config.iterations``; ``stop_at`` ends early after that step (as if killed).

        Returns the last logged (rank-averaged) loss terms.
        """
        cfg = self.config
        checkpoint = self.run_dir / CHECKPOINT if self.run_dir else None
        if resume and checkpoint is not None and checkpoint.exists():
            self.load_state_dict(load_checkpoint(checkpoint))
            self.resumed_at.append(self.step)
        else:
            if checkpoint is not None and checkpoint.exists():
                raise BenchError(f"{checkpoint} exists: pass --resume to continue that run, or choose another --out")
            seed_everything(cfg.seed + self.dist.rank)
        self._wrap()
        if self.dist.is_main and self.run_dir is not None:
            claim_run_folder(self.run_dir)
            self._truncate_log()
            self._write_meta("running")

        start_step, start_sampler = self.step, self.sampler.state_dict()
        batches = iter(self._loader())
        last: dict[str, float] = {}
        bar = self._progress_bar()
        started = time.perf_counter()
        try:
            while self.step < cfg.iterations and (stop_at is None or self.step < stop_at):
                terms = self.train_step(next(batches))
                self.step += 1
                self._window = {k: self._window.get(k, 0.0) + v for k, v in terms.items()}
                self._window_steps += 1
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.iterations:
                    last = self._log(self._window, self._window_steps, time.perf_counter() - started, bar)
                    self._window, self._window_steps = {}, 0
                if self.validation is not None and (self.step % cfg.val_every == 0 or self.step == cfg.iterations):
                    self._validate()
                if self.run_dir is not None and (self.step % cfg.ckpt_every == 0 or self.step in (cfg.iterations, stop_at)):
                    consumed = (self.step - start_step) * self.per_rank_batch
                    self.save(checkpoint, self.sampler.advance(start_sampler, consumed))
                    if self.dist.is_main:
                        self._write_meta("running")
        except BaseException as err:  # a bad image, Ctrl-C: the run's meta must not keep saying "running"
            if self.run_dir is not None and self.dist.is_main:
                self._write_meta("failed", error=f"{type(err).__name__}: {err}"[:500])
            raise
        finally:
            bar.close()
        if self.run_dir is not None and self.dist.is_main:
            finished = self.step >= cfg.iterations
            if finished:
                save_checkpoint(self.run_dir / FINAL, {"step": self.step, "spec": self.spec, "config": cfg.to_dict(),
                                                      "model": self.model.state_dict()})
            self._write_meta("finished" if finished else "stopped")
        barrier(self.dist)
        return last

    def _validate(self) -> None:
        """Score the validation split on rank 0; the best weights so far go to best.pt (before the checkpoint)."""
        if self.dist.is_main:
            devices = [self.device] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):  # the training RNG stream is not consumed by validation
                value = self.validation.score(self.model, self.device, self.per_rank_batch)
            if self.validation.update(self.step, value) and self.run_dir is not None:
                save_checkpoint(self.run_dir / BEST, {"step": self.step, "spec": self.spec, "config": self.config.to_dict(),
                                                     "model": self.model.state_dict(),
                                                     "validation": {"metric": self.validation.metric, "value": value}})
        barrier(self.dist)

    def _loader(self) -> DataLoader:
        # A dedicated generator: creating the loader's iterator must not draw from the
        # global RNG, whose state the checkpoint restores.
        return DataLoader(
            self.dataset,
            batch_sampler=BatchStream(self.sampler, self.per_rank_batch),
            num_workers=self.config.num_workers,
            collate_fn=collate,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.config.seed + self.dist.rank),
            persistent_workers=self.config.num_workers > 0,
        )

    def _progress_bar(self):
        from tqdm import tqdm

        return tqdm(total=self.config.iterations, initial=self.step, desc=self.spec.get("model", "train"),
                    unit="it", file=sys.stderr, dynamic_ncols=True, disable=not self.progress)

    # ------------------------------------------------------------------ logs and metadata

    def lrs(self) -> dict[str, float]:
        lr_d = next((self.optimizers[n].param_groups[0]["lr"] for n in self.discriminators), float("nan"))
        return {"lr_g": self.optimizers["G"].param_groups[0]["lr"], "lr_d": lr_d}

    def _log(self, window: dict[str, torch.Tensor], steps: int, seconds: float, bar) -> dict[str, float]:
        names = sorted(window)
        values = torch.stack([torch.as_tensor(window[k], dtype=torch.float32, device=self.device) for k in names]) / steps
        values = mean_over_ranks(self.dist, values).tolist()
        terms = dict(zip(names, values))
        bar.set_postfix({k: f"{v:.3g}" for k, v in terms.items()}, refresh=False)
        if self.dist.is_main and self.run_dir is not None:
            row = {"step": self.step, **self.lrs(), **terms, "seconds": round(seconds, 3)}
            self._append_log(row)
        return terms

    def _append_log(self, row: dict[str, Any]) -> None:
        path = self.run_dir / LOG
        if self._columns is None:
            header = path.read_text().partition("\n")[0] if path.exists() else ""
            self._columns = header.split(",") if header else list(row)
            if not header:
                path.write_text(",".join(self._columns) + "\n")
        if list(row) != self._columns:
            raise BenchError(f"loss terms changed during training: {list(row)} vs the log's columns {self._columns}")
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([row[k] for k in self._columns])
        with path.open("a") as f:
            f.write(buffer.getvalue())

    def _truncate_log(self) -> None:
        """Drop log rows past the checkpoint being resumed (written before the run was killed)."""
        path = self.run_dir / LOG
        if not path.exists():
            return
        lines = path.read_text().splitlines()
        if self.step == 0:
            path.unlink()
            return
        kept = lines[:1] + [line for line in lines[1:] if int(line.split(",")[0]) <= self.step]
        atomic_write_text(path, "\n".join(kept) + "\n")

    def _write_meta(self, status: str, **extra: Any) -> None:
        atomic_write_json(self.run_dir / META, {**self.metadata(status), **extra})

    def metadata(self, status: str) -> dict[str, Any]:
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        return {
            **self.spec,
            **self.extra_meta,
            "status": status,
            "step": self.step,
            "iterations": self.config.iterations,
            "resumed_at": self.resumed_at,
            "config": self.config.to_dict(),
            "model_metadata": self.model.metadata(),
            "logged_terms": self._columns,
            "validation": self.validation.metadata(self.config.val_every) if self.validation else None,
            "parameters": {"generator": count(self.generator), **{k: count(d) for k, d in self.discriminators.items()}},
            "distributed": {
                "world_size": self.dist.world_size,
                "per_rank_batch": self.per_rank_batch,
                "ddp": f"G: buffers synced every forward; D: {_NO_FORWARD_BUFFER_SYNC}" if self.dist.distributed else None,
                "rank_seeds": "seed + rank",
            },
            "files": {"checkpoint": CHECKPOINT, "final": FINAL, "log": LOG},
            "provenance": provenance(seed=self.config.seed, device=device_name(str(self.device))),
        }
