from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp
from tiny_gan import TinyGAN, TinyPairs

from bench.train.checkpoint import load_checkpoint
from bench.train.config import TrainConfig
from bench.train.trainer import CHECKPOINT, LOG, Trainer

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out: str) -> None:
    # What torchrun would set.
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    from bench.train.distributed import init_distributed, shutdown

    info = init_distributed("cpu")
    try:
        torch.manual_seed(100 + rank)  # different init per rank: DDP must broadcast rank 0's weights
        model = TinyGAN()
        config = TrainConfig(iterations=4, batch_size=4, niter=4, log_every=2, ckpt_every=2, seed=3, device="cpu")
        trainer = Trainer(model, TinyPairs(n=10), config, run_dir=f"{out}/run", dist=info, progress=False)
        trainer.fit()
        torch.save({"G": model.generator.state_dict(), "D": dict(model.discriminators["D"].named_parameters()),
                    "pool": model.pools["D"].get_extra_state(), "dropout_draw": torch.rand(3)}, f"{out}/rank{rank}.pt")
    finally:
        shutdown()


def test_two_cpu_ranks_stay_in_sync(tmp_path):
    # fork: the children reuse the imported modules (spawn would re-import torch, ~5 s each)
    mp.start_processes(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True, start_method="fork")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD))
    assert r0["G"].keys() == r1["G"].keys()
    assert all(torch.equal(r0["G"][k], r1["G"][k]) for k in r0["G"])
    assert all(torch.equal(r0["D"][k], r1["D"][k]) for k in r0["D"])
    # Each rank has its own random stream and its own pool of fakes.
    assert not torch.equal(r0["dropout_draw"], r1["dropout_draw"])
    assert not torch.equal(r0["pool"]["images"], r1["pool"]["images"])
    # Only rank 0 wrote; the checkpoint holds both ranks' RNG states and its weights are the synced ones.
    state = load_checkpoint(tmp_path / "run" / CHECKPOINT)
    assert state["world_size"] == WORLD and len(state["ranks"]) == WORLD
    assert all(torch.equal(state["model"][f"generator.{k}"], v) for k, v in r0["G"].items())
    assert [line.split(",")[0] for line in (tmp_path / "run" / LOG).read_text().splitlines()] == ["step", "2", "4"]

