"""Tasks: datasets with splits, a data format and a feature extractor."""

from genbench.tasks.base import SampleValidationError, Task, TaskData

__all__ = ["SampleValidationError", "Task", "TaskData"]
