"""Tang et al. AAAI'21 part flow: sizes, part grouping, PNB, HDCB, ablations, losses, training steps."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pair_gan_helpers
from weights_helpers import trust_weight
from baselines import partflow
from baselines.partflow import (
    PARTS, HybridDilatedBlock, PyramidNonLocal, keypoints_from_heatmaps, part_boxes,
)
from bench.data.keypoints import HEAD, INDEX, NUM_KEYPOINTS
from bench.data.pose import heatmaps
from bench.errors import BenchError, DataError
from bench.models import count_parameters, create_model
from bench.registry import MODELS
from bench.train.checkpoint import save_checkpoint
from bench.train.losses import VGG19_LAYERS

SIZES = {"market": (128, 64), "deepfashion": (256, 176)}
VARIANTS = ("partflow", "partflow-wo-part", "partflow-wo-pnb", "partflow-wo-hdcb")


def meta_model(name: str, dataset: str, **config):
    with torch.device("meta"):
        return create_model(name, dataset, **config)


def random_batch(size: tuple[int, int], batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    return pair_gan_helpers.random_batch(batch, size, seed)


def standing(size: tuple[int, int]) -> torch.Tensor:
    """(18, 2) integer (y, x) joints of an upright person filling a (H, W) frame."""
    h, w = size
    rows = {"nose": 0.12, "neck": 0.22, "r_shoulder": 0.24, "r_elbow": 0.38, "r_wrist": 0.5, "l_shoulder": 0.24,
            "l_elbow": 0.38, "l_wrist": 0.5, "r_hip": 0.55, "r_knee": 0.72, "r_ankle": 0.9, "l_hip": 0.55,
            "l_knee": 0.72, "l_ankle": 0.9, "r_eye": 0.1, "l_eye": 0.1, "r_ear": 0.11, "l_ear": 0.11}
    cols = {"nose": 0.5, "neck": 0.5, "r_shoulder": 0.3, "r_elbow": 0.25, "r_wrist": 0.22, "l_shoulder": 0.7,
            "l_elbow": 0.75, "l_wrist": 0.78, "r_hip": 0.4, "r_knee": 0.4, "r_ankle": 0.4, "l_hip": 0.6,
            "l_knee": 0.6, "l_ankle": 0.6, "r_eye": 0.45, "l_eye": 0.55, "r_ear": 0.4, "l_ear": 0.6}
    kp = torch.zeros(NUM_KEYPOINTS, 2)
    for name, i in INDEX.items():
        kp[i] = torch.tensor([round(rows[name] * (h - 1)), round(cols[name] * (w - 1))])
    return kp


def posed_batch(size: tuple[int, int], seed: int = 0) -> dict[str, torch.Tensor]:
    batch = random_batch(size, batch=1, seed=seed)
    kp = standing(size).unsqueeze(0)
    target_kp = kp + torch.tensor([0.0, 2.0])  # the same person a little to the right
    return {**batch, "source_keypoints": kp, "target_keypoints": target_kp,
            "source_pose": heatmaps(kp, size), "target_pose": heatmaps(target_kp, size)}


# --------------------------------------------------------------------------------------
# Parameter counts, from the layer list in the module docstring


def conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def encoder_block(cin: int, cout: int) -> int:  # IN(cin), act, conv4x4/2, IN(cout), act, conv3x3
    return 2 * cin + conv(cin, cout, 4) + 2 * cout + conv(cout, cout, 3)


def res_block(c: int) -> int:
    return 2 * (2 * c + conv(c, c, 3))


def res_decoder(cin: int, cout: int, hidden: int) -> int:
    return 2 * cin + conv(cin, hidden, 3) + 2 * hidden + conv(hidden, cout, 3) + conv(cin, cout, 3)


def flow_net(cin: int) -> int:
    """GFLA PoseFlowNet(ngf 32, img_f 256, 5 layers) with one flow + visibility head at 1/4."""
    total = sum(encoder_block(a, b) for a, b in [(cin, 32), (32, 64), (64, 128), (128, 256), (256, 256)])
    total += sum(res_decoder(a, b, b) + conv(b, b, 3) for a, b in [(256, 256), (256, 128), (128, 64)])
    return total + conv(64, 2, 3) + conv(64, 1, 3)


def hdcb(c: int = 128) -> int:
    return 2 * (2 * c + conv(c, c, 3))  # two (IN, act, conv3x3) layers, dilations 1 and 2


def pnb(c: int = 128) -> int:
    return 3 * conv(c, c // 2, 1) + conv(c, c, 1)  # theta, phi, g; output conv on two scales x 64


def hand_generator(joints: list[int], with_hdcb: bool = True, with_pnb: bool = True) -> tuple[int, int]:
    """(generator, flow nets) for parts with the given joint counts."""
    flows = sum(flow_net(2 * k) for k in joints)
    per_part = sum(encoder_block(3, 64) + encoder_block(64, 128) + encoder_block(k, 64) + encoder_block(64, 128)
                   for k in joints) + len(joints) * (hdcb() if with_hdcb else 0)
    pose = encoder_block(18, 64) + encoder_block(64, 128)
    fused_in = 128 * (len(joints) + 1)
    fusion = 2 * fused_in + conv(fused_in, 128, 3) + res_block(128)
    decoder = res_block(128) + res_decoder(128, 64, 128) + res_block(64) + res_decoder(64, 64, 64) + conv(64, 3, 3)
    return flows + per_part + pose + fusion + (pnb() if with_pnb else 0) + decoder, flows


HAND = {
    "partflow": hand_generator([6, 9, 6]),
    "partflow-wo-part": hand_generator([18]),
    "partflow-wo-pnb": hand_generator([6, 9, 6], with_pnb=False),
    "partflow-wo-hdcb": hand_generator([6, 9, 6], with_hdcb=False),
}


@pytest.mark.parametrize("dataset, d_params", [("market", 238_209), ("deepfashion", 664_577)])
@pytest.mark.parametrize("name", VARIANTS)
def test_parameter_counts_per_dataset(name, dataset, d_params):
    total, flows = HAND[name]
    model = meta_model(name, dataset)
    assert count_parameters(model.generator) == total == partflow.PARAM_COUNTS[name]
    assert MODELS.get(name).meta.param_counts[dataset] == total
    assert sum(count_parameters(b.flow_net) for b in model.generator.branches.values()) == flows
    assert count_parameters(model.discriminators["D"]) == d_params  # GFLA's ResDiscriminator, 3 / 4 blocks
    flow_stage = meta_model(name, dataset, stage="flow", vgg=False, lambda_regularization=0.01)
    assert count_parameters(flow_stage.generator) == flows and not flow_stage.discriminators
    with torch.device("meta"):
        assert count_parameters(MODELS.get(name).meta.generator_builder(dataset)) == total


def test_reported_counts():
    assert partflow.PARAM_COUNTS == {"partflow": 24_632_192, "partflow-wo-part": 9_298_524,
                                     "partflow-wo-pnb": 24_590_912, "partflow-wo-hdcb": 23_745_152}
    assert MODELS.get("partflow").meta.paper == "Tang et al., AAAI 2021"


def test_ablations_build_and_differ_as_expected():
    full, wo_part, wo_pnb, wo_hdcb = (meta_model(n, "deepfashion").generator for n in VARIANTS)
    assert list(full.branches) == ["head", "torso", "legs"] and list(wo_part.branches) == ["body"]
    assert wo_part.branches["body"].flow_net.block0.model[2].in_channels == 2 * NUM_KEYPOINTS
    assert not wo_part.decompose and full.decompose
    assert isinstance(wo_pnb.pnb, nn.Identity) and isinstance(full.pnb, PyramidNonLocal)
    assert all(isinstance(b.hdcb, nn.Identity) for b in wo_hdcb.branches.values())
    assert all(isinstance(b.hdcb, HybridDilatedBlock) for b in full.branches.values())
    n = {name: count_parameters(g) for name, g in zip(VARIANTS, (full, wo_part, wo_pnb, wo_hdcb))}
    assert n["partflow"] - n["partflow-wo-pnb"] == pnb() == 41_280
    assert n["partflow"] - n["partflow-wo-hdcb"] == 3 * hdcb() == 887_040
    assert n["partflow-wo-part"] < n["partflow-wo-hdcb"] < n["partflow-wo-pnb"] < n["partflow"]
    with pytest.raises(BenchError, match="partflow-wo-pnb fixes pnb=False"):
        create_model("partflow-wo-pnb", "market", pnb=True)
    assert create_model("partflow-wo-pnb", "market", width=0.125, pnb=False, vgg=False).config.pnb is False


def test_config_checks():
    with pytest.raises(BenchError, match="stage"):
        create_model("partflow", "market", stage="both")
    with pytest.raises(BenchError, match="needs VGG19"):
        create_model("partflow", "market", stage="flow", vgg=False)
    with pytest.raises(BenchError, match="unknown PartFlowConfig option"):
        create_model("partflow", "market", dilation=3)
    with pytest.raises(BenchError, match="warp_layer"):
        create_model("partflow", "market", warp_layer=5)
    meta = create_model("partflow", "market", width=0.125, vgg=False).metadata()
    assert meta["generator_loss_terms"] == ["rec", "adv"] and "off (config vgg=False)" in meta["vgg_terms"]
    assert meta["parts"]["head"] == ["0 nose", "1 neck", "14 r_eye", "15 l_eye", "16 r_ear", "17 l_ear"]
    assert len(meta["paper_gaps_filled"]) == len(partflow.GAPS) >= 10
    assert meta["training_in_paper"]["betas"] == (0.0, 0.99) and meta["training_in_paper"]["lr_g"] == 1e-3


# --------------------------------------------------------------------------------------
# Shapes


@pytest.mark.parametrize("dataset", ["market", "deepfashion"])
@pytest.mark.parametrize("stage", ["full", "flow"])
def test_output_shapes(dataset, stage):
    torch.manual_seed(0)
    model = create_model("partflow", dataset, width=0.125, stage=stage, vgg=False, lambda_regularization=0.01).eval()
    h, w = SIZES[dataset]
    batch = posed_batch((h, w))
    with torch.no_grad():
        image = model(batch)
        flows = model._flows(batch, image)
    assert image.shape == (1, 3, h, w) and image.abs().max() <= 1
    assert [tuple(f.shape) for f in flows] == [(1, 2, h // 4, w // 4)] * 3
    if stage == "full":
        assert model.discriminators["D"](image).shape[:2] == (1, 1)


def test_visibility_maps_and_the_whole_body_variant():
    torch.manual_seed(0)
    model = create_model("partflow-wo-part", "deepfashion", width=0.125, vgg=False)
    batch = random_batch((64, 48), batch=1)  # no keypoints: the crops come from heatmap peaks
    with torch.no_grad():
        image, flows, visibility = model.generator(batch["source"], batch["source_pose"], batch["target_pose"],
                                                   keypoints_from_heatmaps(batch["source_pose"]),
                                                   keypoints_from_heatmaps(batch["target_pose"]))
    assert image.shape == (1, 3, 64, 48) and len(flows) == len(visibility) == 1
    assert visibility[0].shape == (1, 1, 16, 12) and ((visibility[0] > 0) & (visibility[0] < 1)).all()


def test_multi_source_batches_are_rejected():
    model = create_model("partflow", "market", width=0.125, vgg=False)
    batch = random_batch((64, 32))
    batch["source"] = batch["source"].unsqueeze(1)
    with pytest.raises(BenchError, match="one source image"):
        model(batch)


# --------------------------------------------------------------------------------------
# Part decomposition


def test_part_joint_lists():
    names = {part: [partflow.NAMES[i] for i in joints] for part, joints in PARTS.items()}
    assert PARTS["head"] == (0, 1, 14, 15, 16, 17) == tuple(sorted(HEAD))
    assert PARTS["torso"] == (1, 2, 3, 4, 5, 6, 7, 8, 11)
    assert PARTS["legs"] == (8, 9, 10, 11, 12, 13)
    assert set().union(*PARTS.values()) == set(range(NUM_KEYPOINTS))
    assert set(PARTS["head"]) & set(PARTS["torso"]) == {INDEX["neck"]}
    assert set(PARTS["torso"]) & set(PARTS["legs"]) == {INDEX["r_hip"], INDEX["l_hip"]}
    assert "l_wrist" in names["torso"] and "r_ankle" in names["legs"]


def test_each_flow_net_sees_only_its_parts_heatmaps():
    size = (64, 32)
    model = create_model("partflow", "market", width=0.125, vgg=False).eval()
    batch = posed_batch(size)
    seen = {}

    def keep_inputs(name):
        def hook(module, args, output):
            seen[name] = torch.cat(args, 1)  # (image part, source pose, target pose) as the net concatenates them
        return hook

    for name, branch in model.generator.branches.items():
        branch.flow_net.register_forward_hook(keep_inputs(name))
    with torch.no_grad():
        model(batch)
    for part, joints in PARTS.items():
        others = [i for i in range(NUM_KEYPOINTS) if i not in joints]
        only = {}
        for side in ("source", "target"):
            kp = batch[f"{side}_keypoints"].clone()
            kp[:, others] = -1  # a pose with this part's joints alone
            only[side] = heatmaps(kp, size)
        inputs = seen[part]
        assert inputs.shape[1] == 2 * len(joints)
        expected = torch.cat((only["source"][:, list(joints)], only["target"][:, list(joints)]), 1)
        torch.testing.assert_close(inputs, expected)
        # All the heatmap mass is this part's: the sum equals that of the part-only rendering.
        torch.testing.assert_close(inputs.sum(), only["source"].sum() + only["target"].sum())


def test_part_boxes_and_crops():
    kp = torch.full((2, NUM_KEYPOINTS, 2), -1.0)
    kp[0, INDEX["nose"]] = torch.tensor([10.0, 20.0])
    kp[0, INDEX["r_ear"]] = torch.tensor([12.0, 14.0])
    kp[0, INDEX["r_knee"]] = torch.tensor([50.0, 16.0])  # legs: one joint
    masks = part_boxes(kp, PARTS, (64, 32), margin=1 / 16)  # 4 px each side
    expected = torch.zeros(3, 64, 32)
    expected[0, 6:17, 10:25] = 1  # rows 10..12 +- 4, cols 14..20 +- 4
    expected[2, 46:55, 12:21] = 1
    torch.testing.assert_close(masks[0], expected)
    assert masks[1].sum() == 0  # no joints, no crop
    generator = create_model("partflow", "market", width=0.125, vgg=False).generator
    source = torch.rand(2, 3, 64, 32) + 1
    crops = generator.flows(source, torch.rand(2, 18, 64, 32), torch.rand(2, 18, 64, 32), masks)[0]
    torch.testing.assert_close(crops[0][0], source[0] * expected[0])


def test_keypoints_from_heatmaps():
    kp = standing((64, 32)).unsqueeze(0)
    kp[0, INDEX["l_ear"]] = -1
    recovered = keypoints_from_heatmaps(heatmaps(kp, (64, 32)))
    torch.testing.assert_close(recovered, kp)


# --------------------------------------------------------------------------------------
# PNB and HDCB


def adaptive_max(x: torch.Tensor, s: int) -> torch.Tensor:
    """Adaptive max pooling by its definition: cell i spans [floor(i H / s), ceil((i + 1) H / s))."""
    c, h, w = x.shape
    out = x.new_empty(c, s, s)
    for i in range(s):
        for j in range(s):
            rows = slice(math.floor(i * h / s), math.ceil((i + 1) * h / s))
            cols = slice(math.floor(j * w / s), math.ceil((j + 1) * w / s))
            out[:, i, j] = x[:, rows, cols].amax(dim=(1, 2))
    return out


def test_pnb_matches_an_independent_computation():
    torch.manual_seed(0)
    block = PyramidNonLocal(4, pools=(4, 6))
    for p in block.parameters():
        nn.init.normal_(p, std=0.5)
    x = torch.randn(1, 4, 7, 9, dtype=torch.float64)
    block = block.double()
    embed = lambda conv, t: torch.einsum("oc,cn->on", conv.weight[:, :, 0, 0], t.reshape(4, -1)) + conv.bias[:, None]  # noqa: E731
    query = embed(block.theta, x[0])  # (2, 63)
    responses = []
    for s in (4, 6):
        pooled = adaptive_max(x[0], s)
        key, value = embed(block.phi, pooled), embed(block.g, pooled)  # (2, s*s)
        logits = query.T @ key  # (63, s*s)
        relation = logits.exp() / logits.exp().sum(1, keepdim=True)
        responses.append(value @ relation.T)  # (2, 63)
    expected = x[0].reshape(4, -1) + embed(block.out, torch.cat(responses, 0))
    with torch.no_grad():
        torch.testing.assert_close(block(x)[0].reshape(4, -1), expected)
        relations = block.relations(x)
    assert [tuple(r.shape) for r in relations] == [(1, 63, 16), (1, 63, 36)]
    torch.testing.assert_close(relations[1].sum(-1), torch.ones(1, 63, dtype=torch.float64))


def test_generator_pnb_pools_4_and_6_with_half_width_embeddings():
    g = meta_model("partflow", "market").generator
    assert g.pnb.pools == (4, 6)
    assert (g.pnb.theta.in_channels, g.pnb.theta.out_channels, g.pnb.out.in_channels) == (128, 64, 128)


def impulse_support(block: HybridDilatedBlock, size: int = 15) -> torch.Tensor:
    """Where a centred impulse reaches through the convs (norms removed, positive weights)."""
    for i, m in enumerate(block.model):
        if isinstance(m, nn.InstanceNorm2d):
            block.model[i] = nn.Identity()  # IN couples all positions; the conv chain sets the receptive field
        elif isinstance(m, nn.Conv2d):
            nn.init.uniform_(m.weight, 0.1, 1.0)
            nn.init.zeros_(m.bias)
    x = torch.zeros(1, block.model[-1].in_channels, size, size)
    x[..., size // 2, size // 2] = 1
    with torch.no_grad():
        return block(x)[0].sum(0) > 0


def test_hdcb_dilations_and_receptive_field():
    block = meta_model("partflow", "market").generator.branches["torso"].hdcb
    assert [m.dilation for m in block.model if isinstance(m, nn.Conv2d)] == [(1, 1), (2, 2)]
    support = impulse_support(HybridDilatedBlock(3, (1, 2)))
    expected = torch.zeros(15, 15, dtype=torch.bool)
    expected[4:11, 4:11] = True  # offsets -1..1 plus -2, 0, 2: every offset in -3..3
    assert torch.equal(support, expected)
    plain = impulse_support(HybridDilatedBlock(3, (1, 1)))
    assert plain.sum() == 25  # two undilated 3x3 convs reach 5x5 only
    x = torch.randn(1, 3, 9, 9)
    assert HybridDilatedBlock(3)(x).shape == x.shape


# --------------------------------------------------------------------------------------
# Losses and training


@pytest.fixture(scope="module")
def vgg_dir(tmp_path_factory):
    """A randomly initialised torchvision-format VGG19 file (He init), cut after relu5_2."""
    g = torch.Generator().manual_seed(0)
    state, cin = {}, 3
    for index, name in enumerate(VGG19_LAYERS[: VGG19_LAYERS.index("relu5_2") + 1]):
        if name.startswith("conv"):
            cout = 64 * 2 ** min(int(name[4]) - 1, 3)
            state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * math.sqrt(2 / (9 * cin))
            state[f"features.{index}.bias"] = torch.zeros(cout)
            cin = cout
    folder = tmp_path_factory.mktemp("weights")
    torch.save(state, folder / "vgg19-dcbb9e9d.pth")
    with pytest.MonkeyPatch.context() as patch:  # the random VGG19 stands in for the published file in this module
        trust_weight(patch, "vgg19", folder / "vgg19-dcbb9e9d.pth")
        yield str(folder)


def test_loss_terms_with_vgg(vgg_dir):
    torch.manual_seed(0)
    model = create_model("partflow", "market", width=0.125, weights_dir=vgg_dir)
    batch = posed_batch((64, 32))
    fake = model(batch)
    losses = model.generator_losses(batch, fake)
    assert list(losses) == model.metadata()["generator_loss_terms"] == ["sam", "rec", "adv", "per", "sty"]
    assert all(torch.isfinite(v) for v in losses.values())
    assert 0 < losses["sam"].item() / 5 <= 3 * (1 - math.exp(-1))  # three parts, each in [0, 1 - 1/e]
    assert model.loss_modules["vgg"].layers == ("relu1_1", "relu2_1", "relu2_2", "relu3_1", "relu3_4", "relu4_1",
                                                "relu4_4", "relu5_1", "relu5_2")
    perfect = model.generator_losses(batch, batch["target"].clone())
    assert perfect["rec"] == perfect["per"] == perfect["sty"] == 0
    torch.testing.assert_close(perfect["sam"], losses["sam"])
    assert set(model.discriminator_losses(batch, fake)) == {"D/real", "D/fake"}


def test_a_part_without_joints_adds_the_constant_correctness(vgg_dir):
    """Features are zeroed outside the part boxes: an absent part's term is exp(0) - 1/e everywhere."""
    torch.manual_seed(0)
    model = create_model("partflow", "market", width=0.125, stage="flow", weights_dir=vgg_dir, lambda_sam=1.0)
    batch = posed_batch((64, 32))
    for side in ("source", "target"):
        batch[f"{side}_keypoints"][:, list(PARTS["legs"])] = -1
    vgg = model._vgg(torch.device("cpu"))
    with torch.no_grad():
        flows = model._flows(batch, model(batch))
        s, t = vgg(batch["source"])["relu3_1"], vgg(batch["target"])["relu3_1"]
        total = model.sampling_loss(batch, s, t, flows)
        head_and_torso = model.sampling_loss(batch, s, t, flows[:2])
    assert head_and_torso < 2 * (1 - math.exp(-1))
    torch.testing.assert_close(total - head_and_torso, torch.tensor(1 - math.exp(-1)))


