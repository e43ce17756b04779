"""The plugin host: loading, the autoload switch, name validation,
misspelled hooks, plugin files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from genbench.plugins import PluginError, get_plugin_manager, load_plugin_file, register_plugin
from genbench.registry import Registry, RegistryError


def test_builtin_plugins_load_through_entry_points():
    pm = get_plugin_manager()
    names = {name for name, _ in pm.list_name_plugin()}
    assert {"baselines", "tasks"} <= names
    assert pm.distributions["baselines"][0] == "genbench"


def test_builtin_models_and_tasks_are_registered():
    registry = Registry(get_plugin_manager())
    assert {"data", "memorizer", "gaussian", "uniform"} <= set(registry.models)
    assert registry.models["gaussian"].plugin == "baselines"
    assert registry.models["gaussian"].plugin_version == "0.1.0"
    assert {"image/mnist", "image/digits", "toy/ring8", "toy/grid25"} <= set(registry.tasks)


def test_autoload_switch_skips_third_party_entry_points(monkeypatch):
    seen = []

    class FakeDist:
        name = "someone-elses-plugin"
        version = "9.9"

    class FakeEntryPoint:
        name = "intruder"
        value = "intruder_module"
        dist = FakeDist()

        def load(self):
            seen.append("loaded")
            raise AssertionError("a third-party plugin must not load when autoload is off")

    import importlib.metadata

    real = importlib.metadata.entry_points

    def entry_points(group):
        return [*real(group=group), FakeEntryPoint()]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    get_plugin_manager(autoload=False)
    assert seen == []
    with pytest.raises(PluginError, match=r"plugin .intruder. .* failed to import"):
        get_plugin_manager(autoload=True)
    monkeypatch.setenv("GENBENCH_PLUGINS", "families")
    get_plugin_manager(autoload=True)  # not on the allow-list: skipped
    assert seen == ["loaded"]


def test_plugin_file_registers_its_models(fake_plugins):
    registry = Registry(get_plugin_manager([fake_plugins]))
    assert registry.models["fake-good"].plugin == "fake_plugins"
    assert registry.models["fake-good"].plugin_version.startswith("file-")


def test_plugin_files_from_environment(monkeypatch, fake_plugins):
    monkeypatch.setenv("GENBENCH_PLUGIN_FILES", str(fake_plugins))
    assert "fake-nan" in Registry(get_plugin_manager()).models


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (" padded", "must not contain whitespace"),
        ("two words", "must not contain whitespace"),
        ("a/b", "must not contain a path separator"),
        ("a\\b", "must not contain a path separator"),
        ("", "must be a non-empty string"),
        ("-dash", "must start with a letter or digit"),
    ],
)
def test_invalid_plugin_names_are_rejected(name, message):
    pm = get_plugin_manager()
    with pytest.raises(PluginError, match=message):
        register_plugin(pm, object(), name)


def test_duplicate_plugin_name_is_rejected():
    pm = get_plugin_manager()
    with pytest.raises(PluginError, match="plugin name 'baselines' is registered twice"):
        register_plugin(pm, object(), "baselines")


def test_misspelled_hook_is_an_error(tmp_path: Path):
    plugin = tmp_path / "typo_plugin.py"
    plugin.write_text(
        textwrap.dedent(
            """
            from genbench import hookimpl

            @hookimpl
            def register_model(register):
                pass
            """
        )
    )
    with pytest.raises(PluginError, match=r"unknown hook .register_model..*misspelled"):
        get_plugin_manager([plugin])


def test_plugin_file_errors_are_clear(tmp_path: Path):
    with pytest.raises(PluginError, match="does not exist"):
        load_plugin_file(tmp_path / "missing.py")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("")
    with pytest.raises(PluginError, match=r"is not a \.py file"):
        load_plugin_file(text_file)
    broken = tmp_path / "broken.py"
    broken.write_text("raise ImportError('missing dependency xyz')\n")
    with pytest.raises(PluginError, match="failed to import: missing dependency xyz"):
        load_plugin_file(broken)


def test_duplicate_model_names_across_plugins_are_rejected(tmp_path: Path):
    plugin = tmp_path / "clash.py"
    plugin.write_text(
        textwrap.dedent(
            """
            from genbench import ModelSpec, hookimpl

            @hookimpl
            def register_models(register):
                register(ModelSpec(name="gaussian", family="baseline", modalities=("toy",)))
            """
        )
    )
    with pytest.raises(RegistryError, match="model 'gaussian' from plugin 'clash' is already"):
        Registry(get_plugin_manager([plugin]))


def test_unknown_names_suggest_close_matches():
    registry = Registry(get_plugin_manager())
    with pytest.raises(RegistryError, match="unknown model 'gausian'; did you mean 'gaussian'"):
        registry.model("gausian")
    with pytest.raises(RegistryError, match=r"unknown task .image/mnits..*.image/mnist."):
        registry.task("image/mnits")
