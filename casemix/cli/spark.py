"""``casemix qc``, ``casemix settle`` and ``casemix audit`` with ``--engine spark``: the same use cases on Spark,
written as locally."""

from __future__ import annotations

import tempfile
import time
from decimal import Decimal
from pathlib import Path

from casemix.cli.options import console
from casemix.errors import EngineError
from casemix.pipelines.qc import QcReport
from casemix.policy import Policy
from casemix.records.outpatient import OutpatientVisit
from casemix.settlement import write_statements
from casemix.spark import GrouperSpec, spark_session
from casemix.spark.audit import SparkAudit, audit_on_spark
from casemix.spark.qc import QcSpec, qc_file_spark
from casemix.spark.settlement import line_frame, settle_spark

SHOWN_REJECTIONS = 10


def settle_on_spark(input: Path, budget: Decimal | None, output: Path, history: Path | None,
                    provisional_point_value: Decimal | None, suffix: str, spec: GrouperSpec, policy: Policy,
                    spark_master: str, **local_only: object) -> None:
    """Settle ``input`` on Spark and write the statements to ``output``; an option only the local engine
    has (``local_only``, when set) is a one-line :class:`EngineError`."""
    started = time.perf_counter()
    given = [name for name, value in local_only.items() if value]
    if given:
        raise EngineError(f"--{given[0].replace('_', '-')} is not yet on --engine spark: use --engine local")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{output.name}-lines-", dir=output.parent) as staging:
        done = settle_spark(spark_session(spark_master), spec, policy, input, budget, history,
                            provisional_point_value, Path(staging) / "lines")
        settled = done.settlement
        settled.case_lines = line_frame(done.lines)
        files = write_statements(settled, output, suffix)
    console.print(f"{done.rows_in:,} rows: {done.cases:,} cases settled, {len(done.rejections)} rejected, "
                  f"in {len(settled.statements)} hospitals, {time.perf_counter() - started:.1f} s on Spark")
    for rejection in done.rejections[:SHOWN_REJECTIONS]:
        console.print(f"  rejected: {rejection}", highlight=False, markup=False)
    console.print(f"pool {settled.pool} 元; reserve {settled.reserve} 元; point value {settled.point_value:.4f} 元/点; "
                  f"paid out {settled.total_paid} 元 (= pool: {settled.total_paid == settled.pool})")
    console.print(f"statements → {files[0].parent} ({len(files)} files)")


def qc_on_spark(input: Path, scheme: str, data: Path | None, policy: Path | None, rules: Path | None,
                spark_master: str) -> QcReport:
    """The QC report of ``input`` checked on Spark (:func:`casemix.spark.qc.qc_file_spark`)."""
    spec = QcSpec(GrouperSpec.of(scheme, data, policy), None if rules is None else str(rules))
    return qc_file_spark(spark_session(spark_master), spec, input)


def audit_files_on_spark(input: Path, history: Path | None, visits: list[OutpatientVisit], scheme: str,
                         data: Path | None, policy: Policy, spark_master: str) -> SparkAudit:
    """The flags on ``input`` audited on Spark (:func:`casemix.spark.audit.audit_on_spark`)."""
    spec = GrouperSpec.of(scheme, data, policy.grouping)
    return audit_on_spark(spark_session(spark_master), spec, policy, input, history, visits)
