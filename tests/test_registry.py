from __future__ import annotations

import pytest

from bench.cards import MetricSpec, ModelCard
from bench.metrics.specs import METRIC_SPECS
from bench.plugins import METRIC_PLUGINS, MODEL_PLUGINS
from bench.registry import METRICS, MODELS, Registry, UnknownNameError


def make() -> Registry:
    reg = Registry("widget", ModelCard)
    reg.register("pona", ModelCard(paper="Li et al. 2020"))(lambda: "pona")
    reg.register("patn", ModelCard(paper="Zhu et al. 2019", year=2019))(lambda: "patn")
    return reg


def test_lookup_and_metadata():
    reg = make()
    entry = reg.get("patn")
    assert entry.constructor() == "patn"
    assert entry.meta.paper == "Zhu et al. 2019" and entry.meta.year == 2019
    assert entry.meta.trainable is True and entry.meta.multi_source is False  # every field on every card
    assert reg.names() == ["patn", "pona"]
    assert reg.names("po*") == ["pona"]


def test_typo_lists_close_and_valid_names():
    with pytest.raises(UnknownNameError) as err:
        make().get("ponna")
    message = str(err.value)
    assert "Did you mean pona" in message
    assert "Valid names: patn, pona" in message


def test_duplicates_untyped_and_mistyped_metadata_are_refused():
    reg = make()
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("pona", ModelCard(paper="x"))(lambda: None)
    with pytest.raises(TypeError, match="must be a ModelCard"):
        reg.register("new", {"paper": "x"})(lambda: None)
    with pytest.raises(TypeError):
        ModelCard(paper="x", param_count={"market": 1})  # the field is param_counts


def test_plugins_are_imported_on_demand_only():
    reg = Registry("widget", ModelCard, {"late": "no_such_module_here", "stale": "bench.errors"})
    assert "late" in reg and reg.names() == ["late", "stale"]  # answered from the table: importing would fail
    with pytest.raises(ModuleNotFoundError):
        reg.get("late")
    with pytest.raises(RuntimeError, match="did not register widget 'stale'"):
        reg.get("stale")  # the module registers nothing under that name: the table is stale


def test_plugin_tables_match_what_the_modules_register():
    assert [e.name for e in MODELS] == sorted(MODEL_PLUGINS)
    assert [e.name for e in METRICS] == sorted(METRIC_PLUGINS) == sorted(METRIC_SPECS)
    for entry in METRICS:
        assert entry.meta is METRIC_SPECS[entry.name]
    for entry in MODELS:
        assert isinstance(entry.meta, ModelCard)


def test_metric_directions_follow_the_papers():
    # Direction of each metric as its defining paper states it: FID (Heusel et al. 2017), KID
    # (Binkowski et al. 2018) and LPIPS (Zhang et al. 2018) are distances, lower is better; SSIM (Wang et al. 2004), IS
    # (Salimans et al. 2016), PSNR and PCKh (PATN's tool/calPCKH) are similarities/accuracies.
    lower = {"fid", "kid", "lpips", "mask-lpips"}
    for name, spec in METRIC_SPECS.items():
        assert isinstance(spec, MetricSpec)
        assert spec.higher_is_better is (name not in lower), name
