"""The FastAPI app: routers per area under /v1, API keys, MarketPilot errors as JSON, and the web
dashboard under /ui (marketpilot.web).

Routes are thin: each calls the library function its CLI command calls, with the same Settings the
server was started with. Errors keep the CLI's wording, with the server's paths hidden (the home as
<home>): {"error": {"type", "message", "hint", "problems"}} with 400 for a user's mistake, 401
without a known API key, 404 for an unknown id or path, 405 for a method the path does not take, 413
for a body over the size limit (body_limit.py), 422 for a request that does not match the schema,
502 when an LLM or other provider failed. Dashboard pages (/ui/) answer with HTML error pages, and
the dashboard's htmx requests in the same JSON shape.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from http import HTTPStatus
from importlib.metadata import version

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from marketpilot.api import assistant, campaigns, content, decisions, recommend, reviews, segments
from marketpilot.api.auth import require_api_key
from marketpilot.api.body_limit import BodyLimit
from marketpilot.api.paths import home_relative_text
from marketpilot.config import Settings, get_settings
from marketpilot.errors import (
    ConflictError,
    MarketPilotError,
    NotFoundError,
    ProviderError,
    UserError,
    ValidationFailed,
)
from marketpilot.web.routes import STATIC
from marketpilot.web.routes import router as dashboard

# uvicorn's STARTUP_FAILURE and gunicorn's WORKER_BOOT_ERROR: the app cannot start, do not restart it.
STARTUP_FAILURE = 3


class ErrorDetail(BaseModel):
    type: str
    message: str
    hint: str | None = None
    problems: list[str] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


# A request with thousands of bad rows is answered with the first ones, as ValidationFailed lists them.
MAX_PROBLEMS = 20
# Documented on every /v1 route, so clients (and schema fuzzers) know every status they may see.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "A user's mistake: the message says what and where."},
    401: {"model": ErrorBody, "description": "No API key, or an unknown one."},
    404: {"model": ErrorBody, "description": "No such campaign, product or segmentation."},
    409: {"model": ErrorBody, "description": "Busy: another run of the same campaign is sending."},
    413: {"model": ErrorBody, "description": "The body is over the server's size limit (refused unread)."},
    422: {
        "model": ErrorBody,
        "description": "The request does not match the schema: `problems` names each field.",
    },
    502: {"model": ErrorBody, "description": "The LLM (or another provider) failed."},
}


class Health(BaseModel):
    status: str
    version: str
    llm_provider: str
    auth: bool


def create_app(settings: Settings | None = None, *, require_key: bool = True) -> FastAPI:
    """The API over one MarketPilot home. `require_key=False` serves without keys (loopback only:
    `marketpilot serve` refuses it on any other address).

    Without `settings` it is the process's entry point (`uvicorn --factory marketpilot.api:create_app`):
    a setting a person must fix (a bad value, no API keys) is then printed as `marketpilot serve` prints
    it, not as a traceback, and the process exits with status 3, which uvicorn's --workers supervisor
    (and gunicorn) read as "failed at startup" and stop on, instead of restarting the worker forever."""
    if settings is None:
        try:
            return create_app(get_settings(), require_key=require_key)
        except UserError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            raise SystemExit(STARTUP_FAILURE) from None
    if require_key and not settings.api_keys:
        raise UserError(
            "No API keys configured, so nobody could call the API.",
            hint="set MARKETPILOT_API_KEYS='[\"a-long-random-key\"]' (or api_keys in marketpilot.toml), "
            "or serve on 127.0.0.1 with --no-auth for local use",
        )
    app = FastAPI(
        title="MarketPilot",
        version=version("marketpilot"),
        description="LLM-driven e-commerce marketing automation (营销自动化): review insight, "
        "recommendations, guarded copy and campaigns over one MarketPilot home. Send the key as "
        "X-API-Key.",
    )
    app.state.settings = settings
    app.state.require_key = require_key
    guarded = [Depends(require_api_key)]
    for module in (reviews, recommend, content, campaigns, segments, decisions, assistant):
        app.include_router(module.router, prefix="/v1", dependencies=guarded, responses=ERROR_RESPONSES)

    app.include_router(dashboard)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.get("/health", tags=["health"])
    def health() -> Health:
        """Liveness, no key needed: the version and which LLM provider the server uses."""
        return Health(status="ok", version=app.version, llm_provider=settings.llm_provider, auth=require_key)

    @app.head("/health", include_in_schema=False)
    def health_probe() -> Response:
        """Uptime monitors probe with HEAD by default, and read a 405 as the server being down."""
        return Response(status_code=200)

    app.add_exception_handler(MarketPilotError, _error_response)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(UnicodeEncodeError, _not_utf8)  # type: ignore[arg-type]
    app.add_middleware(BodyLimit, settings=settings, refuse=_http_error)
    return app


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    """A request that does not match the schema: 422 in the app's own error shape, each problem as
    `location: message`, so clients parse one shape for every refusal. The refused input is not echoed:
    FastAPI's body did, and input with a lone surrogate (bytes that were not UTF-8, \\ud800 in the
    JSON) could not be written as UTF-8. A dashboard page's bad query (?page=abc) is a dashboard page."""
    if request.url.path.startswith("/ui/"):
        from marketpilot.web.routes import error_page

        where = "; ".join(_problem(e["loc"][1:], e["msg"]) for e in exc.errors())  # no query./path.
        return error_page(request, 400, f"bad input: {where}", "check the address, or go back to the page")
    sent_as = request.headers.get("content-type") or "no Content-Type"
    problems = [
        # a body that is no JSON: where and why ("body.0: JSON decode error" said neither)
        f"body: not JSON at character {e['loc'][-1]}: {e['ctx']['error']}"
        if e["type"] == "json_invalid"
        # FastAPI hands the raw bytes on when the Content-Type does not say JSON (curl -d sends a
        # form), and "Input should be a valid dictionary" then blamed the JSON the client did send
        else f"body: sent with {sent_as}, so not read as JSON; send Content-Type: application/json"
        if tuple(e["loc"]) == ("body",) and isinstance(e.get("input"), bytes)
        else _problem(e["loc"], e["msg"])
        for e in exc.errors()
    ]
    shown = problems[:MAX_PROBLEMS]
    count = f"{len(problems):,} problem{'' if len(problems) == 1 else 's'}"
    more = f" (the first {len(shown)} listed)" if len(problems) > len(shown) else ""
    detail = ErrorDetail(
        type="RequestValidationError",
        message=f"The request does not match the API's schema: {count}{more}.",
        hint="see the request schema at /docs (OpenAPI: /openapi.json)",
        problems=shown,
    )
    return JSONResponse(ErrorBody(error=detail).model_dump(mode="json", exclude_none=True), status_code=422)


