from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.errors import BenchError
from bench.train.generate import image_name, to_uint8


def test_uint8_conversions_by_hand():
    x = torch.tensor([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    # (x + 1) / 2 * 255 after clamping: 0, 0, 127.5, 191.25, 255, 255
    assert to_uint8(x)[0, 0, :, 0].tolist() == [0, 0, 128, 191, 255, 255]  # round half to even
    assert to_uint8(x, "truncate")[0, 0, :, 0].tolist() == [0, 0, 127, 191, 255, 255]
    assert to_uint8(x).dtype == np.uint8 and to_uint8(x).shape == (1, 1, 6, 3)
    with pytest.raises(BenchError, match="floor"):
        to_uint8(x, "floor")


def test_round_inverts_the_loader_normalisation_exactly():
    from bench.data.dataset import to_tensor

    values = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, 2)
    assert np.array_equal(to_uint8(to_tensor(values)[None])[0], values)


def test_output_names_keep_both_image_names():
    assert image_name("0001_c1s1_01.jpg", "0001_c2s1_02.jpg") == "0001_c1s1_01.jpg___0001_c2s1_02.jpg.png"


def test_pin_stage_makes_a_staged_model_output_stage_one_and_refuses_unstaged_models():
    """--stage 1 (Lakhal et al. Table 3's Stage I rows): VDG's forward returns its Stage I image."""
    import torch

    from bench.errors import BenchError
    from bench.models import create_model
    from bench.train.generate import pin_stage

    torch.manual_seed(0)
    vdg = create_model("vdg", "market", width=0.0625, g1_steps=0).eval()  # g1_steps 0: the schedule is in Stage II
    assert vdg.current_stage() == 2
    pin_stage(vdg, 1)
    assert vdg.current_stage() == 1 and vdg.config.stage == 1
    with pytest.raises(BenchError, match="stage must be 0"):
        pin_stage(vdg, 3)
    with pytest.raises(BenchError, match="has no stages"):
        pin_stage(create_model("source-copy", "market"), 1)
