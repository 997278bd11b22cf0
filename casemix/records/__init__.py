"""Case records: the settlement-list fields the engines read, with the Chinese headers as aliases."""

from casemix.records.case import Case, Rejection, RowReader

__all__ = ["Case", "Rejection", "RowReader"]
