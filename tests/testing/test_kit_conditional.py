"""The conformance kit checks class-conditional sampling of models that
declare ``conditional_sample``."""

from __future__ import annotations

from pathlib import Path

import pytest

from genbench.testing import ConformanceKit

FAKE_PLUGINS = Path(__file__).resolve().parents[1] / "fake_plugins.py"


@pytest.fixture(scope="module")
def kit() -> ConformanceKit:
    return ConformanceKit.from_plugins([FAKE_PLUGINS])


def _results(report) -> dict[str, tuple[str, str]]:
    return {f"{r.hook}/{r.check}": (r.status, r.message) for r in report.results}


@pytest.mark.parametrize("model", ["fake-cond", "data"])
def test_a_conditional_model_passes_the_conditional_checks(kit, model):
    report = kit.validate(model, ["image/digits"], audit=False)
    results = _results(report)
    for check in ("conditional w=0", "conditional w=1", "conditional seed"):
        assert results[f"sample/{check}"][0] == "pass", check
    assert results["sample/conditional w=1"][1] == "16 samples for 16 asked labels"
    report.assert_ok()


def test_a_conditional_sample_of_the_wrong_shape_is_caught(kit):
    report = kit.validate("fake-cond-shape", ["image/digits"], audit=False)
    failures = {f"{r.hook}/{r.check}": r.message for r in report.failures()}
    assert list(failures) == ["sample/conditional w=0"]
    assert "expected shape (16, 1, 8, 8), got (16, 1, 8, 4)" in failures["sample/conditional w=0"]


def test_models_without_the_capability_get_no_conditional_checks(kit):
    report = kit.validate("fake-good", ["toy/ring8"], audit=False)
    assert not [r for r in report.results if r.check.startswith("conditional")]
