"""``casemix scheme-check``: load a regional scheme or a bureau's scheme folder and report what it holds."""

from __future__ import annotations

from typing import Annotated

import typer

from casemix.cli.options import DataOption, console
from casemix.datadir import resolve_data_dir
from casemix.errors import SchemeError
from casemix.schemes.regional import find_regional, load_regional, scheme_report


def scheme_check(
    scheme: Annotated[str, typer.Argument(help="a region of chs-drg-regional (zhejiang_2022) or a scheme folder")],
    data: DataOption = None,
) -> None:
    """Check a scheme folder (分组方案校验): layout and grammar errors name file, line and column;
    the source's own gaps (empty lists, DRGs no split row returns) are listed, not fatal."""
    root = resolve_data_dir(data)
    folder = find_regional(scheme, root)
    if folder is None:
        raise SchemeError(f"{scheme}: no region of that name and no such folder")
    counts, problems = scheme_report(load_regional(folder))
    console.print(f"{folder}: " + ", ".join(f"{value} {key}" for key, value in counts.items()), highlight=False)
    console.print(f"{len(problems)} gap(s) in the source (grouping goes on: such a term is never true)")
    for problem in problems:
        console.print(f"  {problem}", highlight=False, markup=False)
