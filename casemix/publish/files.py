"""Write the public-review documents into one folder: the workbook, the HTML report, then its PDF."""

from __future__ import annotations

from pathlib import Path

from casemix.errors import TableError
from casemix.publish.documents import publication_sheets
from casemix.publish.report import print_pdf, report_html
from casemix.publish.workbook import write_workbook
from casemix.publish.year import Publication

WORKBOOK, HTML, PDF = "publication.xlsx", "report.html", "report.pdf"


def write_publication(publication: Publication, folder: Path, chromium: str | None = None) -> list[Path]:
    """``publication.xlsx``, ``report.html`` and ``report.pdf`` in ``folder`` (made if missing). The PDF comes
    last: when Chromium is absent or fails, :class:`PublishError` is raised with the other two already written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise TableError(f"{folder}: is a file; name a folder for the documents")
    folder.mkdir(parents=True, exist_ok=True)
    written = [write_workbook(folder / WORKBOOK, publication_sheets(publication))]
    (folder / HTML).write_text(report_html(publication), encoding="utf-8")
    written.append(folder / HTML)
    written.append(print_pdf(folder / HTML, folder / PDF, chromium))
    return written
