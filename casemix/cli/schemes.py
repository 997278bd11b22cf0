"""``casemix scheme-check``: load a regional scheme or a bureau's scheme folder and report what it holds."""

from __future__ import annotations

from typing import Annotated

import typer

from casemix.cli.options import DataOption, console
from casemix.datadir import resolve_data_dir
from casemix.errors import SchemeError
from casemix.schemes.chs_drg_30 import NAME as CHS_DRG_30
from casemix.schemes.chs_drg_30 import load_chs_drg_30
from casemix.schemes.regional import find_regional, load_regional, scheme_report


def scheme_check(
    scheme: Annotated[str, typer.Argument(help="chs-drg-3.0, a region of chs-drg-regional (zhejiang_2022) "
                                               "or a scheme folder")],
    data: DataOption = None,
) -> None:
    """Check a scheme folder (分组方案校验): layout and grammar errors name file, line and column;
    the source's own gaps (empty lists, DRGs no split row returns) are listed, not fatal."""
    root = resolve_data_dir(data)
    if scheme == CHS_DRG_30:
        loaded = load_chs_drg_30(root)
    else:
        folder = find_regional(scheme, root)
        if folder is None:
            raise SchemeError(f"{scheme}: no region of that name and no such folder")
        loaded = load_regional(folder)
    counts, problems = scheme_report(loaded)
    console.print(f"{loaded.folder}: " + ", ".join(f"{value} {key}" for key, value in counts.items()), highlight=False)
    console.print(f"{len(problems)} gap(s) in the source (grouping goes on: such a term is never true)")
    for problem in problems:
        console.print(f"  {problem}", highlight=False, markup=False)
