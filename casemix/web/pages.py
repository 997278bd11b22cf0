"""Every dashboard page's HTML, and the one place it is made: bilingual labels, sortable and filterable
tables, SVG bar charts.

Nothing from the data reaches a page except through :func:`escape` (cells, labels, titles, links,
chart labels): the route functions hand over values, never markup. The pages carry no inline script
or style, so the Content-Security-Policy can forbid both; the few lines of script that sort and filter
tables are served as ``/ui/static/casemix.js``. No front-end build and no external assets (the
machines here reach no CDN).
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any
from urllib.parse import quote

STYLE = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;margin:1.5rem;color:#1d2733}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;font-size:.85rem;margin-top:.4rem}
th,td{border:1px solid #cfd6de;padding:.25rem .5rem;text-align:left}
th{background:#eef2f6;cursor:pointer;user-select:none} td.n{text-align:right}
input.filter{margin:.3rem 0;padding:.2rem .4rem;width:18rem}
svg{display:block;margin:.6rem 0} .charts{display:flex;flex-wrap:wrap;gap:0 2rem;align-items:flex-start}
.E{color:#b3261e;font-weight:bold} .W{color:#8a5a00} nav a,nav span{margin-right:1rem} nav form{display:inline}
form.login label{display:block;margin:.6rem 0} form.login input{width:24rem;padding:.3rem} .error{color:#b3261e}
"""

SCRIPT = """
function sortTable(th){const t=th.closest('table'),i=[...th.parentNode.children].indexOf(th),
 rows=[...t.tBodies[0].rows],asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
 const v=r=>{const s=r.cells[i].innerText.trim(),n=parseFloat(s.replace(/,/g,''));return isNaN(n)?s:n};
 rows.sort((a,b)=>{const x=v(a),y=v(b);return (x>y?1:x<y?-1:0)*(asc?1:-1)});
 rows.forEach(r=>t.tBodies[0].appendChild(r))}
function filterTable(input){const t=document.getElementById(input.dataset.table),q=input.value.toLowerCase();
 [...t.tBodies[0].rows].forEach(r=>{r.style.display=r.innerText.toLowerCase().includes(q)?'':'none'})}
document.addEventListener('DOMContentLoaded',()=>{
 document.querySelectorAll('th[data-sort]').forEach(th=>th.addEventListener('click',()=>sortTable(th)));
 document.querySelectorAll('input.filter').forEach(i=>i.addEventListener('input',()=>filterTable(i)))});
"""

NAV = "".join(f"<a href='{url}'>{label}</a>" for url, label in (
    ("/ui/", "首页 Home"), ("/ui/flags", "审核疑点 Audit flags"), ("/ui/groups", "病组 Groups"),
    ("/ui/stays", "在院预警 In-stay warnings"), ("/ui/desk", "医师工作台 Physician's desk")))
STATIC = {"casemix.js": (SCRIPT, "text/javascript; charset=utf-8"), "casemix.css": (STYLE, "text/css; charset=utf-8")}


def page(title: str, body: str, who: str = "", csrf: str = "") -> str:
    """A whole page; ``body`` is markup made by the functions below. With ``csrf`` the page shows who is
    signed in and a sign-out form."""
    account = ""
    if csrf:
        account = (f"<span>角色 Role: {escape(who)}</span><form method='post' action='/ui/logout'>"
                   f"<input type='hidden' name='csrf' value='{escape(csrf)}'>"
                   f"<button type='submit'>退出 Sign out</button></form>")
    return (f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<link rel='stylesheet' href='/ui/static/casemix.css'><script src='/ui/static/casemix.js'></script>"
            f"</head><body><nav>{NAV}{account}</nav>"
            f"<h1>{escape(title)}</h1>{body}</body></html>")


def heading(text: str) -> str:
    return f"<h2>{escape(text)}</h2>"


def paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def facts(table_id: str, pairs: list[tuple[str, Any]]) -> str:
    """A two-column table of (label, value)."""
    rows = "".join(f"<tr><th>{escape(label)}</th><td>{escape(_text(value))}</td></tr>" for label, value in pairs)
    return f"<table id='{escape(table_id)}'>{rows}</table>"


