"""MS-DefGAN with the differentiable vertex + edge pose renderer (Horiuchi et al., 2021).

"The structure of the neural network and the loss function follow those of MS-DefGAN"
(sec. 4.2): this is :class:`baselines.msdefgan.MSDefGANModel` whose ``pose_renderer``
(the fixed sigma-6 Gaussians) is replaced by :class:`baselines.layers.drender.DifferentiablePoseRenderer`.
The renderer sits inside the generator, so its 75 parameters (18 sigma, 19 x alpha_s,
alpha_e, beta) train jointly with G, by G's Adam at G's learning rate: the paper names no
separate learning rate or schedule for them. The renderer draws 18 vertex + 19 edge maps
(37 channels), which widens the first convolution of both encoders (appearance 3 + 37,
pose 2 x 37 input channels); everything else is MS-DefGAN at its published size.

Notes on the original code, what differs and the open gaps: docs/models/msdefgan_drender.md.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from baselines.layers.drender import (EDGE_WIDTH, EPS, GAMMA, REFERENCE_EDGE_LENGTHS, SIGMA_INIT, DifferentiablePoseRenderer,
                               beta_for_width)
from baselines.msdefgan import MSDefGANConfig, MSDefGANGenerator, MSDefGANModel, PoseRenderer, msdefgan_config, msdefgan_generator
from bench.cards import ModelCard
from bench.errors import BenchError
from bench.registry import MODELS

PAPER_SETTINGS: dict[str, dict[str, Any]] = {
    "market": dict(train_sources=12, eval_sources=(1, 3, 10), min_instances=13,
                   metrics=("ssim", "is", "mask-ssim", "mask-is"), table="Table 1"),
    "deepfashion": dict(train_sources=3, eval_sources=(1, 3), min_instances=4, metrics=("ssim", "is"), table="Table 2"),
}
MODEL_SELECTION = "stop at the highest validation SSIM (window 11, 8-bit colour; protocol 'modern')"


@dataclass
class DRenderConfig:
    """Renderer options (passed to ``create_model`` with a ``render_`` prefix, e.g. ``render_normal="unit"``)."""

    vertex: str = "defgan"  # vertex map: "defgan" exp(-d^2 / 2 sigma^2) or "paper-eq2" exp(-d / sigma^2)
    normal: str = "paper"  # eq. 9 literally (band width 1 / (beta L)) or "unit" (width 1 / beta)
    vertices: bool = True
    edges: bool = True
    sigma_init: float = SIGMA_INIT
    edge_width: float = EDGE_WIDTH  # initial band width in pixels at each edge's median length
    gamma: float = GAMMA
    eps: float = EPS


class RenderedPoseMaps(PoseRenderer):
    """MS-DefGAN's pose-map hook filled by the learnable renderer (the batch heatmaps are ignored)."""

    def __init__(self, renderer: DifferentiablePoseRenderer):
        super().__init__()
        self.renderer = renderer

    @property
    def channels(self) -> int:  # type: ignore[override]
        return self.renderer.channels

    def forward(self, keypoints: torch.Tensor, size: tuple[int, int], heatmaps: torch.Tensor | None = None) -> torch.Tensor:
        return self.renderer(keypoints, size).to(keypoints.dtype)


def build_renderer(config: DRenderConfig, dataset: str) -> DifferentiablePoseRenderer:
    return DifferentiablePoseRenderer(
        sigma_init=config.sigma_init,
        beta_init=beta_for_width(config.edge_width, REFERENCE_EDGE_LENGTHS[dataset], config.normal),
        gamma=config.gamma, eps=config.eps, vertex=config.vertex, normal=config.normal,
        vertices=config.vertices, edges=config.edges,
    )


def split_config(dataset: str, overrides: dict[str, Any]) -> tuple[MSDefGANConfig, DRenderConfig]:
    if dataset not in REFERENCE_EDGE_LENGTHS:
        raise BenchError(f"unknown dataset {dataset!r} for msdefgan-drender; choose one of {', '.join(REFERENCE_EDGE_LENGTHS)}")
    render_fields = {f.name for f in dataclasses.fields(DRenderConfig)}
    render, rest = {}, {}
    for key, value in overrides.items():
        name = key.removeprefix("render_")
        if key.startswith("render_"):
            if name not in render_fields:
                valid = ", ".join("render_" + f for f in sorted(render_fields))
                raise BenchError(f"unknown renderer option {key!r}; valid: {valid}")
            render[name] = value
        else:
            rest[key] = value
    return msdefgan_config(dataset, rest), DRenderConfig(**render)


class MSDefGANDRenderModel(MSDefGANModel):
    name = "msdefgan-drender"

    def __init__(self, config: MSDefGANConfig, render_config: DRenderConfig, dataset: str):
        super().__init__(config, dataset, RenderedPoseMaps(build_renderer(render_config, dataset)))
        self.render_config = render_config

    @property
    def renderer(self) -> DifferentiablePoseRenderer:
        return self.generator.pose_renderer.renderer

    def metadata(self) -> dict[str, Any]:
        out = super().metadata()
        r = self.renderer
        learned = {name: [round(v, 6) for v in value.detach().cpu().tolist()]
                   for name, value in (("sigma", r.sigma), ("alpha_start", r.alpha_start), ("alpha_end", r.alpha_end),
                                       ("beta", r.beta))}
        out.update(
            model=self.name,
            renderer={**dataclasses.asdict(self.render_config), "channels": r.channels, "learned": learned},
            training_in_original={**PAPER_SETTINGS[self.dataset], "selection": MODEL_SELECTION,
                                  "optimiser": "MS-DefGAN's; renderer parameters in G's Adam at lr_g"},
        )
        return out


def _generator_only(dataset: str = "market", **config: Any) -> MSDefGANGenerator:
    cfg, render = split_config(dataset, config)
    return msdefgan_generator(cfg, dataset, RenderedPoseMaps(build_renderer(render, dataset)))


@MODELS.register(
    "msdefgan-drender",
    ModelCard(
        paper="Horiuchi et al., 2021",
        title="Differentiable Rendering-based Pose-Conditioned Human Image Generation",
        year=2021,
        code=None,
        multi_source=True,
        paper_settings=PAPER_SETTINGS,
        generator_builder=_generator_only,
    ),
)
def build_msdefgan_drender(dataset: str = "market", **config: Any) -> MSDefGANDRenderModel:
    cfg, render = split_config(dataset, config)
    return MSDefGANDRenderModel(cfg, render, dataset)
