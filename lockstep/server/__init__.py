"""The lockstep server: LangServe endpoints per workflow, the REST API, API keys, the web page."""

from lockstep.server.api import router
from lockstep.server.app import create_app
from lockstep.server.web import static_files, web_router

__all__ = ["create_app", "router", "static_files", "web_router"]
