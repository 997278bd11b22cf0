"""``casemix policy check`` and ``casemix policy diff``: a policy file checked key by key, two compared."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from casemix.cli.options import console, reported
from casemix.policy import load_policy
from casemix.policy.diff import policy_diff, policy_sections

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="policy files (政策参数): check one, compare two")

PolicyArgument = Annotated[Path, typer.Argument(help="policy TOML file or packaged name (zhejiang-drg-points-2019)")]


@app.command()
@reported
def check(policy: PolicyArgument) -> None:
    """Read POLICY strictly: every section and key known, of its type, within its range (else one-line error)."""
    loaded = load_policy(policy)
    keys = sum(len(table) for table in policy_sections(loaded).values())
    console.print(f"{policy}: valid — {loaded.name} {loaded.version}, effective {loaded.effective_from}, "
                  f"{keys} keys (defaults filled in)", highlight=False, markup=False)


@app.command()
@reported
def diff(first: PolicyArgument, second: PolicyArgument) -> None:
    """List each key whose value differs between FIRST and SECOND, section by section (defaults filled in)."""
    differences = policy_diff(load_policy(first), load_policy(second))
    section = None
    for d in differences:
        if d.section != section:
            section = d.section
            console.print(f"[{section}]", highlight=False, markup=False)
        console.print(f"  {d.key}: {d.first!r} → {d.second!r}", highlight=False, markup=False)
    console.print(f"{len(differences)} keys differ between {first} and {second}", highlight=False, markup=False)
