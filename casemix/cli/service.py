"""``casemix import`` and ``casemix serve``: the case store and the HTTP service."""

from pathlib import Path
from typing import Annotated

import typer

from casemix.cli.options import DataOption, PolicyOption, SchemeOption, console
from casemix.cli.progress import progress_bar
from casemix.datadir import resolve_data_dir
from casemix.errors import DatabaseError
from casemix.grouping import Grouper
from casemix.pipelines import claim_auditor, payment_standards, read_grouped
from casemix.policy import load_policy
from casemix.qc import QcEngine
from casemix.schemes.dip import load_catalogue
from casemix.service import Limits, Principal, Store, load_tokens
from casemix.service.learned import learned
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
    max_body_bytes: Annotated[int, typer.Option(help="largest request body accepted")] = Limits().max_body_bytes,
    request_timeout: Annotated[float, typer.Option(help="seconds before a request is answered 503")
                               ] = Limits().request_timeout_s,
    scheme: SchemeOption = "chs-drg-2.0",
    data: DataOption = None,
    policy: PolicyOption = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the dashboard (/ui/login), settling and auditing under --policy."""
    import uvicorn

    principals = load_tokens(tokens)
    rules = load_policy(policy)
    grouper = Grouper.load(scheme, data, rules.grouping)
    past = read_grouped(history, grouper).grouped if history else None
    standards = payment_standards(past, rules) if past else {}
    claims = claim_auditor(past, rules, grouper, resolve_data_dir(data)) if past else None
    catalogue = load_catalogue(dip_catalogue) if dip_catalogue else None
    store = open_store(db)
    app = build_service(grouper, store, principals, rules, standards, catalogue, claims,
                        Limits(max_body_bytes, request_timeout))
    console.print(f"casemix service on http://{host}:{port} under policy {rules.name}: dashboard /ui/login, "
                  "OpenAPI /docs")
    uvicorn.run(app, host=host, port=port, log_level="warning")


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
