"""The lockstep server: LangServe endpoints per workflow, the REST API, API keys."""

from lockstep.server.api import router
from lockstep.server.app import create_app

__all__ = ["create_app", "router"]
