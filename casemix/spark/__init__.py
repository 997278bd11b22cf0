"""casemix on Spark (the ``spark`` extra): the same engines, run partition by partition on a cluster or
``local[N]``. The only package that imports pyspark, and only when a session starts; the engines never
import it, the command line does for ``--engine spark``."""

from casemix.spark.audit import SparkAudit, audit_on_spark
from casemix.spark.grouping import GrouperSpec, group_file_spark, group_table
from casemix.spark.outpatient import ApgSpec, SparkGroupedVisits, group_visits_spark
from casemix.spark.qc import QcSpec, qc_file_spark
from casemix.spark.reading import CaseTable, read_case_table
from casemix.spark.session import DEFAULT_MASTER, ENGINES, check_engine, java_runtime, spark_session
from casemix.spark.settlement import SparkSettlement, settle_spark

__all__ = ["DEFAULT_MASTER", "ENGINES", "ApgSpec", "CaseTable", "GrouperSpec", "QcSpec", "SparkAudit",
           "SparkGroupedVisits", "SparkSettlement", "audit_on_spark", "check_engine", "group_file_spark", "group_table",
           "group_visits_spark", "java_runtime", "qc_file_spark", "read_case_table", "settle_spark", "spark_session"]
