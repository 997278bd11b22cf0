"""``casemix import`` and ``casemix serve``: the case store and the HTTP service."""

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from casemix.cli.options import DataOption, PolicyOption, SchemeOption, console
from casemix.cli.settle import grouped_cases
from casemix.grouping import Grouper
from casemix.policy import load_policy
from casemix.qc import QcEngine
from casemix.service import Principal, Store, create_app, load_tokens
from casemix.service.databases import DatabaseError
from casemix.settlement import Standards
from casemix.web import mount_ui
from casemix.weights import WeightCalibrator

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
    """Import a batch into the store with its groups and QC findings; the same file twice changes nothing."""
    grouper = Grouper.load(scheme, data, load_policy(policy).grouping)
    store = open_store(db)
    try:
        result = store.import_file(input, grouper, QcEngine.load(grouper))
        rejections = store.rejections(result.batch_id)
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
    history: Annotated[Path | None, typer.Option(help="cases to learn payment standards from")] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs): group, QC, in-stay prediction, stored cases and findings."""
    import uvicorn

    rules = load_policy(policy)
    grouper = Grouper.load(scheme, data, rules.grouping)
    standards: dict[str, Decimal] = {}
    if history:
        cases, results = grouped_cases(history, grouper)
        weights = WeightCalibrator(rules.weights).fit_grouped(cases, results)
        standards = Standards.of(weights).standard_cost
    low, high = rules.early_warning.cost_levels
    store, principals = open_store(db), load_tokens(tokens)
    app = create_app(grouper, store, principals, standard_cost=standards, cost_levels=(low, high))
    mount_ui(app, store, principals, grouper, rules.weights)
    console.print(f"casemix service on http://{host}:{port}: dashboard /ui/login?token=…, OpenAPI /docs")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def serve_demo(db: Path, data: Path, port: int) -> None:
    """Serve the demo store with fresh one-off tokens and print where to sign in."""
    import secrets

    import uvicorn

    tokens = {secrets.token_urlsafe(12): Principal("bureau"), secrets.token_urlsafe(12): Principal("hospital", "H001")}
    grouper = Grouper.load("chs-drg-2.0", data)
    store = Store(db)
    app = create_app(grouper, store, tokens)
    mount_ui(app, store, tokens, grouper)
    for token, who in tokens.items():
        label = "医保局 bureau" if who.role == "bureau" else f"医院 hospital {who.hospital_id}"
        console.print(f"{label}: http://127.0.0.1:{port}/ui/login?token={token}")
    console.print(f"API docs: http://127.0.0.1:{port}/docs — Ctrl-C to stop")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
