"""Tasks by name: the :class:`Task` interface, its registry, and the shipped tasks.

Each task family is one module that registers its tasks with :func:`register_task`; they are
imported here, explicitly, so that ``get_task(name)`` finds them. To add a task, write one
module like :mod:`lps.train.tasks.exp` and add its import below.
"""

from lps.train.tasks.base import (
    TASKS,
    GraphTask,
    Task,
    TensorPairs,
    get_task,
    list_tasks,
    move,
    register_task,
)
from lps.train.tasks.digits import DigitsRotated
from lps.train.tasks.digits_quadrants import DigitsQuadrants
from lps.train.tasks.exp import ExpClassify
from lps.train.tasks.levels import DigitsLevels
from lps.train.tasks.lrgb import LRGBTask, PCQMContact, PeptidesFunc, PeptidesStruct
from lps.train.tasks.marglik import MarglikTask
from lps.train.tasks.nbody import NBody
from lps.train.tasks.np_gibbs import NPGibbs
from lps.train.tasks.pattern import PatternTask
from lps.train.tasks.set_marglik import SetMarglik
from lps.train.tasks.soft import SoftCosSim, SoftInertia

__all__ = [
    "DigitsLevels",
    "DigitsQuadrants",
    "DigitsRotated",
    "ExpClassify",
    "GraphTask",
    "LRGBTask",
    "MarglikTask",
    "NBody",
    "NPGibbs",
    "PCQMContact",
    "PatternTask",
    "SetMarglik",
    "PeptidesFunc",
    "PeptidesStruct",
    "SoftCosSim",
    "SoftInertia",
    "TASKS",
    "Task",
    "TensorPairs",
    "get_task",
    "list_tasks",
    "move",
    "register_task",
]
