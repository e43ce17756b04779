"""Every hook is documented in its spec and in docs/plugins.md, with the
signature the spec declares (a new hook without docs fails here)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from genbench import hookspecs
from genbench.plugins import PluginManager

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
HOOKS = sorted(name for name in dir(PluginManager().hook) if not name.startswith("_"))


def test_the_expected_hooks_exist():
    assert HOOKS == [
        "fit",
        "log_likelihood",
        "model_info",
        "reconstruct",
        "register_metrics",
        "register_models",
        "register_tasks",
        "sample",
    ]


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_contract_docstring(name):
    doc = inspect.getdoc(getattr(hookspecs, name))
    assert doc and len(doc) > 80, f"hook {name} needs a docstring stating its contract"
    if name not in ("register_models", "register_tasks", "register_metrics"):
        assert "None" in doc, f"hook {name} must say what returning None means"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_docs_section_with_its_signature(name):
    params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    assert f"### `{name}({params})`" in DOCS.read_text(), f"docs/plugins.md lacks {name}"
