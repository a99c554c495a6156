from __future__ import annotations

import csv
import functools
import json

import pytest
import torch
from torch.utils.data import default_collate
from tiny_gan import TinyGAN, TinyPairs, fixed_batch_l1

from bench.errors import BenchError
from bench.train.checkpoint import load_checkpoint
from bench.train.config import TrainConfig
from bench.train.trainer import CHECKPOINT, FINAL, LOG, META, Trainer


def _base_config(**kw) -> TrainConfig:
    base = dict(iterations=6, batch_size=4, niter=4, niter_decay=4, log_every=2, ckpt_every=3, seed=1, device="cpu")
    return TrainConfig(**{**base, **kw})


_config = _base_config


def _model(seed: int = 0) -> TinyGAN:
    torch.manual_seed(seed)
    return TinyGAN()


def test_a_few_steps_reduce_the_loss_on_a_fixed_batch():
    model = _model()
    trainer = Trainer(model, TinyPairs(), _config(iterations=20, niter=20, lr_g=3e-3), progress=False)
    batch = default_collate([TinyPairs()[i] for i in range(4)])

    before = fixed_batch_l1(model, batch)
    for _ in range(20):
        terms = trainer.train_step(batch)
    assert set(terms) == {"G/l1", "G/gan", "D/real", "D/fake"}
    assert fixed_batch_l1(model, batch) < 0.92 * before


def test_learning_rate_follows_constant_then_linear_decay():
    config = _config(iterations=6, niter=3, niter_decay=3)
    assert [config.lr_factor(s) for s in range(7)] == pytest.approx([1, 1, 1, 0.75, 0.5, 0.25, 0])
    trainer = Trainer(_model(), TinyPairs(), config, progress=False)
    batch = default_collate([TinyPairs()[0]])
    seen = []
    for _ in range(6):
        seen.append(trainer.lrs()["lr_g"])
        trainer.train_step(batch)
    assert seen == pytest.approx([2e-4 * f for f in (1, 1, 1, 0.75, 0.5, 0.25)])
    assert trainer.lrs()["lr_d"] == pytest.approx(0.0)


def _equal_states(a: dict, b: dict) -> list[str]:
    """Keys whose tensors differ (recursively)."""
    diff = []
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, dict):
            diff += [f"{key}.{k}" for k in _equal_states(x, y)]
        elif torch.is_tensor(x):
            if not torch.equal(x, y):
                diff.append(str(key))
        elif x != y:
            diff.append(str(key))
    return diff


@pytest.mark.parametrize("workers", [0, 1])  # with a worker, batches are prefetched past the checkpoint
def test_killed_and_resumed_run_ends_identical_to_uninterrupted(tmp_path, workers):
    data = TinyPairs(n=10)
    _config = functools.partial(_base_config, num_workers=workers)
    whole = Trainer(_model(), data, _config(), run_dir=tmp_path / "whole", spec={"model": "tiny"}, progress=False)
    whole.fit()

    first = Trainer(_model(), data, _config(), run_dir=tmp_path / "cut", spec={"model": "tiny"}, progress=False)
    first.fit(stop_at=3)  # killed right after its step-3 checkpoint
    assert load_checkpoint(tmp_path / "cut" / CHECKPOINT)["step"] == 3
    assert not (tmp_path / "cut" / FINAL).exists()
    assert json.loads((tmp_path / "cut" / META).read_text())["status"] == "stopped"
    torch.manual_seed(123)  # a new process: different global RNG, different init
    resumed = Trainer(_model(seed=5), data, _config(), run_dir=tmp_path / "cut", spec={"model": "tiny"}, progress=False)
    resumed.fit(resume=True)

    end_whole, end_cut = whole.model.state_dict(), resumed.model.state_dict()
    assert len(resumed.model.pools["D"]) == 2  # the pool (extra state) is compared too
    assert _equal_states(end_whole, end_cut) == []
    for name in ("G", "D"):
        assert _equal_states(whole.optimizers[name].state_dict()["state"], resumed.optimizers[name].state_dict()["state"]) == []
    final = load_checkpoint(tmp_path / "cut" / FINAL)
    assert _equal_states(final["model"], end_whole) == []

    def rows(run):
        with open(tmp_path / run / LOG) as f:
            return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]

    assert rows("whole") == rows("cut")
    assert [r["step"] for r in rows("whole")] == ["2", "4", "6"]
    meta = json.loads((tmp_path / "cut" / META).read_text())
    assert meta["status"] == "finished" and meta["resumed_at"] == [3] and meta["provenance"]["seed"] == 1


def test_resume_drops_log_rows_written_after_the_checkpoint(tmp_path):
    data = TinyPairs(n=10)
    Trainer(_model(), data, _config(log_every=1), run_dir=tmp_path, progress=False).fit(stop_at=3)
    with open(tmp_path / LOG, "a") as f:  # the killed process logged step 4 before dying
        f.write("4,0,0,0,0,0,0,0\n")
    Trainer(_model(), data, _config(log_every=1), run_dir=tmp_path, progress=False).fit(resume=True)
    steps = [line.split(",")[0] for line in (tmp_path / LOG).read_text().splitlines()[1:]]
    assert steps == ["1", "2", "3", "4", "5", "6"]


def test_fresh_run_refuses_to_overwrite_a_checkpoint(tmp_path):
    data = TinyPairs(n=10)
    Trainer(_model(), data, _config(iterations=3), run_dir=tmp_path, progress=False).fit()
    with pytest.raises(BenchError, match="--resume"):
        Trainer(_model(), data, _config(iterations=3), run_dir=tmp_path, progress=False).fit()


def test_checkpoint_loads_weights_only_and_holds_every_rng(tmp_path):
    Trainer(_model(), TinyPairs(n=10), _config(iterations=3), run_dir=tmp_path, progress=False).fit()
    state = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    rng = state["ranks"][0]["rng"]
    assert set(rng) == {"torch", "cuda", "numpy", "python"}
    assert set(state["optimizers"]) == {"G", "D"} and set(state["schedulers"]) == {"G", "D"}
    assert state["sampler"] == {"epoch": 1, "index": 2}  # 3 steps x 4 pairs of 10


def test_bad_discriminator_keys_are_named():
    class Bad(TinyGAN):
        def discriminator_losses(self, batch, fake):
            return {"real": super().discriminator_losses(batch, fake)["D/real"]}

    trainer = Trainer(Bad(), TinyPairs(), _config(), progress=False)
    with pytest.raises(BenchError, match="'real'"):
        trainer.train_step(default_collate([TinyPairs()[0]]))


def test_untrainable_model_is_refused():
    model = TinyGAN()
    model.trainable = False
    with pytest.raises(BenchError, match="not trainable"):
        Trainer(model, TinyPairs(), _config(), progress=False)