def adam_steps(model, batch, steps: int, lr: float = 1e-3) -> list[float]:
    return pair_gan_helpers.train_generator(model, batch, steps, lr, betas=(0.0, 0.99), seed=None)


@pytest.mark.parametrize("name", ["partflow", "partflow-wo-part"])
def test_a_few_adam_steps_reduce_the_generator_loss(name):
    torch.manual_seed(0)
    model = create_model(name, "market", width=0.125, vgg=False)
    model.discriminators.requires_grad_(False)
    batch = posed_batch((64, 32))
    batch["target"] = torch.tensor([0.6, -0.4, 0.2]).view(1, 3, 1, 1) + 0.1 * batch["target"]
    history = adam_steps(model, batch, steps=8)
    assert history[-1] < 0.92 * history[0], history


def test_flow_stage_steps_reduce_the_sampling_loss(vgg_dir):
    torch.manual_seed(0)
    model = create_model("partflow", "market", width=0.125, stage="flow", weights_dir=vgg_dir)
    batch = posed_batch((64, 32))
    batch["target_keypoints"] = batch["source_keypoints"] + torch.tensor([2.0, 0.0])
    history = adam_steps(model, batch, steps=8)
    assert history[-1] < history[0], history


def test_flow_stage_image_pastes_the_warped_part_crops():
    model = create_model("partflow", "market", width=0.125, stage="flow", vgg=False, lambda_regularization=0.01)
    for p in model.generator.parameters():
        nn.init.zeros_(p)  # zero flows: each crop stays where it is
    batch = posed_batch((64, 32))
    batch["target_keypoints"] = batch["source_keypoints"]
    union = part_boxes(batch["source_keypoints"], PARTS, (64, 32), 1 / 16).amax(1, keepdim=True)
    torch.testing.assert_close(model(batch), batch["source"] * union)


