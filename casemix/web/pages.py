"""Server-rendered dashboard pages: bilingual labels, sortable and filterable tables, SVG bar charts.

No front-end build and no external assets (the machines here reach no CDN): the pages are HTML with
a few lines of inline script for sorting and filtering, and charts drawn as inline SVG.
"""

from html import escape
from typing import Any

STYLE = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;margin:1.5rem;color:#1d2733}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;font-size:.85rem;margin-top:.4rem}
th,td{border:1px solid #cfd6de;padding:.25rem .5rem;text-align:left}
th{background:#eef2f6;cursor:pointer;user-select:none} td.n{text-align:right}
input.filter{margin:.3rem 0;padding:.2rem .4rem;width:18rem}
.E{color:#b3261e;font-weight:bold} .W{color:#8a5a00} nav a{margin-right:1rem}
"""

SCRIPT = """
function sortTable(th){const t=th.closest('table'),i=[...th.parentNode.children].indexOf(th),
 rows=[...t.tBodies[0].rows],asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
 const v=r=>{const s=r.cells[i].innerText.trim(),n=parseFloat(s.replace(/,/g,''));return isNaN(n)?s:n};
 rows.sort((a,b)=>{const x=v(a),y=v(b);return (x>y?1:x<y?-1:0)*(asc?1:-1)});
 rows.forEach(r=>t.tBodies[0].appendChild(r))}
function filterTable(input){const t=document.getElementById(input.dataset.table),q=input.value.toLowerCase();
 [...t.tBodies[0].rows].forEach(r=>{r.style.display=r.innerText.toLowerCase().includes(q)?'':'none'})}
"""


def page(title: str, body: str, role: str) -> str:
    return (f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{STYLE}</style><script>{SCRIPT}</script></head><body>"
            f"<nav><a href='/ui/'>首页 Home</a><span>角色 Role: {escape(role)}</span></nav>"
            f"<h1>{escape(title)}</h1>{body}</body></html>")


def table(table_id: str, columns: list[tuple[str, str]], rows: list[dict[str, Any]],
          links: dict[str, str] | None = None) -> str:
    """``columns``: (key, bilingual label). ``links``: key → URL template filled from the row."""
    head = "".join(f"<th onclick='sortTable(this)'>{escape(label)}</th>" for _, label in columns)
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            text = "" if value is None else f"{value:,.4g}" if isinstance(value, float) else str(value)
            cell = escape(text)
            if links and key in links:
                cell = f"<a href='{escape(links[key].format(**row))}'>{cell}</a>"
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            css = " class='n'" if numeric else f" class='{escape(text)}'" if key == "severity" else ""
            cells.append(f"<td{css}>{cell}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f"<input class='filter' placeholder='筛选 Filter' data-table='{table_id}' oninput='filterTable(this)'>"
            f"<table id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def bar_chart(title: str, values: list[tuple[str, float]], width: int = 640) -> str:
    """Horizontal bars as inline SVG, one per (label, value)."""
    if not values:
        return ""
    top = max(v for _, v in values) or 1
    height = 22 * len(values) + 30
    bars = []
    for i, (label, value) in enumerate(values):
        length = (width - 170) * value / top
        y = 24 + 22 * i
        bars.append(f"<text x='0' y='{y + 12}' font-size='12'>{escape(label)}</text>"
                    f"<rect x='120' y='{y}' width='{length:.1f}' height='16' fill='#3b73b9'/>"
                    f"<text x='{125 + length:.1f}' y='{y + 12}' font-size='12'>{value:.3g}</text>")
    return (f"<svg role='img' aria-label='{escape(title)}' width='{width}' height='{height}'>"
            f"<text x='0' y='14' font-size='13' font-weight='bold'>{escape(title)}</text>{''.join(bars)}</svg>")
