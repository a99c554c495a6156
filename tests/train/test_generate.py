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
