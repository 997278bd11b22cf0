"""``casemix regroup-compare``: the same cases under two schemes, flows and money (版本升级对比)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from casemix.cli.options import DataOption, PolicyOption, console, money
from casemix.grouping import Grouper
from casemix.policy import load_policy
from casemix.records.io import check_output, read_cases, write_table
from casemix.upgrade import VersionComparison, compare_versions


def regroup_compare(
    input: Annotated[Path, typer.Argument(help="cases with costs (and hospital_id): .csv, .xlsx or .parquet")],
    output: Annotated[Path, typer.Option("--output", "-o", help="flow table: .csv, .xlsx or .parquet; also "
                                                                 "-hospitals, -ungroupable and -cases files")],
    from_scheme: Annotated[str, typer.Option("--from", help="the scheme in force, e.g. chs-drg-1.1")] = "chs-drg-1.1",
    to_scheme: Annotated[str, typer.Option("--to", help="the scheme to move to, e.g. chs-drg-2.0")] = "chs-drg-2.0",
    pool: Annotated[str | None, typer.Option(help="元 shared by points under both schemes "
                                                  "(default: the cases' total cost)")] = None,
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Compare two grouping schemes on the same cases: DRG flow, points and payment per hospital (一键升级)."""
    check_output(output, input)
    rules = load_policy(policy)
    old, new = Grouper.load(from_scheme, data, rules.grouping), Grouper.load(to_scheme, data, rules.grouping)
    cases, rejected = read_cases(input)
    if not cases:
        raise typer.BadParameter(f"{input}: no valid case to compare")
    comparison = compare_versions(cases, old, new, rules, money(pool) if pool else None)
    files = _write(comparison, output)
    moved = sum(m.moved for m in comparison.moves)
    console.print(f"{len(cases):,} cases ({len(rejected)} rejected rows left out): {moved:,} change DRG from "
                  f"{comparison.from_scheme} to {comparison.to_scheme}; {len(comparison.newly_ungroupable)} "
                  f"become 0000 or QY; pool {comparison.pool} 元 shared by points under both")
    for hospital in sorted(comparison.hospitals, key=lambda h: abs(h.change), reverse=True)[:5]:
        console.print(f"  {hospital.hospital_id or '(no hospital)':<12} {hospital.payment_before:>16} → "
                      f"{hospital.payment_after:>16} 元  ({hospital.change:+})", highlight=False)
    console.print("→ " + ", ".join(str(f) for f in files))


def _write(comparison: VersionComparison, output: Path) -> list[Path]:
    def beside(name: str) -> Path:
        return output.with_name(f"{output.stem}-{name}{output.suffix}")

    names = {**_names(comparison, "before"), **_names(comparison, "after")}
    flows = [[a, names.get(a, ""), b, names.get(b, ""), str(n), "no" if a == b else "yes"]
             for (a, b), n in sorted(comparison.flows.items(), key=lambda item: (-item[1], item[0]))]
    hospitals = [[h.hospital_id, str(h.cases), str(h.points_before), str(h.points_after), str(h.payment_before),
                  str(h.payment_after), str(h.change)] for h in comparison.hospitals]
    lost = [[m.case.id, m.case.hospital_id or "", m.before.drg, m.after.drg, m.after.status, m.after.reason]
            for m in comparison.newly_ungroupable]
    cases = [[m.case.id, m.case.hospital_id or "", m.before.drg, m.after.drg, str(m.points_before),
              str(m.points_after)] for m in comparison.moves]
    return [
        write_table(output, ["from_drg", "from_name", "to_drg", "to_name", "cases", "moved"], flows),
        write_table(beside("hospitals"), ["hospital_id", "cases", "points_from", "points_to", "payment_from",
                                          "payment_to", "change"], hospitals),
        write_table(beside("ungroupable"), ["id", "hospital_id", "from_drg", "to_drg", "to_status", "reason"], lost),
        write_table(beside("cases"), ["id", "hospital_id", "from_drg", "to_drg", "points_from", "points_to"], cases),
    ]


def _names(comparison: VersionComparison, side: str) -> dict[str, str]:
    return {getattr(m, side).drg: getattr(m, side).drg_name for m in comparison.moves}
