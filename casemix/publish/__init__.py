"""Documents for public review (公开评议): one workbook, and a printable report in HTML and PDF."""

from casemix.publish.documents import publication_sheets
from casemix.publish.files import write_publication
from casemix.publish.report import print_pdf, report_html
from casemix.publish.workbook import Sheet, header, write_workbook
from casemix.publish.year import Publication, publish_year, read_previous_points

__all__ = ["Publication", "Sheet", "header", "print_pdf", "publication_sheets", "publish_year", "read_previous_points",
           "report_html", "write_publication", "write_workbook"]
