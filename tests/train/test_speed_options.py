"""The trainer's GPU speed options (amp, channels_last, cudnn_benchmark), exercised on CPU.

References: fp32 training of the same model from the same seed (the options must not
change what is learnt beyond the precision they trade away), and torch.amp's documented
contract (autocast runs convolutions in the low precision; GradScaler's state survives a
checkpoint).
"""
from __future__ import annotations

import pytest
import torch
from torch.utils.data import default_collate
from tiny_gan import TinyGAN, TinyPairs

from bench.errors import BenchError
from bench.train.checkpoint import load_checkpoint
from bench.train.config import TrainConfig
from bench.train.trainer import CHECKPOINT, Trainer


def _config(**kw) -> TrainConfig:
    base = dict(iterations=6, batch_size=4, niter=6, niter_decay=0, log_every=2, ckpt_every=3, seed=1, device="cpu",
                lr_g=3e-3)
    return TrainConfig(**{**base, **kw})


def _l1_after(steps: int, **options) -> tuple[float, float]:
    torch.manual_seed(0)
    model = TinyGAN()
    trainer = Trainer(model, TinyPairs(), _config(iterations=steps, niter=steps, **options), progress=False)
    batch = default_collate([TinyPairs()[i] for i in range(4)])

    def l1() -> float:
        model.eval()
        with torch.no_grad():
            return model.generator_losses(batch, model(batch))["l1"].item()

    before = l1()
    torch.manual_seed(1)
    for _ in range(steps):
        trainer.train_step(batch)
    return before, l1()


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_learns_like_fp32(amp):
    before, fp32 = _l1_after(20)
    _, mixed = _l1_after(20, amp=amp)
    assert mixed < 0.92 * before  # it learns (the fp32 test's own bar, tests/train/test_trainer.py)
    assert mixed == pytest.approx(fp32, rel=0.1)  # and lands where fp32 does, to the low precision's accuracy


def test_autocast_runs_the_generator_in_bf16():
    torch.manual_seed(0)
    model = TinyGAN()
    trainer = Trainer(model, TinyPairs(), _config(amp="bf16"), progress=False)
    batch = default_collate([TinyPairs()[i] for i in range(4)])
    seen = []
    model.generator[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    trainer.train_step(batch)
    assert seen == [torch.bfloat16]
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32


def test_fp16_loss_scaler_is_checkpointed_and_restored(tmp_path):
    torch.manual_seed(0)
    trainer = Trainer(TinyGAN(), TinyPairs(), _config(amp="fp16"), run_dir=tmp_path, progress=False)
    trainer.fit(stop_at=3)
    saved = load_checkpoint(tmp_path / CHECKPOINT)["scaler"]
    assert saved["scale"] == trainer.scaler.get_scale()
    torch.manual_seed(0)
    resumed = Trainer(TinyGAN(), TinyPairs(), _config(amp="fp16"), run_dir=tmp_path, progress=False)
    resumed.load_state_dict(load_checkpoint(tmp_path / CHECKPOINT))
    assert resumed.scaler.get_scale() == saved["scale"]
    assert resumed.scaler.state_dict()["_growth_tracker"] == saved["_growth_tracker"]


def test_channels_last_gives_the_contiguous_result():
    """NHWC changes only the memory layout: the same losses step after step (to float rounding).

    Dropout is off here: its mask is drawn in memory order, so NHWC draws another mask."""
    runs = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        model = TinyGAN()
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        trainer = Trainer(model, TinyPairs(), _config(channels_last=channels_last), progress=False)
        batch = default_collate([TinyPairs()[i] for i in range(4)])
        runs.append([{k: v.item() for k, v in trainer.train_step(batch).items()} for _ in range(3)])
        if channels_last:
            assert model.generator[0].weight.is_contiguous(memory_format=torch.channels_last)
    for plain, nhwc in zip(*runs):
        assert nhwc == pytest.approx(plain, rel=1e-4)


def test_unknown_amp_mode_is_refused():
    with pytest.raises(BenchError, match="amp 'fp8': expected one of off, bf16, fp16"):
        _config(amp="fp8")


def test_a_run_cannot_resume_in_another_precision(tmp_path):
    torch.manual_seed(0)
    Trainer(TinyGAN(), TinyPairs(), _config(), run_dir=tmp_path, progress=False).fit(stop_at=3)
    resumed = Trainer(TinyGAN(), TinyPairs(), _config(amp="bf16"), run_dir=tmp_path, progress=False)
    with pytest.raises(BenchError, match="amp: 'off' -> 'bf16'"):
        resumed.fit(resume=True)
