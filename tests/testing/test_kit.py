"""The conformance kit catches what it promises to, and genbench's own
plugins (and the example package) pass it on the kit's enumerable tasks."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

from genbench.testing import ConformanceKit
from genbench.testing.tasks import KitAudioTask, KitImageTask, KitToyTask

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
KIT_TASKS = ("image/kit-2x2", "toy/kit-blobs", "audio/kit-mulaw8")


@pytest.fixture(scope="module")
def kit() -> ConformanceKit:
    return ConformanceKit.from_plugins([HERE / "bad_plugins.py"])


def _failures(report) -> dict[str, str]:
    return {f"{r.hook}/{r.check}": r.message for r in report.failures()}


def test_a_non_deterministic_sampler_is_caught(kit):
    report = kit.validate("bad-random", ["image/kit-2x2"])
    assert not report.ok
    failures = _failures(report)
    assert "sample/same seed" in failures
    assert "not reproducible" in failures["sample/same seed"]
    with pytest.raises(AssertionError, match="sample on image/kit-2x2: same seed"):
        report.assert_ok()


def test_an_exact_likelihood_that_sums_to_more_than_one_is_caught(kit):
    report = kit.validate("bad-overclaim", ["image/kit-2x2"])
    failures = _failures(report)
    assert list(failures) == ["log_likelihood/audit"]
    message = failures["log_likelihood/audit"]
    assert "over-claims likelihood" in message and "all 256 possible examples is 1.3 " in message


def test_a_checkpoint_that_does_not_round_trip_is_caught(kit):
    report = kit.validate("bad-checkpoint", ["image/kit-2x2"])
    failures = _failures(report)
    assert list(failures) == ["fit/checkpoint"]
    assert "the checkpoint does not round-trip" in failures["fit/checkpoint"]


def test_enumerable_tasks_list_their_whole_domain():
    images, volume = KitImageTask().domain()
    assert images.shape == (256, 1, 2, 2) and volume == 1.0 and len(images.unique(dim=0)) == 256
    clips, _ = KitAudioTask().domain()
    assert clips.shape == (4**8, 8) and int(clips.max()) == 3
    grid, cell = KitToyTask().domain()
    assert grid.shape == (200 * 200, 2) and cell == pytest.approx(0.04**2)
    task = KitAudioTask()
    assert task.validate_samples(task.load().train[:5], 5).shape == (5, 8)


KNOWN = {
    # genuine findings of the kit in the built-in families, left to their owners:
    ("realnvp", "image/kit-2x2", "log_likelihood/audit"),  # single-sample dequantised
    # bound sums to 1.03 over the 256 images
    ("diffusion-ddpm", "toy/kit-blobs", "log_likelihood/audit"),  # VLB "density" integrates
    # to about 28 on continuous data
}


def test_the_builtin_plugins_pass_the_kit_on_its_enumerable_tasks():
    example = ROOT / "plugins" / "genbench-example"
    sys.path.insert(0, str(example))
    try:
        spec = importlib.util.find_spec("genbench_example")
        plugins = [importlib.import_module("genbench_example")] if spec else []
    finally:
        sys.path.remove(str(example))
    kit = ConformanceKit.from_plugins(plugins=plugins)
    models = sorted(
        name for name, s in kit.registry.models.items() if s.plugin in ("families", "baselines")
    )
    models += ["example-gmm"] if plugins else []
    audited = set()
    for name in models:
        report = kit.validate(name, KIT_TASKS)
        found = {(name, r.task, f"{r.hook}/{r.check}") for r in report.failures()}
        assert found <= KNOWN, report.table()
        audited |= {
            (name, r.task) for r in report.results if r.check == "audit" and r.status == "pass"
        }
        fitted = [r for r in report.results if r.check == "fit" and r.status == "pass"]
        assert fitted, f"{name} fits none of the kit's tasks:\n{report.table()}"
    assert {"pixelcnn", "uniform", "gaussian", "vae"} <= {m for m, _ in audited}


def test_validate_on_the_command_line_names_the_hook(tmp_path):
    from click.testing import CliRunner

    from genbench.cli import main

    bad = str(HERE / "bad_plugins.py")
    result = CliRunner().invoke(
        main, ["--plugin", bad, "validate", "bad-checkpoint", "-t", "image/kit-2x2"]
    )
    assert result.exit_code == 1
    assert "bad-checkpoint: DOES NOT CONFORM" in result.output
    assert "FAIL  image/kit-2x2       fit" in result.output
    good = CliRunner().invoke(main, ["validate", "uniform", "-t", "image/kit-2x2"])
    assert good.exit_code == 0 and "uniform: conforms" in good.output
