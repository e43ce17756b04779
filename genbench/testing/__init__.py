"""genbench's conformance kit: check that a model keeps the plugin contract
before a leaderboard finds out.

From the command line::

    genbench validate MODEL [-t TASK]...

In your plugin package's tests (pytest)::

    from genbench.testing import ConformanceKit
    import my_plugin

    def test_my_model_conforms():
        kit = ConformanceKit.from_plugins(plugins=[my_plugin])
        kit.validate("my-model").assert_ok()

or with the fixture of :mod:`genbench.testing.pytest_plugin`
(``pytest_plugins = ["genbench.testing.pytest_plugin"]`` in ``conftest.py``).
See :mod:`genbench.testing.kit` for the checks.
"""

from genbench.testing.kit import CheckResult, ConformanceKit, ValidationReport
from genbench.testing.tasks import KIT_TASKS, EnumerableTask

__all__ = ["KIT_TASKS", "CheckResult", "ConformanceKit", "EnumerableTask", "ValidationReport"]
