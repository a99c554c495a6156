"""Make the registry's CUDA build of torchvision importable on CPU-only torch.

Why this exists: PyPI's torchvision 0.28.0 wheel is built against CUDA torch. On
the CPU build of torch 2.13.0 its compiled extension fails to register the
``torchvision::nms`` / ``torchvision::qnms`` operator schemas, and importing
torchvision (hence ``lpips`` and ``torch_fidelity``) dies with
``operator torchvision::nms does not exist`` while registering the Python
fake-tensor kernels for them.

Defining the two missing schemas with ``torch.library`` before the import is
enough: models, transforms and ``roi_align`` work, and ``nms`` itself (which this
project never calls) raises ``NotImplementedError``.

Where torchvision imports normally (a matching CPU or CUDA build), this module does
nothing: the shim only runs after a failed first import with exactly that error.
Import ``bench`` (or call :func:`import_torchvision`) before torchvision.
"""
from __future__ import annotations

import sys

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library = None  # keeps the torch.library.Library alive for the whole process


def _define_missing_schemas() -> None:
    global _library
    import torch

    _library = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _SCHEMAS.values():
        try:
            _library.define(schema)
        except RuntimeError:  # the schema exists after all: nothing to add
            pass


def _forget_partial_import() -> None:
    for mod in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[mod]


def import_torchvision():
    """Import torchvision, applying the schema shim only if the plain import fails."""
    try:
        import torchvision
    except RuntimeError as err:
        if "torchvision::nms does not exist" not in str(err):
            raise
        _forget_partial_import()
        _define_missing_schemas()
        import torchvision
    return torchvision