def table(table_id: str, columns: list[tuple[str, str]], rows: list[dict[str, Any]],
          links: dict[str, str] | None = None, filter: bool = True) -> str:
    """``columns``: (key, bilingual label). ``links``: key → URL template whose fields are filled from
    the row, each value URL-quoted. ``filter``: a box that filters the rows on the page (for tables
    that are not paged on the server)."""
    head = "".join(f"<th data-sort='1'>{escape(label)}</th>" for _, label in columns)
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            text = _text(value)
            cell = escape(text)
            if links and key in links:
                url = links[key].format(**{k: quote(str(v), safe="") for k, v in row.items()})
                cell = f"<a href='{escape(url)}'>{cell}</a>"
            numeric = isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
            css = " class='n'" if numeric else f" class='{escape(text)}'" if key == "severity" else ""
            cells.append(f"<td{css}>{cell}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    box = f"<input class='filter' placeholder='筛选 Filter' data-table='{escape(table_id)}'>" if filter else ""
    return (f"{box}<table id='{escape(table_id)}'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def download(url: str, label: str = "下载 Excel · download xlsx") -> str:
    """A link that downloads the table above it as an xlsx workbook."""
    return f"<p class='download'><a href='{escape(url)}'>{escape(label)}</a></p>"


def flag_queue(rows: list[dict[str, Any]], csrf: str, reviewable: bool) -> str:
    """Flags by score with their evidence; for a reviewer, a confirm / dismiss form on each."""
    head = ("<tr><th>分数 Score</th><th>规则 Rule</th><th>医院 Hospital</th><th>病例 Cases</th>"
            "<th>证据 Evidence</th><th>复核结果 Verdict</th>"
            + ("<th>复核 Review</th>" if reviewable else "") + "</tr>")
    body = []
    for row in rows:
        review = ""
        if reviewable:
            hidden = "".join(f"<input type='hidden' name='{name}' value='{escape(str(row.get(key) or ''))}'>"
                             for name, key in (("rule", "rule"), ("case_ids", "case_ids"),
                                               ("hospital_id", "hospital_id")))
            review = (f"<td><form method='post' action='/ui/flags/review'>{hidden}"
                      f"<input type='hidden' name='csrf' value='{escape(csrf)}'>"
                      f"<input name='note' placeholder='说明 Note' maxlength='200'>"
                      f"<button name='verdict' value='confirmed'>确认 Confirm</button>"
                      f"<button name='verdict' value='dismissed'>排除 Dismiss</button></form></td>")
        body.append(f"<tr><td class='n'>{float(row['score']):.3f}</td><td>{escape(str(row['title']))}</td>"
                    f"<td>{escape(str(row['hospital_id']))}</td><td>{escape(str(row['case_ids']))}</td>"
                    f"<td>{escape(str(row['evidence']))}</td><td>{VERDICTS.get(row.get('verdict'), '')}</td>"
                    f"{review}</tr>")
    return f"<table id='flags'><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


VERDICTS = {"confirmed": "确认 confirmed", "dismissed": "排除 dismissed"}
DESK_FIELDS = [("sex", "性别 Sex (1 男 / 2 女)"), ("age", "年龄 Age"), ("age_days", "年龄(天) Age in days"),
               ("principal_dx", "主要诊断 Principal diagnosis"), ("secondary_dx", "其他诊断 Secondary diagnoses"),
               ("procedures", "手术操作 Procedures (main first)"), ("los_days", "住院天数 Length of stay"),
               ("total_cost", "费用 Cost so far (元)")]


def desk_form(values: dict[str, str], csrf: str) -> str:
    """The settlement list as a physician fills it in; codes may be pasted, separated by commas or spaces."""
    inputs = "".join(f"<label>{escape(label)} <input name='{name}' value='{escape(values.get(name, ''))}' "
                     f"maxlength='2000'></label>" for name, label in DESK_FIELDS)
    return (f"<form class='login' method='post' action='/ui/desk'><input type='hidden' name='csrf' "
            f"value='{escape(csrf)}'>{inputs}<button type='submit'>分组并质控 Group and check</button></form>")


def stays_table(rows: list[dict[str, Any]]) -> str:
    """Open stays with their likely group and a bar of cost so far against the group's payment standard."""
    head = ("<tr><th>医院 Hospital</th><th>病案号 Case</th><th>科室 Department</th><th>预测病组 Likely DRG</th>"
            "<th>费用 Cost so far (元)</th><th>支付标准 Standard (元)</th><th>进度 Progress</th>"
            "<th>预警 Alert</th></tr>")
    body = []
    for row in rows:
        progress = row["progress"]
        bar = "" if progress is None else (
            f"<meter min='0' max='1.5' low='{row['low']}' high='{row['high']}' optimum='0' "
            f"value='{min(progress, 1.5):.3f}'></meter> {progress:.0%}")
        body.append(f"<tr><td>{escape(str(row['hospital_id']))}</td><td>{escape(str(row['case_id']))}</td>"
                    f"<td>{escape(_text(row['department']))}</td>"
                    f"<td>{escape(str(row['drg']))} {escape(str(row['drg_name']))}</td>"
                    f"<td class='n'>{escape(_text(row['cost']))}</td>"
                    f"<td class='n'>{escape(_text(row['standard']))}</td>"
                    f"<td>{bar}</td><td class='{escape(row['css'])}'>{escape(row['alert'])}</td></tr>")
    return f"<table id='stays'><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def search_form(search: Any, sorts: dict[str, str]) -> str:
    """A GET form that searches the case list on the server (a ``CaseSearch``): text, patient id,
    discharge dates and the order."""
    options = "".join(f"<option value='{escape(key)}'{' selected' if key == search.sort else ''}>{escape(label)}"
                      "</option>" for key, label in sorts.items())
    return (f"<form class='search' method='get' action='/ui/'><input name='q' value='{escape(search.text)}' "
            f"placeholder='病案号、科室、医师、DRG · case, department, physician, DRG'> "
            f"<input name='patient' value='{escape(search.patient)}' placeholder='人员编号 Patient id'> "
            f"<label>出院 Discharged <input type='date' name='since' value='{escape(str(search.since or ''))}'>–"
            f"<input type='date' name='until' value='{escape(str(search.until or ''))}'></label> "
            f"<label>排序 Sort <select name='sort'>{options}</select></label> "
            f"<label><input type='checkbox' name='desc' value='1'{' checked' if search.descending else ''}> "
            f"降序 descending</label> <button type='submit'>搜索 Search</button></form>")


def pager(query: str, page: int, size: int, total: int) -> str:
    """Which cases this page shows, with links to the pages before and after (``query``, the search, kept)."""
    first, last = (page - 1) * size + 1, min(page * size, total)
    shown = f"第 {first:,}–{last:,} 例，共 {total:,} 例 · cases {first:,}–{last:,} of {total:,}" if total else \
        "没有病例 · no cases"
    keep = f"{query}&" if query else ""
    links = []
    if page > 1:
        links.append(f"<a href='/ui/?{escape(keep)}page={page - 1}'>上一页 Previous</a>")
    if last < total:
        links.append(f"<a href='/ui/?{escape(keep)}page={page + 1}'>下一页 Next</a>")
    return f"<p class='pager'>{escape(shown)} {' '.join(links)}</p>"


def _text(value: Any) -> str:
    """Floats to four significant digits, but money-sized ones (≥ 1,000) to the fen, never in e-notation."""
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:,.4g}"
    return "" if value is None else str(value)


def bar_chart(title: str, values: list[tuple[str, float]], bars_width: int = 420) -> str:
    """Horizontal bars as inline SVG, one per (label, value): the label column as wide as the longest
    label (up to a limit), room for the value after the longest bar; negative values (a deficit) run
    left of the zero line, in red."""
    if not values:
        return ""
    top, bottom = max(max(v for _, v in values), 0), min(min(v for _, v in values), 0)
    span = (top - bottom) or 1
    label_width = min(max(_text_width(str(label)) for label, _ in values) + 12, 420)
    zero = label_width + bars_width * -bottom / span
    width, height = label_width + bars_width + 120, 22 * len(values) + 30
    bars = []
    for i, (label, value) in enumerate(values):
        length = bars_width * abs(value) / span
        y = 24 + 22 * i
        x = zero if value >= 0 else zero - length
        shown = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
        colour = "#3b73b9" if value >= 0 else "#b3261e"
        bars.append(f"<text x='0' y='{y + 12}' font-size='12'>{escape(_clip(str(label), label_width))}</text>"
                    f"<rect x='{x:.1f}' y='{y}' width='{length:.1f}' height='16' fill='{colour}'/>"
                    f"<text x='{max(x + length, zero) + 5:.1f}' y='{y + 12}' font-size='12'>{shown}</text>")
    return (f"<svg role='img' aria-label='{escape(title)}' width='{width}' height='{height}'>"
            f"<text x='0' y='14' font-size='13' font-weight='bold'>{escape(title)}</text>{''.join(bars)}</svg>")


def scatter_chart(title: str, points: list[tuple[str, float, float]], x_title: str, y_title: str,
                  size: int = 360) -> str:
    """(label, x, y) points as inline SVG, each labelled and with its values as a tooltip; dashed lines
    at x = 1 and y = 1 (the region's average for indices) when they fall inside the plot."""
    if not points:
        return ""
    xs, ys = [x for _, x, _ in points], [y for _, _, y in points]
    x_low, x_high = min(xs + [1.0]) * 0.95, max(xs + [1.0]) * 1.05
    y_low, y_high = min(ys + [1.0]) * 0.95, max(ys + [1.0]) * 1.05
    left, top = 50, 24

    def at(x: float, y: float) -> tuple[float, float]:
        return (left + size * (x - x_low) / ((x_high - x_low) or 1),
                top + size - size * (y - y_low) / ((y_high - y_low) or 1))
    one_x, one_y = at(1.0, 1.0)
    parts = [f"<rect x='{left}' y='{top}' width='{size}' height='{size}' fill='none' stroke='#cfd6de'/>",
             f"<line x1='{one_x:.1f}' y1='{top}' x2='{one_x:.1f}' y2='{top + size}' stroke='#999' "
             "stroke-dasharray='4'/>",
             f"<line x1='{left}' y1='{one_y:.1f}' x2='{left + size}' y2='{one_y:.1f}' stroke='#999' "
             "stroke-dasharray='4'/>",
             f"<text x='{left + size / 2}' y='{top + size + 30}' font-size='12' text-anchor='middle'>"
             f"{escape(x_title)}</text>",
             f"<text x='12' y='{top + size / 2}' font-size='12' transform='rotate(-90 12 {top + size / 2})' "
             f"text-anchor='middle'>{escape(y_title)}</text>",
             f"<text x='{left}' y='{top + size + 14}' font-size='10'>{x_low:.2f}</text>",
             f"<text x='{left + size}' y='{top + size + 14}' font-size='10' text-anchor='end'>{x_high:.2f}</text>",
             f"<text x='{left - 4}' y='{top + size}' font-size='10' text-anchor='end'>{y_low:.2f}</text>",
             f"<text x='{left - 4}' y='{top + 10}' font-size='10' text-anchor='end'>{y_high:.2f}</text>"]
    for label, x, y in points:
        px, py = at(x, y)
        parts.append(f"<circle cx='{px:.1f}' cy='{py:.1f}' r='4' fill='#3b73b9'><title>"
                     f"{escape(str(label))}: {x:.3f}, {y:.3f}</title></circle>"
                     f"<text x='{px + 6:.1f}' y='{py + 4:.1f}' font-size='10'>{escape(_clip(str(label), 80))}</text>")
    return (f"<svg role='img' aria-label='{escape(title)}' width='{left + size + 90}' height='{top + size + 40}'>"
            f"<text x='0' y='14' font-size='13' font-weight='bold'>{escape(title)}</text>{''.join(parts)}</svg>")


def line_chart(title: str, values: list[tuple[str, float]], width: int = 420, height: int = 140) -> str:
    """A series over periods (label, value) as an SVG line with its points, the first and last period
    named below and the highest value beside the axis."""
    if not values:
        return ""
    left, top = 70, 24
    high = max(v for _, v in values) or 1
    step = width / max(len(values) - 1, 1)
    points = [(left + step * i, top + height - height * v / high) for i, (_, v) in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dots = "".join(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='#3b73b9'><title>{escape(str(label))}: "
                   f"{value:,.2f}</title></circle>" for (x, y), (label, value) in zip(points, values))
    shown = f"{high:,.0f}" if abs(high) >= 1000 else f"{high:.3g}"
    return (f"<svg role='img' aria-label='{escape(title)}' width='{left + width + 40}' height='{top + height + 34}'>"
            f"<text x='0' y='14' font-size='13' font-weight='bold'>{escape(title)}</text>"
            f"<line x1='{left}' y1='{top + height}' x2='{left + width}' y2='{top + height}' stroke='#cfd6de'/>"
            f"<text x='{left - 4}' y='{top + 10}' font-size='10' text-anchor='end'>{shown}</text>"
            f"<text x='{left - 4}' y='{top + height}' font-size='10' text-anchor='end'>0</text>"
            f"<polyline points='{path}' fill='none' stroke='#3b73b9' stroke-width='2'/>{dots}"
            f"<text x='{left}' y='{top + height + 16}' font-size='10'>{escape(str(values[0][0]))}</text>"
            f"<text x='{left + width}' y='{top + height + 16}' font-size='10' text-anchor='end'>"
            f"{escape(str(values[-1][0]))}</text></svg>")


def charts(*svgs: str) -> str:
    """Charts side by side, wrapping on a narrow screen."""
    shown = [svg for svg in svgs if svg]
    return f"<div class='charts'>{''.join(shown)}</div>" if shown else ""


def _text_width(text: str) -> int:
    """Pixels a 12-pixel label takes, roughly: a Chinese character 12, anything else 7."""
    return sum(12 if ord(c) > 0x2E80 else 7 for c in text)


def _clip(text: str, width: int) -> str:
    while len(text) > 1 and _text_width(text) + 12 > width:
        text = text[:-2] + "…"
    return text


def login_page(csrf: str, error: str = "") -> str:
    """The sign-in form: the token is posted, never put in a URL."""
    message = f"<p class='error'>{escape(error)}</p>" if error else ""
    form = (f"{message}<form class='login' method='post' action='/ui/login'>"
            f"<input type='hidden' name='csrf' value='{escape(csrf)}'>"
            f"<label>访问令牌 Access token <input type='password' name='token' autocomplete='off' required></label>"
            f"<button type='submit'>登录 Sign in</button></form>")
    return page("登录 Sign in", form)
