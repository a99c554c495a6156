"""Every state-dict entry of the original generators, written out from their module structure.

``original_patn_shapes`` / ``original_pona_shapes`` list what the original
``PATNetwork`` / ``PoNANetwork`` hold (tengteng95/Pose-Transfer
``models/model_variants.py``; Zhangjinso/PoNA ``models/head3conv2.py``), built from
those classes' ``nn.Sequential`` layouts, independently of our modules.
"""
from __future__ import annotations

import torch


class Keys:
    def __init__(self, norm: str):
        self.norm, self.shapes = norm, {}

    def conv(self, prefix, cin, cout, k, bias=None, transpose=False):
        self.shapes[f"{prefix}.weight"] = (cin, cout, k, k) if transpose else (cout, cin, k, k)
        if (self.norm == "instance") if bias is None else bias:
            self.shapes[f"{prefix}.bias"] = (cout,)

    def bn(self, prefix, c):
        if self.norm == "batch":  # InstanceNorm2d(affine=False) has no entries
            for name in ("weight", "bias", "running_mean", "running_var"):
                self.shapes[f"{prefix}.{name}"] = (c,)
            self.shapes[f"{prefix}.num_batches_tracked"] = ()

    def encoders_and_decoder(self, ngf):
        # [pad, conv7, norm, relu, conv3/2, norm, relu, conv3/2, norm, relu]
        for stream, cin in (("stream1_down", 3), ("stream2_down", 36)):
            self.conv(f"model.{stream}.1", cin, ngf, 7), self.bn(f"model.{stream}.2", ngf)
            self.conv(f"model.{stream}.4", ngf, 2 * ngf, 3), self.bn(f"model.{stream}.5", 2 * ngf)
            self.conv(f"model.{stream}.7", 2 * ngf, 4 * ngf, 3), self.bn(f"model.{stream}.8", 4 * ngf)
        # [convT, norm, relu, convT, norm, relu, pad, conv7 (bias), tanh]
        self.conv("model.stream1_up.0", 4 * ngf, 2 * ngf, 3, transpose=True), self.bn("model.stream1_up.1", 2 * ngf)
        self.conv("model.stream1_up.3", 2 * ngf, ngf, 3, transpose=True), self.bn("model.stream1_up.4", ngf)
        self.conv("model.stream1_up.7", ngf, 3, 7, bias=True)


def original_patn_shapes(ngf=64, n_blocks=9, norm="batch", dropout=True) -> dict[str, tuple]:
    keys = Keys(norm)
    keys.encoders_and_decoder(ngf)
    dim, second = 4 * ngf, 6 if dropout else 5  # [pad, conv, norm, relu, (dropout), pad, conv, (norm)]
    for i in range(n_blocks):
        p = f"model.att.{i}"
        keys.conv(f"{p}.conv_block_stream1.1", dim, dim, 3), keys.bn(f"{p}.conv_block_stream1.2", dim)
        keys.conv(f"{p}.conv_block_stream1.{second}", dim, dim, 3), keys.bn(f"{p}.conv_block_stream1.{second + 1}", dim)
        cin = dim if i == 0 else 2 * dim
        keys.conv(f"{p}.conv_block_stream2.1", cin, cin, 3), keys.bn(f"{p}.conv_block_stream2.2", cin)
        keys.conv(f"{p}.conv_block_stream2.{second}", cin, dim, 3)
    return keys.shapes


def original_pona_shapes(ngf=64, n_blocks=3, norm="instance") -> dict[str, tuple]:
    keys = Keys(norm)
    keys.encoders_and_decoder(ngf)
    dim = 4 * ngf

    def double_conv(prefix, cin, cout):  # [conv, norm, relu, dropout, conv, norm, relu], convs with bias
        keys.conv(f"{prefix}.conv.0", cin, cin, 3, bias=True), keys.bn(f"{prefix}.conv.1", cin)
        keys.conv(f"{prefix}.conv.4", cin, cout, 3, bias=True), keys.bn(f"{prefix}.conv.5", cout)

    def attention_convs(prefix, c):
        keys.conv(f"{prefix}.query_conv", c, c // 8, 1, bias=True)
        keys.conv(f"{prefix}.key_conv", c, c // 8, 1, bias=True)
        keys.conv(f"{prefix}.value_conv", c, c, 1, bias=True)
        keys.shapes[f"{prefix}.gamma"] = (1,)

    for i in range(n_blocks):  # Guided_Attn
        p = f"model.att.{i}"
        attention_convs(p, dim)
        double_conv(f"{p}.conv", dim, dim), double_conv(f"{p}.dconv", 2 * dim, 2 * dim)
        double_conv(f"{p}.conv2", dim, dim), double_conv(f"{p}.dconv2", 2 * dim, dim)
        attention_convs(f"{p}.att2", 2 * dim)  # Self_Attn
        keys.shapes[f"{p}.att2.beta"] = (1,)
    return keys.shapes


def random_state(shapes: dict[str, tuple], prefix: str = "", seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {prefix + k: (torch.randint(0, 9, s, generator=g) if k.endswith("num_batches_tracked") else torch.randn(s, generator=g))
            for k, s in shapes.items()}
