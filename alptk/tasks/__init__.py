"""The tasks a model is trained for (asr, st, tts, lm, pretrain): one module each, registered in ``TASKS``."""

from alptk.tasks import asr, lm, pretrain, st, tts  # noqa: F401 - registers the tasks
from alptk.tasks.base import TASKS, Scored, Task, get_task

__all__ = ["TASKS", "Scored", "Task", "get_task"]
