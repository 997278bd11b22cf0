"""The layout keeps its promises: engines install without the web stack, every imported package is
declared, only the service reaches the API module, and every policy key is documented with its default."""

import ast
import dataclasses
import re
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from casemix.policy import AuditPolicy, GroupingPolicy, SettlementPolicy, WarningPolicy, WeightsPolicy

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "casemix"
# import name → distribution name, for the third-party packages casemix may import
DISTRIBUTIONS = {"pydantic": "pydantic", "pydantic_core": "pydantic-core", "openpyxl": "openpyxl",
                 "polars": "polars", "typer": "typer", "rich": "rich", "fastapi": "fastapi",
                 "starlette": "starlette", "uvicorn": "uvicorn", "duckdb": "duckdb", "psycopg": "psycopg",
                 "pyspark": "pyspark", "pyarrow": "pyarrow"}
WEB_STACK = ("fastapi", "starlette", "uvicorn", "duckdb", "typer", "rich", "psycopg")
ENGINES = ("grouping", "schemes", "codes", "records", "weights", "settlement", "qc", "audit", "analytics",
           "pipelines", "policy")


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values()
                                                 for r in extra)]
    return {r.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip() for r in requirements}


def test_every_third_party_package_casemix_imports_is_declared():
    standard = set(sys.stdlib_module_names) | {"casemix"}
    used = {root for path in PACKAGE.rglob("*.py") for root in imported_roots(path)} - standard
    assert used <= set(DISTRIBUTIONS), f"map these to their distributions: {used - set(DISTRIBUTIONS)}"
    assert {DISTRIBUTIONS[root] for root in used} <= declared()


def test_the_engines_import_without_the_web_stack_or_the_command_line():
    blocked = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {WEB_STACK!r}:
            raise ModuleNotFoundError(name, name=name)
sys.meta_path.insert(0, Block())
""" + "".join(f"import casemix.{engine}\n" for engine in ENGINES)
    result = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_no_engine_imports_a_face_and_only_the_service_imports_the_api_module():
    for path in PACKAGE.rglob("*.py"):
        modules = {n.module for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                   if isinstance(n, ast.ImportFrom) and n.module}
        relative = path.relative_to(PACKAGE).parts
        if relative[0] != "service":
            assert "casemix.service.app" not in modules, path
        if relative[0] in ENGINES:
            assert not {m for m in modules if m.startswith(("casemix.service", "casemix.web", "casemix.cli"))}, path


@pytest.mark.parametrize("section, cls", [("grouping", GroupingPolicy), ("weights", WeightsPolicy),
                                          ("settlement", SettlementPolicy), ("audit", AuditPolicy),
                                          ("early_warning", WarningPolicy)])
def test_every_policy_key_is_documented_in_the_default_policy_with_its_default(section, cls):
    text = resources.files("casemix.policy").joinpath("default.toml").read_text(encoding="utf-8")
    table = tomllib.loads(text)[section]
    lines = text.splitlines()
    for field in dataclasses.fields(cls):
        assert table.get(field.name) == getattr(cls(), field.name), f"[{section}].{field.name}"
        above = next(i for i, line in enumerate(lines) if line.startswith(f"{field.name} =")) - 1
        while re.match(r"^[a-z_0-9]+ = ", lines[above]):        # keys documented together by one comment
            above -= 1
        assert lines[above].startswith("#"), f"[{section}].{field.name} has no comment above it"
