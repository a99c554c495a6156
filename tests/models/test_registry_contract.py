"""One contract over every registered generator (timm's tests/test_models.py pattern).

The expected parameter counts are the cards' own, each derived by hand from the original
code in that model's test file; here they are checked against the built generator, and
every card is checked complete and every model to build and run at CPU width.
"""
from __future__ import annotations

import pytest
import torch
from pair_gan_helpers import posed_batch

from bench.cards import ModelCard
from bench.cli.models import generator_params
from bench.data.layout import KINDS
from bench.models import create_model
from bench.registry import MODELS

NAMES = MODELS.names()


@pytest.mark.parametrize("name", NAMES)
def test_card_is_complete(name):
    card = MODELS.get(name).meta
    assert isinstance(card, ModelCard) and card.paper
    assert card.code is None or card.code.startswith("https://")
    if card.param_counts is not None:
        assert set(card.param_counts) == set(KINDS)


@pytest.mark.parametrize("dataset", list(KINDS))
@pytest.mark.parametrize("name", [n for n in NAMES if MODELS.get(n).meta.param_counts is not None])
def test_parameter_count_equals_the_card(name, dataset):
    assert generator_params(name, dataset) == MODELS.get(name).meta.param_counts[dataset]


@pytest.mark.parametrize("name", [n for n in NAMES if MODELS.get(n).meta.trainable and not MODELS.get(n).meta.multi_source])
def test_forward_gives_an_image_of_the_data_size(name):
    size = KINDS["market"].image_size
    model = create_model(name, "market", width=0.125).eval()
    batch = posed_batch(size, n=1, pose_maps=True)
    with torch.no_grad():
        fake = model(batch)
    assert fake.shape == (1, 3, *size)
