from __future__ import annotations

import pytest

from bench.registry import Registry, UnknownNameError


def make() -> Registry:
    reg = Registry("widget", required_meta=("paper",))
    reg.register("pona", paper="Li et al. 2020")(lambda: "pona")
    reg.register("patn", paper="Zhu et al. 2019", higher_is_better=True)(lambda: "patn")
    return reg


def test_lookup_and_metadata():
    reg = make()
    entry = reg.get("patn")
    assert entry.constructor() == "patn"
    assert entry.paper == "Zhu et al. 2019"
    assert entry.higher_is_better is True
    assert reg.names() == ["patn", "pona"]
    assert reg.names("po*") == ["pona"]


def test_typo_lists_close_and_valid_names():
    with pytest.raises(UnknownNameError) as err:
        make().get("ponna")
    message = str(err.value)
    assert "Did you mean pona" in message
    assert "Valid names: patn, pona" in message


def test_duplicate_and_missing_metadata_are_refused():
    reg = make()
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("pona", paper="x")(lambda: None)
    with pytest.raises(TypeError, match="missing metadata: paper"):
        reg.register("new")


def test_loaders_run_once_lazily():
    reg = Registry("widget")
    calls = []
    reg.add_loader(lambda: (calls.append(1), reg.add("late", lambda: None)))
    assert calls == []
    assert "late" in reg and reg.names() == ["late"]
    assert calls == [1]
