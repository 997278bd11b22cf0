"""The web dashboard served beside the API: bureau view, hospital view, case page (bilingual)."""

from casemix.web.routes import mount_ui

__all__ = ["mount_ui"]
