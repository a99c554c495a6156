"""The per-participant plan: the protocol's counts, deterministic, different across participants."""
from __future__ import annotations

from collections import Counter

import pytest

from bench.errors import BenchError
from bench.userstudy.config import PAPER_COUNTS, StudyConfig, StudyDataset, config_from_dict
from bench.userstudy.plan import PREFERENCE, REALNESS, make_plan
from bench.userstudy.pool import open_study


def test_plan_follows_the_protocol(make_config):
    config = make_config(real=5, generated=4, warmup=3, groups=2)
    study = open_study(config)
    plan = make_plan(study, "pA")
    assert [t.index for t in plan] == list(range(len(plan)))
    realness = [t for t in plan if t.protocol == REALNESS]
    for method in ("patn", "gfla"):
        block = [t for t in realness if t.method == method]
        # one contiguous block of 5 real + 4 generated, the first 3 not scored
        assert [t.index for t in block] == list(range(block[0].index, block[0].index + 9))
        assert Counter(t.truth for t in block) == {"real": 5, "generated": 4}
        assert [t.scored for t in block] == [False] * 3 + [True] * 6
        assert all(r.method == method for t in block if t.truth == "generated" for r in t.images)
        assert len({t.images[0] for t in block}) == 9  # drawn without replacement
    groups = [t for t in plan if t.protocol == PREFERENCE]
    assert len(groups) == 2 and plan[-2:] == groups  # preference after the realness blocks
    for g in groups:
        assert [r.role for r in g.images] == ["source", "pose", "generated", "generated"]
        assert {r.method for r in g.results} == {"patn", "gfla"}
        assert {r.pair for r in g.images} == {g.images[0].pair}
        assert g.images[0].name == g.images[0].pair[0] and g.images[1].name == g.images[0].pair[1]


def test_plan_is_deterministic_and_per_participant(make_config):
    study = open_study(make_config())
    assert make_plan(study, "pA") == make_plan(open_study(make_config()), "pA")
    assert make_plan(study, "pA") != make_plan(study, "pB")
    assert make_plan(study, "pA") != make_plan(open_study(make_config(seed=1)), "pA")
    # Over participants every result position is used by both methods (random order).
    firsts = {make_plan(study, f"p{i}")[-1].results[0].method for i in range(20)}
    assert firsts == {"patn", "gfla"}


def test_defaults_are_the_published_protocol(study_data):
    root, folders = study_data
    config = StudyConfig((StudyDataset("d", root, dict(folders)),))
    # Tang et al. 2021, "User Study": 55 real + 55 generated, first 10 warm-up, 1 s, 30 groups.
    assert (config.real, config.generated, config.warmup, config.show_ms, config.groups) == (55, 55, 10, 1000, 30)
    assert config.is_paper_protocol and PAPER_COUNTS["groups"] == 30


def test_bad_configs_are_clear_errors(study_data, make_config):
    root, folders = study_data
    with pytest.raises(BenchError, match="unknown method 'nosuchnet' in dataset 'd'; registered: .*patn"):
        StudyConfig((StudyDataset("d", root, {"nosuchnet": folders["patn"]}),))
    # the fixture has 20 test targets and 60 pairs per method
    with pytest.raises(BenchError, match="20 distinct test targets .* needs 55"):
        open_study(make_config(real=55))
    with pytest.raises(BenchError, match=r"patn: too few generated images for the protocol: 60 test pairs .* needs 61"):
        open_study(make_config(generated=61))
    with pytest.raises(BenchError, match="too few generated images for the protocol: 60 test pairs have an image of every method"):
        open_study(make_config(groups=61))
    with pytest.raises(BenchError, match="unknown key 'wamup'"):
        config_from_dict({"datasets": [], "wamup": 3}, "s.yaml")
    with pytest.raises(BenchError, match="'warmup' must be in"):
        make_config(warmup=8)
