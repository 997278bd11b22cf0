"""The ``casemix`` command (extra ``cli``; ``import`` and ``serve`` also need the ``service`` extra)."""


def main() -> None:
    """Run the command, or say which extra to install when the command-line packages are missing."""
    try:
        from casemix.cli.main import app
    except ModuleNotFoundError as missing:
        if missing.name not in ("typer", "rich", "click", "fastapi", "uvicorn", "duckdb", "starlette"):
            raise
        raise SystemExit(f"casemix: the command line needs {missing.name}: pip install 'casemix[all]'") from None
    app()
