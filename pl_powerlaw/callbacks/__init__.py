"""Lightning callbacks: thin glue around pruning, sparse training, degree analysis and task freezing."""

from pl_powerlaw.callbacks.degree_monitor import DegreeDistributionMonitor
from pl_powerlaw.callbacks.dynamic import SET, PreferentialRegrowth, PruneAndRegrow, RigL
from pl_powerlaw.callbacks.gradual_pruning import GradualMagnitudePruning
from pl_powerlaw.callbacks.phases import PhaseSource
from pl_powerlaw.callbacks.preferential_attachment import PreferentialAttachmentAnalysis
from pl_powerlaw.callbacks.pruning import MagnitudePruning
from pl_powerlaw.callbacks.task_freezing import TaskFreezing

__all__ = [
    "SET",
    "DegreeDistributionMonitor",
    "GradualMagnitudePruning",
    "MagnitudePruning",
    "PhaseSource",
    "PreferentialRegrowth",
    "PreferentialAttachmentAnalysis",
    "PruneAndRegrow",
    "RigL",
    "TaskFreezing",
]
