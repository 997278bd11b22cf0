"""Scheme development (本地细分组): candidate local subgroups of high-CV units scored by RIV gain."""

from casemix.develop.proposals import Candidate, Development, Unit, develop
from casemix.develop.report import development_sheets, development_summary
from casemix.develop.splits import Split, Stay, candidate_splits

__all__ = ["Candidate", "Development", "Split", "Stay", "Unit", "candidate_splits", "develop", "development_sheets",
           "development_summary"]
