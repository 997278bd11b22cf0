"""Shared fixtures: the real reference tables from the data directory, read independently of casemix."""

from __future__ import annotations

import csv
import itertools
import os
import re
from functools import cache
from pathlib import Path

import pytest

from casemix.datadir import resolve_data_dir
from casemix.grouping import Grouper
from casemix.policy import GroupingPolicy

DATA = resolve_data_dir()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def spark():
    """One Spark session in local mode (local[2]) for the run. Skipped without pyspark or a Java runtime,
    unless CASEMIX_REQUIRE_SPARK=1 (as in CI), where that fails instead."""
    from casemix.spark import java_runtime, spark_session

    try:
        import pyspark  # noqa: F401
        missing = None if java_runtime() else "no Java runtime (Debian package openjdk-17-jre-headless)"
    except ImportError:
        missing = "pyspark is not installed (pip install 'casemix[spark]')"
    if missing:
        if os.environ.get("CASEMIX_REQUIRE_SPARK") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server (see pgserver.py); call it for the URL of a fresh, empty database."""
    from pgserver import PostgresServer, server_binaries

    binaries = server_binaries()
    if binaries is None:
        message = "PostgreSQL server binaries not found (Debian package postgresql)"
        if os.environ.get("CASEMIX_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(binaries)
    server.start()
    numbers = itertools.count(1)
    yield lambda: server.create_database(f"casemix_test_{next(numbers)}")
    server.stop()


@pytest.fixture(params=["duckdb", "postgresql"])
def store_target(request, tmp_path):
    """Where a fresh store lives: a DuckDB file, then a new PostgreSQL database (each test runs on both)."""
    if request.param == "duckdb":
        return tmp_path / "casemix.duckdb"
    return request.getfixturevalue("postgres")()


@pytest.fixture(scope="session")
def g20() -> Grouper:
    return Grouper.load("chs-drg-2.0", DATA)


@pytest.fixture(scope="session")
def g11() -> Grouper:
    return Grouper.load("chs-drg-1.1", DATA)


def grouper_with(scheme: str = "chs-drg-2.0", **policy) -> Grouper:
    return Grouper.load(scheme, DATA, GroupingPolicy(**policy))


@cache
def table(scheme: str, name: str) -> tuple[dict[str, str], ...]:
    with (DATA / scheme / name).open(encoding="utf-8-sig", newline="") as f:
        return tuple(csv.DictReader(f))


CODE_LINE = re.compile(r"^[0-9A-Z]{2,3}\.[0-9A-Za-z]+ ")


def adrg_codes(adrg: str, header: str, scheme: str = "chs-drg-2.0") -> list[str]:
    """Codes listed under one section header of an ADRG's combined rule file.

    A code line the transcription took for a header ("17.98330 混合痔外剥内扎治疗") continues the
    list above it.
    """
    headers = next(r["section_headers_in_order"].split(" || ") for r in table(scheme, "adrg_rule_files.csv")
                   if r["adrg"] == adrg and not r["part"])
    owner = []
    for h in headers:
        owner.append(owner[-1] if CODE_LINE.match(h) and owner else h)
    return [r["code"] for r in table(scheme, "adrg_codes.csv")
            if r["adrg"] == adrg and not r["part"] and owner[int(r["section_no"]) - 1] == header]


def mdc_codes(mdc: str, scheme: str = "chs-drg-2.0") -> list[str]:
    return [r["code"] for r in table(scheme, "mdc_principal_dx.csv") if r["mdc"] == mdc]


def two_hospital_batch(folder: Path) -> Path:
    """cases_30.csv split over hospitals H001 (odd rows) and H002, with patient ids and made-up costs."""
    from casemix.records.io import read_table, write_table

    source = read_table(DATA / "samples" / "cases_30.csv")
    rows = [[*row[:-1], "H001" if i % 2 else "H002", f"P{i:04d}", str(3000 + 250 * i)]
            for i, row in enumerate(source.rows)]
    return write_table(folder / "batch.csv", [*source.headers[:-1], "hospital_id", "patient_id", "总费用"], rows)
