"""Structure-aware part flow (Tang et al., "Structure-aware Person Image Generation with Pose
Decomposition and Semantic Correlation", AAAI 2021, arXiv 2102.02972).

No code was released; this is the first public implementation. It follows the paper's
text (Eqs. 1-14, "Implementation Details", the Table 3 ablations) and builds on GFLA
(:mod:`baselines.gfla`, whose blocks it reuses), which the paper extends. Every choice the
text leaves open is listed in :data:`GAPS` (also in :meth:`PartFlowModel.metadata`).

Generator (ngf 64, GFLA's pre-activation blocks: affine InstanceNorm, LeakyReLU(0.1),
orthogonal init with gain 0.02):

* part-based flow generation (Eq. 1): the 18 OpenPose joints are grouped into
  :data:`PARTS` head / torso / legs; one GFLA ``PoseFlowNet`` per part (ngf 32, img_f 256,
  5 encoder blocks, 3 decoder blocks) sees that part's source and target heatmaps and
  outputs a flow ``W`` and a sigmoid visibility map ``V`` at 1/4 of the image;
* local warping (Eqs. 2-5), per part: the source image cropped to the part (everything
  outside the box of the part's source joints, widened by ``part_margin`` x image height,
  set to 0) is encoded (two GFLA encoder blocks, 64 -> 128 channels at 1/4) and warped by
  bilinear sampling along ``W``; the target sub-pose is encoded the same way; the two are
  mixed by visibility ``V F_sw + (1 - V) F_pose`` and passed through the hybrid dilated
  convolution block (HDCB: norm, act, conv3x3 dilation 1, norm, act, conv3x3 dilation 2);
* global fusion (Eqs. 6-7): the part features and the encoded full target pose are
  concatenated and fused (norm, act, conv3x3 to 128 channels, one ResBlock), then the
  pyramid non-local block (PNB): keys and values from adaptive max pooling of the
  features to 4x4 and 6x6, queries at every position, embedded-Gaussian attention
  ``softmax(theta(x)^T phi(P_s x))`` per scale (1x1 embeddings to 64 channels), the two
  responses concatenated, a 1x1 conv back to 128 and a residual connection;
* decoder (Eq. 8): GFLA's last two decoder levels (ResBlock + ResBlockDecoder, 128 -> 64
  -> 64) and its output conv (tanh).

==============  ============  =====================  ===========  ===============
variant         G params      of which flow nets     D market     D deepfashion
==============  ============  =====================  ===========  ===============
partflow        24,632,192    19,775,709 (3 nets)    238,209      664,577
w/o Part        9,298,524     6,603,211 (1 net)
w/o PNB         24,590,912
w/o HDCB        23,745,152
==============  ============  =====================  ===========  ===============

The generator is the same on both datasets; GFLA's unconditional ResDiscriminator has 3
down blocks on Market and 4 on DeepFashion. Ablations (Table 3): ``partflow-wo-part`` has
one flow net on the whole 18-joint pose warping features of the whole source image (one
"body" branch, no crop); ``partflow-wo-hdcb`` feeds the visibility-selected part features
straight to the fusion; ``partflow-wo-pnb`` decodes the preliminary fusion features.

Losses (Eq. 10): ``sam`` = lambda1 sum over parts of GFLA's sampling-correctness loss on
VGG19 relu3_1 (the 1/4 grid of the flows), each part's loss on source / target features
zeroed outside that part's source / target box (Eq. 9); ``rec`` = lambda2 L1; ``adv`` =
lambda3 log-loss GAN (Eq. 12, on logits); ``per`` = lambda4 L1 on VGG19 relu1_1..relu5_1;
``sty`` = lambda5 L1 on Gram matrices of relu2_2, relu3_4, relu4_4, relu5_2. The lambdas
are not published: GFLA's weights (5, 5, 2, 0.5, 500) are used. D: ``(real + fake) / 2``.

Stages (``stage``): ``"flow"`` trains the part flow nets alone on L_sam (Eq. 9), weight 20
as GFLA's flow stage; its ``forward`` returns the part crops warped by their flows and
pasted into their target boxes (a visualisation only). ``"full"`` trains end to end; set
``flow_init`` to a flow-stage checkpoint to start from its flow nets.

VGG19 weights: as GFLA, ``vgg=True`` needs ``vgg19-dcbb9e9d.pth`` (``WeightsMissing``
otherwise); ``vgg=False`` drops sam, per and sty, and metadata says so. The flow stage has
no other term, so ``stage="flow", vgg=False`` is refused unless ``lambda_regularization``
(GFLA's affine flow regularisation, not in the paper, 0 by default) is set.

Resolution policy: the flow nets downsample 5 times; DeepFashion's 256x176 is padded to
256x192 for them only and their outputs cropped back, exactly as GFLA
(:func:`baselines.gfla.run_flow_net`). Everything else runs at the data size. The paper
trained DeepFashion at 256x256. Parameter counts do not depend on the resolution.

Optimisation in the paper (:data:`TRAINING`): Adam, betas (0, 0.99), learning rate 1e-3
fixed, batch 8 (Market) / 6 (DeepFashion); the training length is not published.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers.blocks import DATA_SIZES, build_config, scaled
from baselines.layers.flow import affine_regularization, sampling_correctness, warp
from baselines.gfla import (
    CONTENT_LAYERS, CORRECTNESS_LAYERS, IMAGE_CHANNELS, STYLE_LAYERS, Output, PoseFlowNet, PoseSourceNet,
    FlowGANModel, ResBlockDecoder, ResBlocks, _act, _channels, _conv, _norm, content_loss, flow_padding,
    init_orthogonal, run_flow_net, style_loss, warp_to_image,
)
from bench.cards import ModelCard
from bench.data.keypoints import INDEX, MISSING, NAMES, NUM_KEYPOINTS
from bench.errors import BenchError, DataError
from bench.models.base import Batch
from bench.registry import MODELS

PAPER = "Tang et al., AAAI 2021"
STAGES = ("flow", "full")

#: Joint groups (OpenPose indices, bench.data.keypoints order). The paper names the parts
#: and says joints are grouped "based on the inherent connection relationship"; the lists
#: are ours: the head joints, the upper body with the arms, the legs. Neighbouring parts
#: share the joint that connects them (neck: head/torso, hips: torso/legs).
PARTS: dict[str, tuple[int, ...]] = {
    "head": tuple(INDEX[n] for n in ("nose", "neck", "r_eye", "l_eye", "r_ear", "l_ear")),
    "torso": tuple(INDEX[n] for n in ("neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
                                      "r_hip", "l_hip")),
    "legs": tuple(INDEX[n] for n in ("r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle")),
}
#: The "w/o Part" ablation: one branch over the whole pose and the whole image.
WHOLE_BODY: dict[str, tuple[int, ...]] = {"body": tuple(range(NUM_KEYPOINTS))}
HEATMAP_PEAK = 0.5  # a heatmap channel whose maximum is below this holds no joint

GAPS: tuple[str, ...] = (
    "joint lists of head / torso / legs (the text gives none): PARTS; neck and hips shared by neighbouring parts",
    "'crop the part image': the source image kept inside the box of the part's source joints widened by "
    "part_margin (1/16 of the image height) on every side, 0 (mid grey) elsewhere, at full size so flows stay in "
    "image coordinates; a part without joints gives an empty crop",
    "flow-net inputs: only the source and target sub-poses, as Eq. 1 writes (GFLA also feeds the image; "
    "flow_image=True does that)",
    "flow nets: GFLA's PoseFlowNet at full size, one flow and visibility map at 1/4 (GFLA's finest layer); "
    "one warping scale, by bilinear sampling as the text says (no local attention)",
    "part image / part pose / global pose encoders: two GFLA encoder blocks each (64, 128 channels at 1/4); "
    "separate weights per part",
    "HDCB: norm, act, conv3x3 per dilation (1, 2), 128 channels, no residual (Eq. 5 has none); one per part",
    "G_fusion: norm, act, conv3x3 from (parts + 1) x 128 to 128 channels, then one GFLA ResBlock",
    "PNB: adaptive max pooling (the 'most significant' value per region) of the fused features to 4x4 and 6x6 "
    "for keys/values, queries at every position, embeddings theta/phi/g 1x1 to 64 channels shared by the "
    "scales, no 1/sqrt(d) scaling, responses concatenated, 1x1 conv to 128, plus the input",
    "decoder: GFLA's last two decoder levels and output conv",
    "lambda1..lambda5 unpublished: GFLA's weights (sam 5, rec 5, adv 2, per 0.5, sty 500); flow stage sam 20",
    "L_sam per part: GFLA's sampling correctness on VGG19 relu3_1, features zeroed outside the part's source "
    "and target boxes (which joints' regions a part flow must match is not said)",
    "L_adv: the log loss of Eq. 12 on GFLA's unconditional ResDiscriminator (logits); D loss (real + fake) / 2",
    "L_per / L_sty layers: GFLA's (relu1_1..relu5_1; relu2_2, relu3_4, relu4_4, relu5_2), VGG without "
    "ImageNet normalisation as GFLA",
    "no flow regularisation term (not in Eqs. 9-10); GFLA's affine term (3x3 windows) available as lambda_regularization",
    "discriminator learning rate: the stated 1e-3 ('in all experiments'); training length unpublished",
    "DeepFashion at 256x176 (paper: 256x256), flow nets padded to 256x192 as GFLA",
)


# --------------------------------------------------------------------------------------
# Parts: sub-poses and crops


def keypoints_from_heatmaps(pose: torch.Tensor) -> torch.Tensor:
    """(B, 18, H, W) heatmaps -> (B, 18, 2) float (y, x) of each channel's peak, -1 where empty."""
    b, k, h, w = pose.shape
    peak, index = pose.flatten(2).max(dim=2)
    kp = torch.stack((index // w, index % w), dim=-1).to(pose.dtype)
    return torch.where((peak >= HEATMAP_PEAK).unsqueeze(-1), kp, torch.full_like(kp, MISSING))


def part_boxes(keypoints: torch.Tensor, parts: dict[str, tuple[int, ...]], size: tuple[int, int],
               margin: float) -> torch.Tensor:
    """(B, P, H, W) 0/1 masks: the box around each part's present joints, widened by ``margin * H``."""
    height, width = size
    pad = margin * height
    present = (keypoints[..., 0] != MISSING) & (keypoints[..., 1] != MISSING)
    ys = torch.arange(height, dtype=keypoints.dtype, device=keypoints.device).view(1, height, 1)
    xs = torch.arange(width, dtype=keypoints.dtype, device=keypoints.device).view(1, 1, width)
    masks = []
    for indices in parts.values():
        kp, there = keypoints[:, list(indices)], present[:, list(indices)]
        big = torch.full_like(kp[..., 0], float("inf"))
        y0 = torch.where(there, kp[..., 0], big).amin(1) - pad
        x0 = torch.where(there, kp[..., 1], big).amin(1) - pad
        y1 = torch.where(there, kp[..., 0], -big).amax(1) + pad
        x1 = torch.where(there, kp[..., 1], -big).amax(1) + pad
        inside = ((ys >= y0.view(-1, 1, 1)) & (ys <= y1.view(-1, 1, 1)) & (xs >= x0.view(-1, 1, 1)) & (xs <= x1.view(-1, 1, 1)))
        masks.append(inside)
    return torch.stack(masks, 1).to(keypoints.dtype)


# --------------------------------------------------------------------------------------
# The two blocks of the paper


class HybridDilatedBlock(nn.Module):
    """HDCB: sequential (norm, act, conv3x3 with dilation r) for r in ``dilations``; same channels."""

    def __init__(self, channels: int, dilations: tuple[int, ...] = (1, 2)):
        super().__init__()
        self.dilations = tuple(dilations)
        layers: list[nn.Module] = []
        for r in self.dilations:
            layers += [_norm(channels), _act(), nn.Conv2d(channels, channels, 3, padding=r, dilation=r)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PyramidNonLocal(nn.Module):
    """PNB: non-local attention from every position to max-pooled s x s regions, for each s in ``pools``."""

    def __init__(self, channels: int, pools: tuple[int, ...] = (4, 6), inner: int | None = None):
        super().__init__()
        self.pools = tuple(pools)
        inner = max(1, channels // 2) if inner is None else inner
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Conv2d(inner * len(self.pools), channels, 1)

    def relations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Relation maps ``softmax(theta(x)^T phi(P_s x))``: one (B, H*W, s*s) per pool size."""
        query = self.theta(x).flatten(2).transpose(1, 2)  # (B, N, inner)
        return [torch.softmax(query @ self.phi(F.adaptive_max_pool2d(x, s)).flatten(2), dim=-1) for s in self.pools]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        responses = []
        for s, relation in zip(self.pools, self.relations(x)):
            value = self.g(F.adaptive_max_pool2d(x, s)).flatten(2)  # (B, inner, s*s)
            responses.append((value @ relation.transpose(1, 2)).view(b, -1, h, w))
        return x + self.out(torch.cat(responses, 1))


# --------------------------------------------------------------------------------------
# Generator


class PartBranch(nn.Module):
    """One part: its flow net and, in the full model, its encoders and HDCB (local warping module)."""

    def __init__(self, joints: int, full: bool, ngf: int, img_f: int, warp_layer: int, flow_ngf: int,
                 flow_img_f: int, flow_layers: int, flow_image: bool, hdcb: bool, dilations: tuple[int, ...]):
        super().__init__()
        self.flow_image = flow_image
        flow_in = 2 * joints + (IMAGE_CHANNELS if flow_image else 0)
        self.flow_net = PoseFlowNet(flow_in, flow_ngf, flow_img_f, flow_layers, (warp_layer,))
        if full:
            channels = _channels(ngf, img_f, warp_layer - 1)
            self.image_encoder = PoseSourceNet(IMAGE_CHANNELS, ngf, img_f, warp_layer)
            self.pose_encoder = PoseSourceNet(joints, ngf, img_f, warp_layer)
            self.hdcb = HybridDilatedBlock(channels, dilations) if hdcb else nn.Identity()

    def flow(self, image: torch.Tensor, source_pose: torch.Tensor, target_pose: torch.Tensor,
             pad_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(W, V) of Eq. 1 at the warp layer, via GFLA's padded flow-net call."""
        if self.flow_image:
            flows, masks = run_flow_net(self.flow_net, image, source_pose, target_pose, pad_mode)
        else:
            # run_flow_net concatenates its three inputs: (source pose, target pose[:1], target
            # pose[1:]) is the sub-pose pair itself, every channel zero-padded like heatmaps.
            flows, masks = run_flow_net(self.flow_net, source_pose, target_pose[:, :1], target_pose[:, 1:], "constant")
        return flows[0], masks[0]

    def forward(self, image: torch.Tensor, target_pose: torch.Tensor, flow: torch.Tensor,
                visibility: torch.Tensor) -> torch.Tensor:
        """F_warp of Eq. 5: warp (Eq. 2), visibility selection (Eq. 3), HDCB."""
        warped = warp(self.image_encoder(image)[0], flow)
        pose = self.pose_encoder(target_pose)[0]
        return self.hdcb(visibility * warped + (1 - visibility) * pose)


class PartFlowGenerator(nn.Module):
    """Part-based flow generation, local warping, global fusion with PNB, decoder.

    ``full=False`` keeps only the flow nets (the flow stage); its image is the part crops
    warped by their flows and pasted into the target part boxes.
    """

    def __init__(self, parts: dict[str, tuple[int, ...]], full: bool = True, ngf: int = 64, img_f: int = 512,
                 warp_layer: int = 2, num_blocks: int = 2, flow_ngf: int = 32, flow_img_f: int = 256,
                 flow_layers: int = 5, flow_image: bool = False, hdcb: bool = True, dilations: tuple[int, ...] = (1, 2),
                 pnb: bool = True, pools: tuple[int, ...] = (4, 6), part_margin: float = 1 / 16,
                 pad_mode: str = "replicate"):
        super().__init__()
        self.parts = dict(parts)
        self.full = full
        self.part_margin = part_margin
        self.pad_mode = pad_mode
        self.decompose = len(self.parts) > 1  # the "w/o Part" branch sees the whole image
        self.branches = nn.ModuleDict({
            name: PartBranch(len(joints), full, ngf, img_f, warp_layer, flow_ngf, flow_img_f, flow_layers, flow_image,
                             hdcb, dilations)
            for name, joints in self.parts.items()
        })
        if full:
            channels = _channels(ngf, img_f, warp_layer - 1)
            fused_in = channels * (len(self.parts) + 1)
            self.pose_encoder = PoseSourceNet(NUM_KEYPOINTS, ngf, img_f, warp_layer)
            self.fusion = nn.Sequential(_norm(fused_in), _act(), _conv(fused_in, channels, 3, 1, 1),
                                        *([ResBlocks(num_blocks - 1, channels)] if num_blocks > 1 else []))
            self.pnb = PyramidNonLocal(channels, pools) if pnb else nn.Identity()
            levels = []
            for i in range(warp_layer):
                cin = _channels(ngf, img_f, warp_layer - 1 - i)
                cout = _channels(ngf, img_f, warp_layer - 2 - i) if i != warp_layer - 1 else ngf
                steps: list[nn.Module] = [ResBlocks(num_blocks - 1, cin)] if num_blocks > 1 else []
                levels.append(nn.Sequential(*steps, ResBlockDecoder(cin, cout)))
            self.decoder = nn.Sequential(*levels, Output(ngf, IMAGE_CHANNELS))
        init_orthogonal(self)

    def boxes(self, keypoints: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B, P, H, W) part boxes; all ones for the whole-body branch."""
        if not self.decompose:
            return keypoints.new_ones(keypoints.shape[0], 1, *size)
        return part_boxes(keypoints, self.parts, size, self.part_margin)

    def flows(self, source: torch.Tensor, source_pose: torch.Tensor, target_pose: torch.Tensor,
              source_boxes: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """(part crops, flows, visibility maps), one per part in :attr:`parts` order."""
        crops, flows, visibility = [], [], []
        for i, (name, joints) in enumerate(self.parts.items()):
            crop = source * source_boxes[:, i: i + 1]
            flow, vis = self.branches[name].flow(crop, source_pose[:, list(joints)], target_pose[:, list(joints)],
                                                 self.pad_mode)
            crops.append(crop)
            flows.append(flow)
            visibility.append(vis)
        return crops, flows, visibility

    def forward(self, source: torch.Tensor, source_pose: torch.Tensor, target_pose: torch.Tensor,
                source_keypoints: torch.Tensor, target_keypoints: torch.Tensor,
                ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """(image, flows, visibility maps); flows and maps per part at the warp layer."""
        size = tuple(source.shape[-2:])
        crops, flows, visibility = self.flows(source, source_pose, target_pose, self.boxes(source_keypoints, size))
        if not self.full:
            return self._pasted(crops, flows, self.boxes(target_keypoints, size)), flows, visibility
        local = [self.branches[name](crop, target_pose[:, list(joints)], flow, vis)
                 for (name, joints), crop, flow, vis in zip(self.parts.items(), crops, flows, visibility)]
        fused = self.fusion(torch.cat(local + [self.pose_encoder(target_pose)[0]], 1))
        return self.decoder(self.pnb(fused)), flows, visibility

    @staticmethod
    def _pasted(crops: list[torch.Tensor], flows: list[torch.Tensor], target_boxes: torch.Tensor) -> torch.Tensor:
        """Each crop warped by its flow, averaged where target boxes overlap (flow-stage picture)."""
        warped = torch.stack([warp_to_image(c, f) for c, f in zip(crops, flows)], 1)  # (B, P, 3, H, W)
        weights = target_boxes.unsqueeze(2)
        return (warped * weights).sum(1) / weights.sum(1).clamp(min=1)


# --------------------------------------------------------------------------------------
# Configuration


@dataclass
class PartFlowConfig:
    stage: str = "full"  # "flow": the part flow nets alone on L_sam (stage 1); "full": end to end
    width: float = 1.0  # multiplies every channel count (< 1 only for small CPU test models)
    part: bool = True  # False: "w/o Part" (one flow net, whole pose, whole image)
    hdcb: bool = True  # False: "w/o HDCB"
    pnb: bool = True  # False: "w/o PNB"
    ngf: int = 64
    img_f: int = 512
    warp_layer: int = 2  # flows, warping, fusion and PNB at 1/2**warp_layer
    num_blocks: int = 2
    dilations: tuple[int, ...] = (1, 2)
    pools: tuple[int, ...] = (4, 6)
    part_margin: float = 1 / 16  # crop box widening, as a fraction of the image height
    flow_image: bool = False  # also feed the part image to its flow net (GFLA does; Eq. 1 does not)
    flow_ngf: int = 32
    flow_img_f: int = 256
    flow_layers: int = 5
    ndf: int = 32
    d_img_f: int = 128
    d_layers: int = 4
    pad_mode: str = "replicate"  # how an image input of the flow nets is widened to a multiple of 32
    gan_mode: str = "vanilla"  # Eq. 12's log loss
    lambda_sam: float | None = None  # lambda1; None: 5 (full) / 20 (flow)
    lambda_rec: float = 5.0  # lambda2
    lambda_adv: float = 2.0  # lambda3
    lambda_per: float = 0.5  # lambda4
    lambda_sty: float = 500.0  # lambda5
    lambda_regularization: float = 0.0  # GFLA's affine flow regularisation (not in the paper)
    vgg: bool = True  # sam, per and sty (need VGG19 weights)
    weights_dir: str | None = None  # folder with vgg19-dcbb9e9d.pth (else $BENCH_WEIGHTS_DIR / torch hub cache)
    flow_init: str | None = None  # full stage: a flow-stage checkpoint whose flow nets to start from

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise BenchError(f"unknown part-flow stage {self.stage!r}; choose one of {', '.join(STAGES)}")
        self.dilations, self.pools = tuple(int(d) for d in self.dilations), tuple(int(s) for s in self.pools)
        if self.warp_layer not in CORRECTNESS_LAYERS or self.warp_layer >= self.flow_layers:
            raise BenchError(f"warp_layer must be among {sorted(CORRECTNESS_LAYERS)} and below flow_layers; got {self.warp_layer}")
        if self.pad_mode not in ("replicate", "constant", "reflect"):
            raise BenchError(f"unknown pad_mode {self.pad_mode!r}; choose replicate, constant or reflect")
        if self.stage == "flow" and not self.vgg and not self.lambda_regularization:
            raise BenchError("the flow stage trains on the sampling-correctness loss, which needs VGG19 (vgg=True); "
                             "with vgg=False set lambda_regularization > 0 or train stage='full'")

    @property
    def sam_weight(self) -> float:
        if self.lambda_sam is not None:
            return self.lambda_sam
        return 20.0 if self.stage == "flow" else 5.0

    @property
    def parts(self) -> dict[str, tuple[int, ...]]:
        return dict(PARTS) if self.part else dict(WHOLE_BODY)


PARTFLOW_DATASETS: dict[str, dict[str, Any]] = {
    "market": dict(d_layers=3),  # GFLA's discriminator depths
    "deepfashion": dict(d_layers=4),
}
#: "Implementation Details": Adam (0, 0.99), lr 1e-3 fixed in all experiments.
TRAINING: dict[str, Any] = dict(
    batch_size={"market": 8, "deepfashion": 6}, lr_g=1e-3, lr_d=1e-3, betas=(0.0, 0.99),
    lr_policy="fixed", iterations="not published", resolution={"market": (128, 64), "deepfashion": (256, 256)},
)
VARIANTS: dict[str, dict[str, bool]] = {
    "partflow": {},
    "partflow-wo-part": {"part": False},
    "partflow-wo-pnb": {"pnb": False},
    "partflow-wo-hdcb": {"hdcb": False},
}
PARAM_COUNTS: dict[str, int] = {
    "partflow": 24_632_192,
    "partflow-wo-part": 9_298_524,
    "partflow-wo-pnb": 24_590_912,
    "partflow-wo-hdcb": 23_745_152,
}
LABELS = {"partflow": "Full", "partflow-wo-part": "w/o Part", "partflow-wo-pnb": "w/o PNB",
          "partflow-wo-hdcb": "w/o HDCB"}


def partflow_config(dataset: str, overrides: dict[str, Any]) -> PartFlowConfig:
    return build_config(PartFlowConfig, dataset, PARTFLOW_DATASETS, overrides)


def partflow_generator(config: PartFlowConfig) -> PartFlowGenerator:
    w = config.width
    return PartFlowGenerator(
        config.parts, full=config.stage == "full", ngf=scaled(config.ngf, w), img_f=scaled(config.img_f, w),
        warp_layer=config.warp_layer, num_blocks=config.num_blocks, flow_ngf=scaled(config.flow_ngf, w),
        flow_img_f=scaled(config.flow_img_f, w), flow_layers=config.flow_layers, flow_image=config.flow_image,
        hdcb=config.hdcb, dilations=config.dilations, pnb=config.pnb, pools=config.pools,
        part_margin=config.part_margin, pad_mode=config.pad_mode,
    )


# --------------------------------------------------------------------------------------
# The trainable model


class PartFlowModel(FlowGANModel):
    """GFLA's staged flow model (:class:`baselines.gfla.FlowGANModel`) with the part flow generator."""

    def __init__(self, config: PartFlowConfig, dataset: str, name: str = "partflow"):
        super().__init__(config, dataset)
        self.name = name

    def build_generator(self, config: PartFlowConfig) -> PartFlowGenerator:
        return partflow_generator(config)

    def load_flow_init(self, path: str) -> None:
        load_flow_nets(self.generator, path)

    # -- generation -------------------------------------------------------------------

    @staticmethod
    def keypoints(batch: Batch, which: str) -> torch.Tensor:
        """``batch[which + "_keypoints"]``, else the peaks of its heatmaps."""
        pose = batch[f"{which}_pose"]
        kp = batch.get(f"{which}_keypoints")
        if kp is None:
            return keypoints_from_heatmaps(pose)
        return torch.as_tensor(kp).to(device=pose.device, dtype=pose.dtype)

    def generator_inputs(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        return (batch["source"], batch["source_pose"], batch["target_pose"],
                self.keypoints(batch, "source"), self.keypoints(batch, "target"))

    def recompute_flows(self, batch: Batch) -> list[torch.Tensor]:
        g = getattr(self.generator, "module", self.generator)
        source = batch["source"]
        boxes = g.boxes(self.keypoints(batch, "source"), tuple(source.shape[-2:]))
        return g.flows(source, batch["source_pose"], batch["target_pose"], boxes)[1]

    # -- losses -----------------------------------------------------------------------

    @property
    def sam_layer(self) -> str:
        return CORRECTNESS_LAYERS[self.config.warp_layer]

    def vgg_layers(self) -> tuple[str, ...]:
        if self.config.stage == "flow":
            return (self.sam_layer,)
        return tuple(sorted({self.sam_layer} | set(CONTENT_LAYERS) | set(STYLE_LAYERS)))

    def sampling_loss(self, batch: Batch, source_features: torch.Tensor, target_features: torch.Tensor,
                      flows: list[torch.Tensor]) -> torch.Tensor:
        """Eq. 9: the sum over parts of the sampling-correctness loss on the part's features."""
        g = getattr(self.generator, "module", self.generator)
        size = tuple(batch["source"].shape[-2:])
        factor = size[0] // source_features.shape[-2]
        source_boxes = F.max_pool2d(g.boxes(self.keypoints(batch, "source"), size), factor)
        target_boxes = F.max_pool2d(g.boxes(self.keypoints(batch, "target"), size), factor)
        return sum(sampling_correctness(source_features * source_boxes[:, i: i + 1],
                                        target_features * target_boxes[:, i: i + 1], flow)
                   for i, flow in enumerate(flows))

    def generator_losses(self, batch: Batch, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        from bench.train.losses import l1_loss

        cfg, target = self.config, batch["target"]
        flows = self._flows(batch, fake)
        losses: dict[str, torch.Tensor] = {}
        if cfg.vgg:
            vgg = self._vgg(fake.device)
            with torch.no_grad():
                target_features, source_features = vgg(target), vgg(batch["source"])
            layer = self.sam_layer
            losses["sam"] = cfg.sam_weight * self.sampling_loss(batch, source_features[layer], target_features[layer], flows)
        if cfg.stage == "full":
            losses["rec"] = cfg.lambda_rec * l1_loss(fake, target)
            losses["adv"] = cfg.lambda_adv * self.gan_loss(self.discriminators["D"](fake), True)
            if cfg.vgg:
                fake_features = vgg(fake)
                losses["per"] = cfg.lambda_per * content_loss(fake_features, target_features)
                losses["sty"] = cfg.lambda_sty * style_loss(fake_features, target_features)
        if cfg.lambda_regularization:
            losses["regularization"] = cfg.lambda_regularization * sum(affine_regularization(f, 3) for f in flows)
        return losses

    # -- bookkeeping ------------------------------------------------------------------

    def loss_terms(self) -> list[str]:
        cfg = self.config
        terms = ["sam"] if cfg.vgg else []
        if cfg.stage == "full":
            terms += ["rec", "adv"] + (["per", "sty"] if cfg.vgg else [])
        return terms + (["regularization"] if cfg.lambda_regularization else [])

    def _vgg_terms(self) -> str:
        cfg = self.config
        if not cfg.vgg:
            return "off (config vgg=False): no sampling-correctness (sam), perceptual (per) or style (sty) terms"
        text = f"VGG19 without ImageNet normalisation: sam on {self.sam_layer} per part"
        if cfg.stage == "full":
            text += f"; per {', '.join(CONTENT_LAYERS)}; sty (Gram) {', '.join(STYLE_LAYERS)}"
        return text

    def _resolution_policy(self) -> str:
        height, width = DATA_SIZES[self.dataset]
        left, right, top, bottom = flow_padding((height, width))
        if not (left or right or top or bottom):
            return "everything at the data size"
        return (f"flow nets' input zero-padded (left {left}, right {right}, top {top}, bottom {bottom}) to "
                f"{height + top + bottom}x{width + left + right}, their flows and visibility maps cropped back; "
                f"everything else at {height}x{width} (the paper trained DeepFashion at 256x256)")

    def metadata(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "model": self.name,
            "variant": LABELS.get(self.name, self.name),
            "dataset": self.dataset,
            "stage": cfg.stage,
            "config": dataclasses.asdict(cfg),
            "parts": {name: [f"{i} {NAMES[i]}" for i in joints] for name, joints in cfg.parts.items()},
            "generator_loss_terms": self.loss_terms(),
            "loss_weights": {"sam": cfg.sam_weight, "rec": cfg.lambda_rec, "adv": cfg.lambda_adv, "per": cfg.lambda_per,
                             "sty": cfg.lambda_sty, "regularization": cfg.lambda_regularization},
            "vgg_terms": self._vgg_terms(),
            "resolution_policy": self._resolution_policy(),
            "discriminators": {} if cfg.stage == "flow" else {"D": f"image only (unconditional), {cfg.gan_mode} GAN"},
            "training_in_paper": TRAINING,
            "paper_gaps_filled": list(GAPS),
            "differences_from_original": ["no code released: an implementation of the paper's text (see paper_gaps_filled)",
                                          "the harness trainer steps G before D"],
        }


def load_flow_nets(generator: PartFlowGenerator, path: str) -> None:
    """Initialise every part's flow net from a ``stage="flow"`` checkpoint of the same variant."""
    from bench.train.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    for name, branch in generator.branches.items():
        prefix = f"generator.branches.{name}.flow_net."
        weights = {k[len(prefix):]: v for k, v in state.get("model", {}).items() if k.startswith(prefix)}
        if not weights:
            raise DataError(path, f"no {prefix}* weights: not a part-flow checkpoint with a {name!r} part")
        try:
            branch.flow_net.load_state_dict(weights)
        except RuntimeError as err:
            raise DataError(path, f"{name} flow net weights do not fit this configuration: {err}") from None


def _register(name: str, fixed: dict[str, bool]) -> None:
    def variant_config(dataset: str, config: dict[str, Any]) -> PartFlowConfig:
        clash = sorted(k for k, v in fixed.items() if k in config and config[k] != v)
        if clash:
            raise BenchError(f"{name} fixes {', '.join(f'{k}={fixed[k]}' for k in clash)}; use the matching variant instead")
        return partflow_config(dataset, {**config, **fixed})

    def build(dataset: str = "market", **config: Any) -> PartFlowModel:
        return PartFlowModel(variant_config(dataset, config), dataset, name)

    MODELS.register(
        name,
        ModelCard(
            paper=PAPER,
            title="Structure-aware Person Image Generation with Pose Decomposition and Semantic Correlation",
            year=2021,
            code=None,
            variant=LABELS[name],
            param_counts={"market": PARAM_COUNTS[name], "deepfashion": PARAM_COUNTS[name]},
            generator_builder=lambda dataset="market", **config: partflow_generator(variant_config(dataset, config)),
        ),
    )(build)


for _name, _fixed in VARIANTS.items():
    _register(_name, _fixed)
