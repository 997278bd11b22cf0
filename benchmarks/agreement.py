"""DRG and ADRG agreement with the reference open grouper's results in chs-drg-regional/expected/.

    python benchmarks/agreement.py [--scheme chs-drg-1.1] [--policy NAME] [--data DIR] [--region R ...]

Groups samples/cases_13239_with_cost.csv once per expected file under ``--scheme`` (default: the
file's own region, e.g. ``zhejiang_2022``) and prints, per file, the share of cases whose DRG and
ADRG equal the expected ones, with the count of differing cases by (ours, theirs) status pair.
The expected files come from OpenDRG/DRG_Python, not from casemix: see that folder's README.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import Counter

from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper, group_rows
from casemix.records import RowReader

# OpenDRG's status words → casemix status (CHECK: its input check refused the row)
_STATUS = {"分组成功": "grouped", "歧义病案": "qy", "无法入组": "ungroupable", "信息校验不通过": "rejected"}


def expected(path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return {r["case_id"]: r for r in csv.DictReader(f)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheme", default=None)
    parser.add_argument("--policy", default=None)
    parser.add_argument("--data", default=None)
    parser.add_argument("--region", nargs="*", default=None)
    args = parser.parse_args()
    data = resolve_data_dir(args.data)
    folder = data / "chs-drg-regional" / "expected"
    regions = args.region or sorted(p.stem for p in folder.glob("*.csv"))
    with (data / "samples" / "cases_13239_with_cost.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    headers, rows = rows[0], rows[1:]
    for region in regions:
        started = time.perf_counter()
        grouper = Grouper.load(args.scheme or region, data, args.policy)
        theirs = expected(folder / f"{region}.csv")
        drg = adrg = 0
        pairs: Counter = Counter()
        for result in group_rows(grouper, RowReader(headers), rows):
            other = theirs[result.case_id]
            their_drg = other["drg"] if other["drg"] not in ("0000A", "CHECK") else "0000"
            ours = result.drg if result.status != "rejected" else "0000"
            drg += ours == their_drg
            adrg += result.adrg == other["adrg"] or ours == their_drg
            if ours != their_drg:
                pairs[(result.status, _STATUS.get(other["status"], other["status"]))] += 1
        n = len(rows)
        print(f"{region:<16} scheme {args.scheme or region:<16} DRG {drg / n:8.4%} ({n - drg:>5} differ)  "
              f"ADRG {adrg / n:8.4%}  {time.perf_counter() - started:5.1f} s  "
              + ", ".join(f"{a}/{b}: {k}" for (a, b), k in pairs.most_common(4)))


if __name__ == "__main__":
    main()
