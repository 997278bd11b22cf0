"""``casemix import`` and ``casemix serve``: the case store and the HTTP service."""

from pathlib import Path
from typing import Annotated

import typer

from casemix.cli.options import DataOption, PolicyOption, SchemeOption, console
from casemix.cli.progress import progress_bar
from casemix.errors import DatabaseError
from casemix.grouping import Grouper
from casemix.policy import load_policy
from casemix.qc import QcEngine
from casemix.service import Limits, Principal, Store, serving
from casemix.service.learned import learned
from casemix.service.serving import ServeOptions, check_workers
from casemix.service.site import build_service

DbOption = Annotated[str, typer.Option("--db", envvar="CASEMIX_DB",
                                        help="the case store: a DuckDB file, or a postgresql://user@host/dbname URL")]
SHOWN_REJECTIONS = 10


def import_cases(
    input: Annotated[Path, typer.Argument(help="a batch of cases: .csv, .xlsx or .parquet")],
    db: DbOption = "casemix.duckdb",
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Import a batch into the store with its groups and QC findings, and learn the dashboard's weights and
    indicators from the whole store; the same file twice changes nothing."""
    rules = load_policy(policy)
    grouper = Grouper.load(scheme, data, rules.grouping)
    store = open_store(db)
    try:
        with progress_bar("grouping 分组") as report:
            result = store.import_file(input, grouper, QcEngine.load(grouper), report)
        rejections = store.rejections(result.batch_id)
        learned(store, rules.weights)           # the dashboard's weights and indicators, kept in the store
    finally:
        store.close()
    state = "imported" if result.new else "already imported, nothing changed"
    console.print(f"batch {result.batch_id}: {state}; {result.rows_in} rows, {result.cases} cases, "
                  f"{result.rejected} rejected → {store}")
    for row in rejections[:SHOWN_REJECTIONS]:
        console.print(f"  row {row['row_number']} record {row['record_id']} field {row['field']}: {row['reason']}")
    if len(rejections) > SHOWN_REJECTIONS:
        console.print(f"  … and {len(rejections) - SHOWN_REJECTIONS} more (table rejections, batch {result.batch_id})")


def open_store(db: str) -> Store:
    try:
        return Store(db)
    except DatabaseError as error:
        raise typer.BadParameter(str(error), param_hint="--db") from error


def serve(
    tokens: Annotated[Path, typer.Option(help="TOML [tokens] table: token = { role, hospital_id }")],
    db: DbOption = "casemix.duckdb",
    history: Annotated[Path | None, typer.Option(help="cases to learn payment standards and audit norms from")
                       ] = None,
    dip_catalogue: Annotated[Path | None, typer.Option(help="DIP catalogue for settlements with method dip")] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes; more than one needs a PostgreSQL --db")
                       ] = 1,
    max_body_bytes: Annotated[int, typer.Option(help="largest request body accepted")] = Limits().max_body_bytes,
    request_timeout: Annotated[float, typer.Option(help="seconds before a request is answered 503")
                               ] = Limits().request_timeout_s,
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the dashboard (/ui/login), settling and auditing under --policy."""
    options = ServeOptions(str(tokens), db, _text(history), _text(dip_catalogue), max_body_bytes, request_timeout,
                           scheme, _text(data), _text(policy))
    try:
        check_workers(db, workers)
    except DatabaseError as error:
        raise typer.BadParameter(str(error), param_hint="--workers") from error
    console.print(f"casemix service on http://{host}:{port} ({workers} worker{'s' * (workers > 1)}): "
                  "dashboard /ui/login, OpenAPI /docs")
    serving.serve(options, host, port, workers)


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def serve_demo(db: Path, data: Path, port: int) -> None:
    """Serve the demo store with fresh one-off tokens and print how to sign in."""
    import secrets

    import uvicorn

    tokens = {secrets.token_urlsafe(32): Principal("bureau"), secrets.token_urlsafe(32): Principal("hospital", "H001")}
    grouper = Grouper.load("chs-drg-2.0", data)
    app = build_service(grouper, Store(db), tokens, load_policy())
    console.print(f"sign in at http://127.0.0.1:{port}/ui/login with one of these tokens (valid until Ctrl-C):")
    for token, who in tokens.items():
        console.print(f"  {who.label}: {token}", highlight=False, markup=False)
    console.print(f"API docs: http://127.0.0.1:{port}/docs — Ctrl-C to stop")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
