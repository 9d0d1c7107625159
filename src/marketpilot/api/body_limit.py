"""The overall limit on a request body, before any of it is read into memory.

The routes bound their own fields (docs/api.md, Request limits), but those checks run on a parsed body:
without this, a client could post hundreds of MB of JSON and the server would hold it all first. A
body whose Content-Length is over the route's limit is refused at once, unread; a body without one
(Transfer-Encoding: chunked) is counted as it arrives and refused at the chunk that passes the limit.
Either way the client gets a 413 in the app's error shape (an HTML page on the dashboard).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketpilot.config import Settings

# The batch routes take up to 10,000,000 characters of review text or 200,000 rows of cells, far more
# than any other route's fields add up to: they get the larger limit.
BATCH_ROUTES = (
    "/v1/reviews/sentiment",
    "/v1/decisions/uplift",
    "/v1/decisions/price",
    "/v1/decisions/budget",
)
MIB = 1024 * 1024


def body_limit(settings: Settings, path: str) -> int:
    """The most bytes a request body to `path` may hold."""
    mb = settings.api_max_batch_body_mb if path.rstrip("/") in BATCH_ROUTES else settings.api_max_body_mb
    return int(mb * MIB)


def too_large(path: str, limit: int) -> HTTPException:
    size = f"{limit / MIB:g} MiB ({limit:,} bytes)" if limit >= MIB else f"{limit:,} bytes"
    return HTTPException(413, detail=f"The request body is over {size}, the most {path} takes.")


class BodyLimit:
    """ASGI middleware: refuse a body over the route's limit (`body_limit`) without reading it.
    `refuse` is the app's handler for an HTTPException, which this middleware sits outside of."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        refuse: Callable[[Request, HTTPException], Awaitable[Response]],
    ) -> None:
        self.app = app
        self.settings = settings
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = body_limit(self.settings, path)
        declared = dict(scope["headers"]).get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > limit:
            response = await self.refuse(Request(scope), too_large(path, limit))
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route's body read: FastAPI passes an HTTPException on to the
                    # app's handler (any other exception there would be its "error parsing the body").
                    raise too_large(path, limit)
            return message

        await self.app(scope, counted, send)
