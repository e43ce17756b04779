"""Tasks: datasets with splits, a data format and a feature extractor."""

from genbench.tasks.base import Task, TaskData
from genbench.tasks.validation import SampleValidationError

__all__ = ["SampleValidationError", "Task", "TaskData"]
