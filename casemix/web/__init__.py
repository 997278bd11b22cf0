"""The web dashboard served beside the API: bureau view, hospital view, case page (bilingual)."""

from casemix.web.routes import mount_ui
from casemix.web.sessions import Sessions

__all__ = ["Sessions", "mount_ui"]
