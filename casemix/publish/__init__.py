"""Documents for public review (公开评议): one workbook, and a printable report in HTML and PDF."""

from casemix.publish.workbook import Sheet, header, write_workbook

__all__ = ["Sheet", "header", "write_workbook"]
