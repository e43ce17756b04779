"""pytest fixtures for plugin authors: ``pytest_plugins =
["genbench.testing.pytest_plugin"]`` in your ``conftest.py``, then::

    def test_conforms(genbench_kit):
        genbench_kit(plugins=[my_plugin]).validate("my-model").assert_ok()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from genbench.testing.kit import ConformanceKit


@pytest.fixture
def genbench_kit() -> Callable[..., ConformanceKit]:
    """A factory of :class:`ConformanceKit`: call it with the arguments of
    :meth:`ConformanceKit.from_plugins` (``plugins=[module]``,
    ``plugin_files=[path]``, ``budget=``, ``timeout=``)."""

    def make(**kwargs: Any) -> ConformanceKit:
        return ConformanceKit.from_plugins(**kwargs)

    return make
