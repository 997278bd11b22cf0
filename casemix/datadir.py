"""Where the reference tables live.

The national tables are never copied into the repository: they are read at run time from a data
directory named by a flag, else by the ``CASEMIX_DATA`` environment variable, else ``../shared/data``
beside the current directory (the layout of this workspace and of CI).
"""

from __future__ import annotations

import os
from pathlib import Path

from casemix.errors import DataDirError

ENV_VAR = "CASEMIX_DATA"


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    candidates = [explicit, os.environ.get(ENV_VAR), Path.cwd().parent / "shared" / "data",
                  Path.cwd() / "shared" / "data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate).resolve()
    raise DataDirError(
        f"no reference data directory: pass --data DIR or set {ENV_VAR} "
        "(the folder holding chs-drg-2.0/, icd/, samples/ …)"
    )


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise DataDirError(f"reference table missing: {path}")
    return path
