"""Fixtures shared by the MS-DefGAN and U-Net tests: multi-source batches and parameter
counts summed from the original Keras layer definitions (independent of baselines/)."""
from __future__ import annotations

import torch
from torch import nn

from bench.data.keypoints import INDEX, MISSING
from bench.data.pose import heatmaps

SIZES = {"market": (128, 64), "deepfashion": (256, 176)}
POSE = dict(  # (y, x) on a 128x64 frame
    nose=(15, 32), r_eye=(12, 30), l_eye=(12, 34),
    r_shoulder=(30, 22), l_shoulder=(30, 42), r_hip=(70, 24), l_hip=(70, 40),
    r_knee=(95, 24), l_knee=(95, 40), r_ankle=(120, 24), l_ankle=(120, 40),
    r_elbow=(50, 16), l_elbow=(50, 48), r_wrist=(65, 14), l_wrist=(65, 50),
)


def _keypoints(size, dx: float, dy: float = 0.0) -> torch.Tensor:
    kp = torch.full((18, 2), float(MISSING))
    sy, sx = size[0] / 128, size[1] / 64
    for name, (y, x) in POSE.items():
        kp[INDEX[name]] = torch.tensor([y * sy + dy, x * sx + dx])
    return kp


def _smooth(n: int, size, g: torch.Generator) -> torch.Tensor:
    coarse = torch.rand(n, 3, 4, 2, generator=g) * 2 - 1  # low-frequency images a few steps can fit
    return nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)


def ms_batch(size, k: int, n: int = 2, seed: int = 0) -> dict:
    """n targets, each with k sources of the same pose shifted by different amounts."""
    g = torch.Generator().manual_seed(seed)
    src_kp = torch.stack([torch.stack([_keypoints(size, 2.0 * j - 3, 1.0 * i) for j in range(k)]) for i in range(n)])
    tgt_kp = torch.stack([_keypoints(size, 3.0 * (i + 1)) for i in range(n)])
    return {
        "source": _smooth(n * k, size, g).reshape(n, k, 3, *size),
        "source_pose": heatmaps(src_kp, size),
        "source_keypoints": src_kp,
        "target": _smooth(n, size, g),
        "target_pose": heatmaps(tgt_kp, size),
        "target_keypoints": tgt_kp,
        "from": [[f"s{i}_{j}.jpg" for j in range(k)] for i in range(n)],
        "to": [f"t{i}.jpg" for i in range(n)],
    }


# --------------------------------------------------------------------------------------
# Parameter counts, from the Keras layer definitions (Stephlat/Multi-source-Human-Image-Generation
# and AliaksandrSiarohin/pose-gan conditional_gan.py)


def conv_params(k: int, cin: int, cout: int, bias: bool = True) -> int:
    return k * k * cin * cout + (cout if bias else 0)


def dense_params(cin: int, cout: int) -> int:
    return cin * cout + cout


IN = 2  # keras-contrib InstanceNormalization(axis=None): scalar gamma and beta


def keras_encoder(cin: int, nfilters) -> int:
    """``encoder``: conv3x3 'same' (bias), then block(down): 4x4 conv no bias + IN (none on the last)."""
    total = conv_params(3, cin, nfilters[0])
    for i in range(1, len(nfilters)):
        total += conv_params(4, nfilters[i - 1], nfilters[i], bias=False) + (IN if i < len(nfilters) - 1 else 0)
    return total


def keras_attention_decoder(nfilters_encoder, nfilters_decoder, dmax: int = 6) -> int:
    """``decoder_Attention`` with ``blockNet`` (kernel_size_last=1) and ``UpNet`` levels."""
    skips = [2 * c for c in nfilters_encoder[::-1]]
    total, out_ch, att_ch = 0, None, None
    for d, (skip, nf) in enumerate(zip(skips, nfilters_decoder)):
        if d == 0:
            att_in, out_in = 2 * skip, 2 * skip  # Average(skips) concatenated with skip_i / with the fused skip
        else:
            att_in, out_in = out_ch + skip + att_ch, out_ch + skip
        if d < dmax:  # blockNet: conv1x1 -> 1 (bias), IN, Dense(C/4) relu, Dense(C) sigmoid (python 2 integer division)
            total += conv_params(1, att_in, 1) + IN + dense_params(att_in, skip // 4) + dense_params(skip // 4, skip)
            att_ch = skip
        else:  # UpNet: conv3x3 -> 1 on the upsampled previous attention
            total += conv_params(3, att_ch, 1)
            att_ch = 1
        last = d == len(skips) - 1
        total += conv_params(3, out_in, nf) + (0 if last else IN)  # block(down=False): upsample, conv3x3 with bias, IN
        out_ch = nf
    return total


def keras_average_decoder(nfilters_encoder, nfilters_decoder) -> int:
    """``decoder_Model`` (fusion avg): block(skip) first, then concat + block; last conv3x3 -> 3."""
    skips = [2 * c for c in nfilters_encoder[::-1]]
    total, prev = 0, 0
    for d, (skip, nf) in enumerate(zip(skips, nfilters_decoder)):
        last = d == len(skips) - 1
        total += conv_params(3, prev + skip, nf) + (0 if last else IN)
        prev = nf
    return total


ENC = {"market": (64, 128, 256, 512, 512, 512), "deepfashion": (64, 128, 256, 512, 512, 512, 512)}
DEC = {"market": (512, 512, 512, 256, 128, 3), "deepfashion": (512, 512, 512, 512, 256, 128, 3)}


def keras_generator(dataset: str, fusion: str = "attention") -> int:
    enc, dec = ENC[dataset], DEC[dataset]
    encoders = keras_encoder(3 + 18, enc) + keras_encoder(18 + 18, enc)  # encoderShared, encoderPose
    decoder = keras_attention_decoder(enc, dec) if fusion == "attention" else keras_average_decoder(enc, dec)
    return encoders + decoder
