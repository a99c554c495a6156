"""Loading the authors' netG checkpoints into our generators (``baselines.convert``)."""
from __future__ import annotations

import pytest
import torch
from original_keys import original_patn_shapes, original_pona_shapes, random_state

from baselines.convert import convert_state_dict, read_original
from bench.errors import DataError
from bench.models import create_model
from bench.registry import MODELS


def meta_shapes(name, dataset, **config):
    with torch.device("meta"):
        g = MODELS.get(name).meta.generator_builder(dataset, **config)
    return {"model." + k: tuple(v.shape) for k, v in g.state_dict().items()}


@pytest.mark.parametrize("dataset, norm", [("market", "batch"), ("deepfashion", "instance")])
def test_full_size_state_dicts_have_the_original_names_and_shapes(dataset, norm):
    assert meta_shapes("patn", dataset) == original_patn_shapes(norm=norm)
    assert meta_shapes("pona", dataset) == original_pona_shapes(norm=norm)
    assert meta_shapes("patn", dataset, dropout=False) == original_patn_shapes(norm=norm, dropout=False)


@pytest.mark.parametrize("name, dataset, shapes", [
    ("patn", "market", original_patn_shapes(8, 9, "batch")),
    ("patn", "deepfashion", original_patn_shapes(8, 9, "instance")),
    ("pona", "deepfashion", original_pona_shapes(8, 3, "instance")),
    ("pona-b2", "market", original_pona_shapes(8, 2, "batch")),
])
def test_every_tensor_lands_in_its_place(name, dataset, shapes):
    model = create_model(name, dataset, width=0.125, perceptual=False)
    original = random_state(shapes, prefix="module.")  # saved from DataParallel
    converted, notes = convert_state_dict(original, model.generator)
    model.generator.load_state_dict(converted)
    assert notes == []
    ours = model.generator.state_dict()
    for key, tensor in original.items():
        assert torch.equal(ours[key.removeprefix("module.model.")], tensor), key
    # Spot checks by meaning, not by name: the image stem conv and the last PoNA self-attention's beta.
    assert torch.equal(model.generator.stream1_down[1].weight, original["module.model.stream1_down.1.weight"])
    if name.startswith("pona"):
        last = len(model.generator.att) - 1
        assert model.generator.att[last].att2.beta.item() == original[f"module.model.att.{last}.att2.beta"].item()


def test_pytorch_03_leftovers_are_handled_and_recorded():
    fashion = create_model("patn", "deepfashion", width=0.125, perceptual=False)
    original = random_state(original_patn_shapes(8, 9, "instance"))
    original["model.stream1_down.2.running_mean"] = torch.zeros(8)  # 0.3 InstanceNorm buffers
    original["model.stream1_down.2.running_var"] = torch.ones(8)
    _, notes = convert_state_dict(original, fashion.generator)
    assert len(notes) == 1 and "dropped 2 InstanceNorm" in notes[0]

    market = create_model("patn", "market", width=0.125, perceptual=False)
    original = {k: v for k, v in random_state(original_patn_shapes(8, 9, "batch")).items() if not k.endswith("num_batches_tracked")}
    converted, notes = convert_state_dict(original, market.generator)
    assert "num_batches_tracked" in notes[0] and converted["stream1_down.2.num_batches_tracked"].item() == 0


def test_unknown_missing_and_misshapen_keys_are_listed():
    model = create_model("patn", "market", width=0.125, perceptual=False)
    original = random_state(original_patn_shapes(8, 9, "batch"))
    original["model.att.9.conv_block_stream1.1.weight"] = torch.zeros(1)
    original["optimizer_state"] = torch.zeros(1)
    del original["model.stream1_up.7.bias"]
    with pytest.raises(DataError) as err:
        convert_state_dict(original, model.generator, "ckpt.pth")
    message = str(err.value)
    assert message.startswith("ckpt.pth: ")
    assert "2 unknown key(s): optimizer_state, model.att.9.conv_block_stream1.1.weight" in message
    assert "1 missing key(s): model.stream1_up.7.bias" in message

    original = random_state(original_patn_shapes(8, 9, "batch"))
    original["model.stream1_up.7.bias"] = torch.zeros(4)
    with pytest.raises(DataError, match=r"model.stream1_up.7.bias \(4,\) != \(3,\)"):
        convert_state_dict(original, model.generator)


def test_no_dropout_checkpoint_needs_the_matching_config():
    original = random_state(original_patn_shapes(8, 9, "batch", dropout=False))
    with pytest.raises(DataError, match="conv_block_stream1.5.weight"):
        convert_state_dict(original, create_model("patn", "market", width=0.125, perceptual=False).generator)
    converted, _ = convert_state_dict(original, create_model("patn", "market", width=0.125, perceptual=False, dropout=False).generator)
    assert torch.equal(converted["att.0.conv_block_stream1.5.weight"], original["model.att.0.conv_block_stream1.5.weight"])


def test_unreadable_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_original(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="junk.pth: cannot be read"):
        read_original(tmp_path / "junk.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(DataError, match="not a state dict"):
        read_original(tmp_path / "list.pth")