def _problem(loc: Sequence[int | str], message: str) -> str:
    """`body.history.0.role: Extra inputs are not permitted`."""
    return f"{'.'.join(map(str, loc)) or '(request)'}: {message}"


# How to get past the refusals that FastAPI and Starlette raise themselves.
_ROUTES_HINT = "the API's routes and their methods are listed at /docs (OpenAPI: /openapi.json)"
_HTTP_HINTS = {
    # FastAPI's own 400: a body it could not read
    400: "send the body as JSON in UTF-8; text from a GBK source must be decoded as GBK first",
    401: "send one of the server's MARKETPILOT_API_KEYS in the X-API-Key header",
    404: _ROUTES_HINT,
    405: _ROUTES_HINT,
    413: "send less in one request (split the batch); the server's operator sets the limit: "
    "MARKETPILOT_API_MAX_BODY_MB, or MARKETPILOT_API_MAX_BATCH_BODY_MB for review sentiment and the "
    "decisions' rows",
}
# Python renamed 413's phrase (Request Entity Too Large → Content Too Large, RFC 9110): one name for both.
_HTTP_TYPES = {413: "ContentTooLarge"}


# The same refusals on the dashboard, where a person in a browser reads them.
_UI_HINTS = {
    401: "sign in again: /ui/login",
    404: "start again from the overview: /ui/",
    405: "use the dashboard's own links and buttons, starting from the overview: /ui/",
}


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """A refusal raised as an HTTPException (no API key, no route for the path, a method the path
    does not take) in the app's error shape, its headers (WWW-Authenticate, Allow, HX-Redirect) kept.
    On the dashboard a browser gets an HTML error page instead (a JSON body would be shown to a person
    as raw text), an htmx request the JSON shape (htmx swaps no error into the page, and reads only
    the headers), and the sign-in redirect stays a redirect."""
    path = request.url.path
    headers = dict(exc.headers or {})
    dashboard = path.startswith("/ui/")
    if dashboard and exc.status_code < 400:
        return Response(status_code=exc.status_code, headers=headers)
    htmx = request.headers.get("HX-Request") == "true"
    if dashboard and exc.status_code == 404 and not htmx:
        from marketpilot.web.routes import error_page

        return error_page(request, 404, f"no page {path}", _UI_HINTS[404])
    status = HTTPStatus(exc.status_code)
    message = str(exc.detail)
    routers = message == status.phrase  # the router's own refusal: no words of a route's to keep
    if routers and status == HTTPStatus.NOT_FOUND:
        message = f"No route {path}."
    elif isinstance(exc.__cause__, UnicodeDecodeError):  # FastAPI's "error parsing the body"
        bad = exc.__cause__
        message = (
            f"The request body is not UTF-8: byte 0x{bad.object[bad.start]:02x} at position {bad.start} "
            "is not part of a character."
        )
    elif routers and status == HTTPStatus.METHOD_NOT_ALLOWED:
        # A mounted app (the dashboard's static files) is not among the routes; it names its own.
        headers["Allow"] = ", ".join(_allowed_methods(request)) or headers.get("Allow", "")
        message = f"{request.method} is not allowed on {path}; it takes {headers['Allow']}."
    hint = (_UI_HINTS if dashboard else _HTTP_HINTS).get(exc.status_code)
    if dashboard and not htmx:
        from marketpilot.web.routes import error_page

        return error_page(request, exc.status_code, message, hint, headers=headers)
    kind = _HTTP_TYPES.get(exc.status_code, status.phrase.replace(" ", ""))
    detail = ErrorDetail(type=kind, message=message, hint=hint)
    body = ErrorBody(error=detail).model_dump(mode="json", exclude_none=True)
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route takes on the request's path, found by asking the routes to match it
    with each (routers included under /v1 hide their routes). Starlette's own Allow header names
    only the first route whose path matched: PUT /v1/campaigns said GET, though POST creates one."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]


