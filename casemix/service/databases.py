"""The two databases behind the store: an embedded DuckDB file, or a PostgreSQL server for many users.

The store writes one SQL dialect (``?`` placeholders, types both engines know) and hands bulk rows
over as Polars frames; each database loads them its own fast way (DuckDB scans the frame's Arrow
buffers in place, PostgreSQL takes ``COPY``). Every call holds the database's lock, so one store can
serve the request threads of a web server; across processes, PostgreSQL's own locking keeps concurrent
writers apart.
"""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from casemix.errors import DatabaseError

COPY_ROWS = 50_000          # rows per COPY chunk, so a million-case batch is never one CSV in memory


def connect(target: str | Path) -> DuckDb | Postgres:
    """``postgresql://user@host:port/dbname`` opens PostgreSQL; anything else is a DuckDB file (or ``:memory:``)."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return Postgres(text)
    return DuckDb(text)


def upsert_sql(table: str, columns: list[str], key: tuple[str, ...], source: str) -> str:
    """Insert rows, replacing those whose key is already stored (both engines speak ``ON CONFLICT``)."""
    names = ", ".join(columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return (f"INSERT INTO {table} ({names}) SELECT {names} FROM {source} "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}")


class _Database:
    """What both engines share: the lock, row dicts, and the three bulk writes built on ``_staged``."""

    kind = ""
    where = ""              # for messages: the file, or the server URL without its password

    def __init__(self) -> None:
        self.lock = threading.RLock()

    def rows(self, sql: str, params: list[Any] | tuple = ()) -> list[dict[str, Any]]:
        with self.lock:
            cursor = self._run(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def tuples(self, sql: str, params: list[Any] | tuple = ()) -> list[tuple]:
        with self.lock:
            return self._run(sql, params).fetchall()

    def frame(self, sql: str, params: list[Any] | tuple, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        """A query's rows as a typed frame (columns named and ordered as ``schema``)."""
        return pl.DataFrame(self.tuples(sql, params), schema=schema, orient="row")

    def one(self, sql: str, params: list[Any] | tuple = ()) -> tuple | None:
        with self.lock:
            return self._run(sql, params).fetchone()

    def execute(self, sql: str, params: list[Any] | tuple = ()) -> None:
        with self.lock:
            self._run(sql, params)

    def append(self, table: str, frame: pl.DataFrame) -> None:
        if frame.height:
            with self._staged(table, frame) as source:
                names = ", ".join(frame.columns)
                self.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {source}")

    def upsert(self, table: str, frame: pl.DataFrame, key: tuple[str, ...]) -> None:
        if frame.height:
            with self._staged(table, frame) as source:
                self.execute(upsert_sql(table, frame.columns, key, source))

    def scratch_table(self, name: str, like: str) -> None:
        """An empty table ``name`` with the columns of ``like`` and none of its keys or indexes, to load in bulk
        and merge from; it replaces one an unfinished write left behind. :meth:`drop` it after."""
        raise NotImplementedError

    def drop(self, name: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {name}")

    def delete_matching(self, table: str, keys: pl.DataFrame) -> None:
        """Delete the rows of ``table`` whose values in the frame's columns match a row of the frame."""
        if keys.height:
            with self._staged(table, keys) as source:
                names = ", ".join(keys.columns)
                self.execute(f"DELETE FROM {table} WHERE ({names}) IN (SELECT {names} FROM {source})")


DUCKDB_MAGIC = b"DUCK"          # bytes 8–11 of every DuckDB database file


def _check_duckdb_file(path: str) -> None:
    """Refuse an existing file that is not a DuckDB database: DuckDB would open a CSV or Parquet file as a
    read-only view instead of saying so, and a store must never be a user's data file."""
    file = Path(path)
    if path == ":memory:" or not file.exists():
        return
    if file.is_dir():
        raise DatabaseError(f"{path}: is a folder, not a DuckDB store")
    with file.open("rb") as f:
        head = f.read(12)
    if head and head[8:12] != DUCKDB_MAGIC:
        raise DatabaseError(f"{path}: exists and is not a DuckDB store; name a new file or an existing store")


class _ArrowStream:
    """A polars frame as an Arrow C stream (the PyCapsule interface), which DuckDB scans without pyarrow:
    each scan asks for a fresh stream."""

    def __init__(self, frame: pl.DataFrame):
        self.frame = frame

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self.frame.__arrow_c_stream__(requested_schema)


class DuckDb(_Database):
    kind = "duckdb"

    def __init__(self, path: str):
        super().__init__()
        self.where = path
        _check_duckdb_file(path)
        try:
            self.connection = duckdb.connect(path)
        except duckdb.Error as error:
            raise DatabaseError(f"cannot open the DuckDB store {path}: {error}") from error
        self.depth = 0
        self.staged = 0             # frames registered so far, each under a name of its own

    def _run(self, sql: str, params: list[Any] | tuple) -> Any:
        return self.connection.execute(sql, list(params))

    def frame(self, sql: str, params: list[Any] | tuple, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        """A query's rows as a typed frame, handed over in columns as Parquet rather than row by row (as
        ``_staged`` does the other way)."""
        with self.lock, tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "rows.parquet"
            self._run(f"COPY ({sql}) TO '{path.as_posix()}' (FORMAT parquet)", params)
            return pl.read_parquet(path).cast(schema).select(list(schema))

    @contextmanager
    def transaction(self, exclusive: bool = False) -> Iterator[None]:
        """All or nothing; one DuckDB file has one writing process, so ``exclusive`` needs only the lock."""
        with self.lock:
            self.depth += 1
            if self.depth == 1:
                self.connection.execute("BEGIN TRANSACTION")
            try:
                yield
            except BaseException:
                if self.depth == 1:
                    self.connection.execute("ROLLBACK")
                raise
            else:
                if self.depth == 1:
                    self.connection.execute("COMMIT")
            finally:
                self.depth -= 1

    @contextmanager
    def _staged(self, table: str, frame: pl.DataFrame) -> Iterator[str]:
        """The frame registered as a view DuckDB scans in place, through the Arrow C stream interface (no
        copy, no file, and no pyarrow)."""
        self.staged += 1
        name = f"casemix_stage_{self.staged}"
        self.connection.register(name, _ArrowStream(frame))
        try:
            yield name
        finally:
            self.connection.unregister(name)

    def scratch_table(self, name: str, like: str) -> None:
        """In the store's file, so what is loaded is compressed and kept out of memory, not a temporary table
        (held in memory); one DuckDB file has one writing process, so the name is its own."""
        self.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {like} LIMIT 0")

    def close(self) -> None:
        self.connection.close()


class Postgres(_Database):
    kind = "postgresql"

    def __init__(self, url: str):
        super().__init__()
        self.url, self.where = url, _without_password(url)
        self.depth = 0              # transactions open on this connection
        self.staged = 0
        self.connection = self._connect()

    def _connect(self) -> Any:
        try:
            import psycopg
        except ImportError as error:
            raise DatabaseError("PostgreSQL needs psycopg: pip install 'casemix[postgres]'") from error
        try:
            return psycopg.connect(self.url, autocommit=True)
        except psycopg.Error as error:
            raise DatabaseError(f"cannot connect to PostgreSQL at {self.where}: {error}") from error

    def _live(self) -> Any:
        """The connection, opened again if the server dropped it (a restart): the call that met the drop
        failed, the next one works. Never replaced inside a transaction, which must fail whole."""
        if self.connection.broken and not self.depth:
            self.connection = self._connect()
        return self.connection

    def _run(self, sql: str, params: list[Any] | tuple) -> Any:
        if params:
            sql = sql.replace("%", "%%").replace("?", "%s")
        return self._live().execute(sql, list(params) or None)

    @contextmanager
    def transaction(self, exclusive: bool = False) -> Iterator[None]:
        """All or nothing; ``exclusive`` also waits for any other process's exclusive transaction to end
        (a transaction-level advisory lock), so two importers never interleave their writes."""
        with self.lock, self._live().transaction():
            self.depth += 1
            try:
                if exclusive:
                    self.connection.execute("SELECT pg_advisory_xact_lock(hashtext('casemix.store'))")
                yield
            finally:
                self.depth -= 1

    def scratch_table(self, name: str, like: str) -> None:
        """A temporary table: this connection's own, so importers in other processes never meet it."""
        self.execute(f"DROP TABLE IF EXISTS pg_temp.{name}")
        self.execute(f"CREATE TEMPORARY TABLE {name} (LIKE {like})")

    def drop(self, name: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS pg_temp.{name}")

    def append(self, table: str, frame: pl.DataFrame) -> None:
        """COPY the frame straight into ``table`` (PostgreSQL parses each value into the column's type)."""
        if frame.height:
            with self.lock:
                self._copy(table, frame)

    def _copy(self, table: str, frame: pl.DataFrame) -> None:
        with self._live().cursor().copy(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN (FORMAT csv)") as copy:
            for chunk in frame.iter_slices(COPY_ROWS):
                buffer = io.BytesIO()
                chunk.write_csv(buffer, include_header=False)
                copy.write(buffer.getvalue())

    @contextmanager
    def _staged(self, table: str, frame: pl.DataFrame) -> Iterator[str]:
        """COPY the frame into a temporary table shaped like ``table``'s columns, so PostgreSQL parses
        each value into the target column's type; the table and what is done with it commit together."""
        with self.transaction():
            self.staged += 1
            stage = f"casemix_stage_{self.staged}"
            names = ", ".join(frame.columns)
            self.connection.execute(f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS "
                                    f"SELECT {names} FROM {table} WITH NO DATA")
            self._copy(stage, frame)
            yield stage

    def close(self) -> None:
        self.connection.close()


def _without_password(url: str) -> str:
    """The URL for an error message, with any password blanked."""
    head, at, tail = url.rpartition("@")
    if not at or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, user = head.partition("//")
    return f"{scheme}//{user.split(':', 1)[0]}:***@{tail}"
