"""The REST API (`marketpilot serve`): see docs/api.md."""

from marketpilot.api.app import create_app

__all__ = ["create_app"]
