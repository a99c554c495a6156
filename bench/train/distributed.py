"""One process per device, launched by ``torchrun`` (or run alone).

``bench train`` is the same command on CPU, one GPU or N GPUs::

    bench train patn ...                                   # CPU or one GPU
    torchrun --standalone --nproc_per_node=4 --no-python bench train patn ...

torchrun sets RANK / LOCAL_RANK / WORLD_SIZE; without them the run is a single
process and no process group is created. The backend is ``nccl`` on CUDA and
``gloo`` on CPU (so multi-process runs also work in CI).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from bench.errors import BenchError
from bench.train.config import DEVICE_NAMES


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or dist.is_initialized()

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def check_device_name(name: str) -> None:
    if not DEVICE_NAMES.fullmatch(name):
        raise BenchError(f"device {name!r}: expected auto, cpu, cuda or cuda:N")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """The torch device for ``name``; a CUDA device this machine does not have is a clear error."""
    check_device_name(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BenchError(f"device {name!r} requested but CUDA is not available on this machine (use cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BenchError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read after it times that work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun process group if launched by torchrun; else a single process."""
    if "RANK" not in os.environ:
        return DistInfo(device=resolve_device(device))
    rank, local_rank, world = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(os.environ["WORLD_SIZE"])
    chosen = resolve_device(device, local_rank)
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo", rank=rank, world_size=world)
    return DistInfo(rank, local_rank, world, chosen)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def gather_objects(info: DistInfo, obj: Any) -> list[Any]:
    """``obj`` from every rank (rank order); plain list of one element when not distributed."""
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def mean_over_ranks(info: DistInfo, values: torch.Tensor) -> torch.Tensor:
    if info.distributed:
        values = values.clone()
        dist.all_reduce(values)
        values /= info.world_size
    return values
