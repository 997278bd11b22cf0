"""Options and console shared by the casemix commands."""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from casemix.datadir import ENV_VAR
from casemix.errors import InputError
from casemix.pipelines.settle import MAX_BUDGET
from casemix.schemes import SCHEMES
from casemix.settlement import cents

console = Console(soft_wrap=True)

DataOption = Annotated[Path | None, typer.Option("--data", help=f"reference data directory (else ${ENV_VAR}, "
                                                 "else ../shared/data)")]
SchemeOption = Annotated[str, typer.Option("--scheme", help=f"one of {', '.join(SCHEMES)}, chs-drg-3.0 (preview), "
                                           "a region of chs-drg-regional (zhejiang_2022 …) or a scheme folder in "
                                           "that layout")]
PolicyOption = Annotated[Path | None, typer.Option("--policy", help="policy TOML file or packaged name, e.g. "
                                                   "zhejiang-drg-points-2019 (default: national default)")]


def reported(command: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input (an ``InputError``: missing data directory, bad policy or rule file, unreadable table, a
    table without a diagnosis column) ends the command with its one-line message and exit status 2. Any
    other exception is a bug and keeps its traceback."""
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InputError as error:
            console.print(f"[red]error:[/red] {escape(str(error))}")  # keeps "[settlement].key" visible
            raise typer.Exit(2) from None
    return run


def money(text: str) -> Decimal:
    """An amount in 元 as typed, to the cent; a word or a non-finite number is a one-line error."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not an amount in 元") from None
    if not amount.is_finite() or abs(amount) >= MAX_BUDGET:
        raise typer.BadParameter(f"{text!r} is not an amount in 元 (finite, under {MAX_BUDGET:.0e})")
    return cents(amount)
