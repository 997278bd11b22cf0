"""CHS-DRG grouping: one case or a batch, with the path that explains each result."""

from casemix.grouping.engine import Grouper
from casemix.grouping.result import GroupResult, Step

__all__ = ["GroupResult", "Grouper", "Step"]
