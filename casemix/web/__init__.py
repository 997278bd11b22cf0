"""The web dashboard served beside the API: bureau view, hospital view, case page (bilingual)."""

from casemix.web.routes import mount_ui
from casemix.web.site import build_service

__all__ = ["build_service", "mount_ui"]