def _status(exc: MarketPilotError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, UserError):
        return 400
    if isinstance(exc, ProviderError):
        return 502
    return 500


async def _not_utf8(request: Request, exc: UnicodeEncodeError) -> Response:
    """A request's text with a lone surrogate (valid JSON, \\ud800, but no character) that a route's
    models let through reaches code that encodes it: the client's mistake, a 400 like any bad input."""
    if "surrogates not allowed" not in str(exc):
        raise exc
    return await _error_response(
        request,
        UserError(
            "The request has text that is not valid Unicode (a lone surrogate such as \\ud800).",
            hint="send UTF-8 text; bytes from a GBK source must be decoded as GBK first",
        ),
    )


async def _error_response(request: Request, exc: MarketPilotError) -> Response:
    """A MarketPilot error in the CLI's words, but with the server's paths hidden (`home_relative_text`):
    the library names files in full for a local user (`No product 'X' in the store at /srv/shop.`), a
    client elsewhere gets `<home>` and file names."""
    home = request.app.state.settings.home_dir
    message = home_relative_text(str(exc).split("\nHint: ")[0], home)
    hint = home_relative_text(exc.hint, home) if isinstance(exc, UserError) and exc.hint else None
    if request.url.path.startswith("/ui/"):
        from marketpilot.web.routes import error_page

        return error_page(request, _status(exc), message, hint)
    detail = ErrorDetail(
        type=type(exc).__name__,
        message=message,
        hint=hint,
        problems=[home_relative_text(p, home) for p in exc.problems]
        if isinstance(exc, ValidationFailed)
        else None,
    )
    body = ErrorBody(error=detail).model_dump(mode="json", exclude_none=True)
    return JSONResponse(body, status_code=_status(exc))
