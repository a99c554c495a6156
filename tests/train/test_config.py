from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import BenchError, DataError
from bench.train.config import TrainConfig, load_config, parse_overrides

REPO = Path(__file__).resolve().parents[2]

PARAMS = """
profiles:
  paper:
    defaults: {lr_g: 2e-4, betas: [0.5, 0.999], iterations: 10, niter: 10}
    patn:
      defaults: {model: {width: 1.0, perceptual: true}}
      market: {batch_size: 32, model: {gan_mode: vanilla, pool_size: 50}}
      deepfashion: {batch_size: 7, model: {gan_mode: lsgan}}
    "pona*":
      defaults: {batch_size: 3}
    pona-b2:
      market: {batch_size: 5}
  cpu:
    defaults: {iterations: 2, niter: 2}
    pona: {}
"""


@pytest.fixture
def params(tmp_path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    return path


def test_layers_merge_in_order_and_model_options_merge_key_by_key(params):
    config = load_config("patn", "market", "paper", params)
    assert config.batch_size == 32 and config.lr_g == pytest.approx(2e-4)  # "2e-4" is a YAML string
    assert config.betas == (0.5, 0.999)
    assert config.model == {"width": 1.0, "perceptual": True, "gan_mode": "vanilla", "pool_size": 50}
    fashion = load_config("patn", "deepfashion", "paper", params)
    assert fashion.batch_size == 7 and fashion.model["gan_mode"] == "lsgan" and "pool_size" not in fashion.model


def test_glob_blocks_apply_before_the_exact_model_block(params):
    assert load_config("pona-b2", "market", "paper", params).batch_size == 5
    assert load_config("pona-b2", "deepfashion", "paper", params).batch_size == 3
    assert load_config("pona", "market", "paper", params).batch_size == 3


def test_overrides_win_and_reach_model_options(params):
    overrides = parse_overrides(["lr_g=1e-3", "model.width=0.25", "iterations=4", "niter=4"])
    config = load_config("patn", "market", "paper", params, overrides)
    assert config.lr_g == pytest.approx(1e-3) and config.model["width"] == 0.25 and config.iterations == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("profiles:\n  paper:\n    defaults: {lr_gen: 1}\n", "profiles.paper.defaults: unknown key 'lr_gen'"),
        ("profiles:\n  paper:\n    patn:\n      marker: {}\n", "profiles.paper.patn.marker: unknown key"),
        ("profiles:\n  paper:\n    patn:\n      market: {batch_size: big}\n", "profiles.paper.patn.market.batch_size: expected an integer"),
        ("profiles:\n  paper:\n    patn:\n      market: {flip: 1}\n", "flip: expected true or false"),
        ("profiles:\n  paper:\n    patm: {}\n", "unknown model 'patm'"),
        ("profile:\n  paper: {}\n", "top-level 'profiles'"),
        ("profiles: [1\n", "not valid YAML"),
    ],
)
def test_bad_params_name_the_key(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace("[", r"\[")) as err:
        load_config("patn", "market", "paper", path, models=["patn", "pona"])
    assert str(path) in str(err.value)


def test_unknown_profile_and_bad_override_are_clear(params):
    with pytest.raises(DataError, match="unknown profile 'gpu'; defined profiles: paper, cpu"):
        load_config("patn", "market", "gpu", params)
    with pytest.raises(BenchError, match="unknown key 'lr'"):
        load_config("patn", "market", "paper", params, parse_overrides(["lr=1"]))
    with pytest.raises(DataError, match="profiles.cpu has no entry for model 'patn'"):
        load_config("patn", "market", "cpu", params)
    with pytest.raises(BenchError, match="key=value"):
        parse_overrides(["lr_g"])


def test_iterations_beyond_the_schedule_are_refused(params):
    with pytest.raises(BenchError, match=r"iterations \(11\) exceed niter \+ niter_decay"):
        load_config("patn", "market", "paper", params, {"iterations": 11})


def test_lr_step_decay_is_sdgans_schedule():
    """SDGAN 4.2: "declines from 0.01 to 0.0001 with 0.1 decay rate for every 100 iterations":
    1e-2 for iterations 0-99, 1e-3 for 100-199, then 1e-4 (floor 0.01 x the base rate) to the end."""
    config = TrainConfig(iterations=1000, niter=1000, lr_g=0.01, lr_step_every=100, lr_step_gamma=0.1, lr_step_floor=0.01)
    rates = [config.lr_g * config.lr_factor(s) for s in (0, 99, 100, 199, 200, 999)]
    assert rates == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4])
    with pytest.raises(BenchError, match="lr_step_gamma"):
        TrainConfig(lr_step_every=100, lr_step_gamma=2.0)


def test_lr_factor_constant_then_linear():
    config = TrainConfig(iterations=8, niter=4, niter_decay=4)
    assert [config.lr_factor(s) for s in range(9)] == pytest.approx([1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2, 0])


def test_repository_params_resolve_for_every_model_and_dataset():
    """params.yaml's paper values (models.md sections 2-3) resolve against the registry."""
    from bench.models import list_models

    models = list_models()
    path = REPO / "params.yaml"
    patn_market = load_config("patn", "market", "paper", path, models=models)
    assert (patn_market.batch_size, patn_market.iterations, patn_market.niter, patn_market.niter_decay) == (32, 87500, 62500, 25000)
    assert patn_market.model["gan_mode"] == "vanilla" and patn_market.model["pool_size"] == 50
    assert (patn_market.lr_g, patn_market.betas) == (2e-4, (0.5, 0.999))
    patn_fashion = load_config("patn", "deepfashion", "paper", path, models=models)
    assert (patn_fashion.batch_size, patn_fashion.iterations) == (7, 400400)
    assert patn_fashion.model["gan_mode"] == "lsgan" and patn_fashion.model["pool_size"] == 0
    assert (patn_fashion.model["lambda_l1"], patn_fashion.model["lambda_perceptual"]) == (1.0, 1.0)
    for dataset in ("market", "deepfashion"):  # PoNA sec. IV-A: "to train for 90k iterations", all models
        pona = load_config("pona-b2", dataset, "paper", path, models=models)
        assert pona.iterations == 90000 == pona.niter + pona.niter_decay
    sdgan = load_config("sdgan", "market", "paper", path, models=models)  # SDGAN 4.2: 0.01 -> 0.0001, x0.1 per 100
    assert [sdgan.lr_g * sdgan.lr_factor(s) for s in (0, 100, 200, 19999)] == pytest.approx([1e-2, 1e-3, 1e-4, 1e-4])
    for model in ("patn", "pona", "pona-b2"):
        for dataset in ("market", "deepfashion"):
            cpu = load_config(model, dataset, "cpu", path, models=models)
            assert cpu.model["perceptual"] is False and cpu.model["width"] < 1


def test_dataset_defaults_apply_to_every_model_before_model_blocks(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS.replace("    defaults: {iterations: 2, niter: 2}\n",
                                   "    defaults: {iterations: 2, niter: 2}\n    deepfashion: {iterations: 1, niter: 1, batch_size: 2}\n"))
    fashion, market = (load_config("pona", d, "cpu", path) for d in ("deepfashion", "market"))
    assert (fashion.iterations, fashion.batch_size) == (1, 2)
    assert (market.iterations, market.batch_size) == (2, TrainConfig().batch_size)
    paper = load_config("pona-b2", "market", "paper", path)  # a model block still wins over dataset defaults
    assert paper.batch_size == 5
