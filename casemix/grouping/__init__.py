"""CHS-DRG grouping: one case or a batch, with the path that explains each result."""

from casemix.grouping.batch import BatchSummary, group_file, group_file_by_rows, group_rows, group_table_rows
from casemix.grouping.engine import Grouper
from casemix.grouping.result import GroupedCase, GroupResult, Step
from casemix.grouping.whatif import Variant, each_diagnosis_as_principal, what_if, without_each_secondary

__all__ = ["BatchSummary", "GroupedCase", "GroupResult", "Grouper", "Step", "Variant", "each_diagnosis_as_principal",
           "group_file", "group_file_by_rows", "group_rows", "group_table_rows", "what_if", "without_each_secondary"]