def test_full_stage_starts_from_flow_stage_checkpoint(tmp_path):
    flow_model = create_model("partflow", "market", width=0.125, stage="flow", vgg=False, lambda_regularization=0.01)
    save_checkpoint(tmp_path / "model.pt", {"model": flow_model.state_dict()})
    full = create_model("partflow", "market", width=0.125, vgg=False, flow_init=str(tmp_path / "model.pt"))
    for name, branch in flow_model.generator.branches.items():
        for key, value in branch.flow_net.state_dict().items():
            assert torch.equal(full.generator.branches[name].flow_net.state_dict()[key], value)
    with pytest.raises(DataError, match="'body' part"):
        create_model("partflow-wo-part", "market", width=0.125, vgg=False, flow_init=str(tmp_path / "model.pt"))
    with pytest.raises(DataError, match="do not fit"):
        create_model("partflow", "market", width=0.25, vgg=False, flow_init=str(tmp_path / "model.pt"))


def test_the_harness_trainer_runs_and_restores(tmp_path):
    from bench.train.config import TrainConfig
    from bench.train.trainer import FINAL, Trainer

    class Pairs(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int):
            item = {k: v[0] for k, v in posed_batch((64, 32), seed=i).items()}
            return {**item, "from": f"a{i}.jpg", "to": f"b{i}.jpg"}

    config = TrainConfig(iterations=1, batch_size=2, niter=1, log_every=1, ckpt_every=1, device="cpu",
                         lr_g=1e-3, lr_d=1e-3, betas=(0.0, 0.99))
    torch.manual_seed(0)
    model = create_model("partflow-wo-hdcb", "market", width=0.125, vgg=False)
    terms = Trainer(model, Pairs(), config, run_dir=tmp_path, progress=False).fit()
    assert set(terms) == {"G/rec", "G/adv", "D/real", "D/fake"} and all(math.isfinite(v) for v in terms.values())
    fresh = create_model("partflow-wo-hdcb", "market", width=0.125, vgg=False)
    fresh.load_state_dict(torch.load(tmp_path / FINAL, weights_only=True)["model"])
    assert F.l1_loss(fresh(posed_batch((64, 32))), model.eval()(posed_batch((64, 32)))).item() < 1e-6
