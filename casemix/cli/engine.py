"""The ``--engine`` and ``--spark-master`` options shared by the commands that run on Spark too."""

from __future__ import annotations

from typing import Annotated

import typer

EngineOption = Annotated[str, typer.Option("--engine", help="local (this machine) or spark (needs the spark extra "
                                           "and a Java runtime)")]
SparkMasterOption = Annotated[str, typer.Option("--spark-master", help="with --engine spark: local[N], yarn, "
                                                "k8s://… or spark://…")]
