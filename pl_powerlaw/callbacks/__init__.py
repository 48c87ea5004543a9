"""Lightning callbacks: thin glue around pruning, degree analysis and task freezing."""

from pl_powerlaw.callbacks.degree_monitor import DegreeDistributionMonitor
from pl_powerlaw.callbacks.phases import PhaseSource
from pl_powerlaw.callbacks.pruning import MagnitudePruning

__all__ = ["DegreeDistributionMonitor", "MagnitudePruning", "PhaseSource"]
