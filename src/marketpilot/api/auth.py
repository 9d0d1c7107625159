"""API keys: every /v1 route needs one of `Settings.api_keys` in the X-API-Key header."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from marketpilot.config import Settings

API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="One of MARKETPILOT_API_KEYS.")


def app_settings(request: Request) -> Settings:
    """The Settings the app was created with (one home per server)."""
    return request.app.state.settings


def require_api_key(request: Request, key: Annotated[str | None, Security(API_KEY)]) -> None:
    if not request.app.state.require_key:
        return
    given = (key or "").encode()
    # compare_digest against every key: the time taken says nothing about which key came close
    keys = app_settings(request).api_keys
    matches = [hmac.compare_digest(given, k.get_secret_value().encode()) for k in keys]
    if not key or not any(matches):
        # The app answers it in its error shape, with the hint to send a key (`api/app.py`).
        raise HTTPException(
            status_code=401,
            detail="The request has no X-API-Key header." if not key else "The X-API-Key is not a known key.",
            headers={"WWW-Authenticate": "APIKey"},
        )
