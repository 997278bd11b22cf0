"""A Spark session for casemix: ``local[N]`` on one machine or a cluster master, Python workers on this
interpreter, Arrow batches large enough that a worker groups thousands of cases per call.

The only module that starts Spark. Without pyspark (the ``spark`` extra) or without a Java runtime the
session is refused with :class:`~casemix.errors.EngineError`, a one-line message saying what to install.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING

from casemix.errors import EngineError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"
ARROW_BATCH_ROWS = 50_000       # rows handed to a worker per Arrow batch: the engine's per-call cost is amortised
LOCAL_SHUFFLE_PARTITIONS = 8    # by hospital or patient on one machine: Spark's 200 would be mostly empty tasks
# the driver's JVM heap in local mode (Spark's 1g ran out settling 1M stays); CASEMIX_SPARK_DRIVER_MEMORY sets
# another, spark-submit's --driver-memory sets it on a cluster
LOCAL_DRIVER_MEMORY = "3g"
ENGINES = ("local", "spark")


def check_engine(engine: str) -> str:
    """``engine`` if it is one of ``ENGINES``; else :class:`EngineError` naming the choices."""
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    return engine


def java_runtime() -> str | None:
    """The ``java`` Spark would start (``$JAVA_HOME/bin/java``, else on ``PATH``), or None."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


def spark_session(master: str = DEFAULT_MASTER, app_name: str = "casemix") -> SparkSession:
    """A Spark session on ``master`` (``local[2]``, ``yarn``, ``k8s://…``, ``spark://…``), reused if one is open.

    In local mode the Python workers run this interpreter, so they see the same casemix. Raises
    :class:`EngineError` when pyspark is not installed or no Java runtime is found."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError("--engine spark needs pyspark: pip install 'casemix[spark]'") from None
    if java_runtime() is None:
        raise EngineError("--engine spark needs a Java runtime (17): e.g. apt-get install openjdk-17-jre-headless, "
                          "or set JAVA_HOME")
    builder = SparkSession.builder.master(master).appName(app_name)
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        builder = (builder.config("spark.sql.shuffle.partitions", str(LOCAL_SHUFFLE_PARTITIONS))
                   .config("spark.driver.memory", os.environ.get("CASEMIX_SPARK_DRIVER_MEMORY", LOCAL_DRIVER_MEMORY)))
    session = (builder
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH_ROWS))
               .config("spark.sql.session.timeZone", "UTC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    return session
