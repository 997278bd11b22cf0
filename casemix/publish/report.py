"""The printable report of the public-review documents: one self-contained HTML page (no script, no external
file, print CSS for A4) made from the same sheets as the workbook, and its PDF printed by headless Chromium.

Every text that reaches the page passes through :func:`html.escape` in :func:`_cell` or :func:`_text`: case ids,
hospital ids, notes and reasons come from hospitals and reviewers, and are never markup.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

from casemix.errors import PublishError
from casemix.publish.documents import publication_sheets
from casemix.publish.workbook import Sheet
from casemix.publish.year import Publication

CHROMIUM = "/usr/bin/chromium"
PDF_SECONDS = 180

STYLE = """
@page { size: A4 landscape; margin: 12mm; }
body { font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; font-size: 10pt;
       color: #111; margin: 0 auto; max-width: 1200px; }
h1 { font-size: 18pt; margin: 0 0 4pt; } h2 { font-size: 13pt; margin: 14pt 0 4pt; border-bottom: 1px solid #444; }
p.meta { color: #444; margin: 0 0 8pt; }
table { border-collapse: collapse; width: 100%; margin-bottom: 8pt; }
th, td { border: 1px solid #999; padding: 2pt 4pt; vertical-align: top; }
th { background: #eee; text-align: left; } th small { display: block; color: #555; font-weight: normal; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; border-top: 2px solid #111; }
thead { display: table-header-group; } tr { break-inside: avoid; }
section + section { break-before: page; }
@media screen { body { padding: 16px; } }
"""

INTROS = {
    "预算 budget": "预算与增长 Budget and its growth",
    "病组目录 catalogue": "病组目录、权重与基准点数 Group catalogue with weights and base points",
    "系数 coefficients": "医疗机构系数 Hospital coefficients",
    "变化 changes": "与上年相比的变化 Changes from last year",
    "特病单议 special cases": "特病单议结果 Special-case review results",
    "年终清算 year end": "年终清算结果（按医疗机构） Year-end results by hospital",
}


def report_html(publication: Publication) -> str:
    """The whole report as one HTML document (UTF-8, escaped, self-contained)."""
    sheets = publication_sheets(publication)
    s = publication.settlement
    meta = (f"政策 policy: {publication.policy.name} {publication.policy.version} · 点值 point value "
            f"{s.point_value:.4f} 元/点 · 可分配总额 pool {s.pool:,.2f} 元 · 清算总额 paid {s.total_paid:,.2f} 元")
    body = [f"<h1>{_text(publication.title)}</h1>", f'<p class="meta">{_text(meta)}</p>']
    for sheet in sheets:
        body.append(_section(sheet))
    return ('<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>{_text(publication.title)}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def _section(sheet: Sheet) -> str:
    name, columns, rows = sheet
    note = ""
    if name == "变化 changes" and not rows:
        note = "<p>未提供上年目录 No previous catalogue was given.</p>"
    elif name == "变化 changes":
        counts = Counter(str(row[-1]).split(" (")[0] for row in rows)
        listed = "; ".join(f"{status}: {n}" for status, n in sorted(counts.items()))
        note = f"<p>{_text(listed)} (不变的病组不列出 unchanged groups are not listed)</p>"
        rows = [row for row in rows if not str(row[-1]).startswith("不变")]
    elif name == "特病单议 special cases" and not rows:
        note = "<p>本年度无特病单议病例 No case was paid by special review this year.</p>"
    head = "".join(f"<th>{_text(chinese)}<small>{_text(key)}</small></th>" for key, chinese in columns)
    lines = []
    for row in rows:
        total = ' class="total"' if row and str(row[0]).startswith("合计") else ""
        lines.append(f"<tr{total}>{''.join(_cell(v) for v in row)}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>" if rows else ""
    return f"<section><h2>{_text(INTROS.get(name, name))}</h2>{note}{table}</section>"


def _text(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: object) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, Decimal):
        shown = f"{value:,.2f}" if value.as_tuple().exponent == -2 else f"{value:,}"
        return f'<td class="num">{_text(shown)}</td>'
    if isinstance(value, int | float):
        return f'<td class="num">{_text(f"{value:,}")}</td>'
    return f"<td>{_text(value)}</td>"


def print_pdf(html_path: Path, pdf_path: Path, chromium: str | None = None) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium (``chromium``, else on the PATH, else
    /usr/bin/chromium). Raises :class:`PublishError` when Chromium is absent, fails or writes no PDF."""
    program = chromium or shutil.which("chromium") or CHROMIUM
    if not Path(program).is_file():
        raise PublishError(f"{pdf_path}: not written: Chromium not found at {program} (install Debian's chromium); "
                           "the workbook and the HTML report are written")
    with tempfile.TemporaryDirectory(prefix="casemix-chromium-") as profile:
        command = [program, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                   "--no-first-run", "--disable-background-networking", "--no-pdf-header-footer",
                   f"--user-data-dir={profile}", f"--print-to-pdf={pdf_path.resolve()}",
                   html_path.resolve().as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=PDF_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            raise PublishError(f"{pdf_path}: not written: Chromium took over {PDF_SECONDS} s") from None
    if done.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise PublishError(f"{pdf_path}: not written: Chromium exited {done.returncode} ({last[:200]})")
    return pdf_path
