"""casemix on Spark (the ``spark`` extra): the same engines, run partition by partition on a cluster or
``local[N]``. The only package that imports pyspark; nothing outside it imports this one except the faces."""

from casemix.spark.grouping import GrouperSpec, group_file_spark, group_table
from casemix.spark.reading import CaseTable, read_case_table
from casemix.spark.session import DEFAULT_MASTER, ENGINES, check_engine, java_runtime, spark_session

__all__ = ["DEFAULT_MASTER", "ENGINES", "CaseTable", "GrouperSpec", "check_engine", "group_file_spark",
           "group_table", "java_runtime", "read_case_table", "spark_session"]
