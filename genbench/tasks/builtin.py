"""genbench's own tasks, registered through the ``register_tasks`` hook like
any plugin's."""

from __future__ import annotations

from collections.abc import Callable

from genbench import hookimpl
from genbench.tasks.audio import DigitsAudioTask
from genbench.tasks.base import Task
from genbench.tasks.image import DigitsTask, MnistTask
from genbench.tasks.mnist_full import MnistFullTask
from genbench.tasks.shakespeare import ShakespeareTask
from genbench.tasks.text import PydocTask
from genbench.tasks.toy import Grid25Task, Ring8Task


@hookimpl
def register_tasks(register: Callable[[Task], None]) -> None:
    """Register the embedded tasks (data shipped by installed packages)."""
    for task_class in (
        MnistTask,
        MnistFullTask,
        DigitsTask,
        Ring8Task,
        Grid25Task,
        DigitsAudioTask,
        PydocTask,
        ShakespeareTask,
    ):
        register(task_class())
