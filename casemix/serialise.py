"""Plain values of casemix's result types, for JSON, tables and pages alike (one place, used by every face)."""

from __future__ import annotations

from typing import Any


def fields_of(item: Any) -> dict[str, Any]:
    """A slotted dataclass (a trace step, an indicator row, a flag) as a plain dict."""
    return {name: getattr(item, name) for name in item.__slots__}
