"""Options and console shared by the casemix commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from casemix.datadir import ENV_VAR
from casemix.schemes import SCHEMES

console = Console(soft_wrap=True)

DataOption = Annotated[Path | None, typer.Option("--data", help=f"reference data directory (else ${ENV_VAR}, "
                                                 "else ../shared/data)")]
SchemeOption = Annotated[str, typer.Option("--scheme", help=f"one of {', '.join(SCHEMES)}")]
PolicyOption = Annotated[Path | None, typer.Option("--policy", help="policy TOML file or packaged name, e.g. "
                                                   "zhejiang-drg-points-2019 (default: national default)")]
