from __future__ import annotations

import torch

from bench._torchvision_compat import import_torchvision


def test_torchvision_models_transforms_and_roi_align_work():
    tv = import_torchvision()
    from torchvision.ops import roi_align

    assert sum(p.numel() for p in tv.models.alexnet().parameters()) == 61_100_840
    out = roi_align(torch.rand(1, 3, 8, 8), [torch.tensor([[0.0, 0.0, 4.0, 4.0]])], output_size=2)
    assert out.shape == (1, 3, 2, 2)
    assert tv.transforms.functional.hflip(torch.arange(4.0).view(1, 1, 4)).flatten().tolist() == [3, 2, 1, 0]


def test_libraries_that_need_torchvision_import():
    import_torchvision()
    import lpips  # noqa: F401
    import torch_fidelity

    assert torch_fidelity.__version__
