"""Version upgrade (一键升级): the same cases under two grouping schemes, and what moves in groups and money."""

from casemix.upgrade.compare import CaseMove, HospitalChange, VersionComparison, compare_versions

__all__ = ["CaseMove", "HospitalChange", "VersionComparison", "compare_versions"]
