"""/ui: server-rendered pages (Jinja2), htmx for the actions, ECharts for the charts.

Browsers cannot send X-API-Key, so the dashboard signs in once with an API key and keeps an HMAC of
it in an HttpOnly, SameSite=Lax cookie; actions (approve, ask) also require htmx's HX-Request header,
which a cross-site form cannot send. With `--no-auth` (loopback only) there is no sign-in.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from marketpilot.api.auth import app_settings
from marketpilot.api.paths import home_relative_text
from marketpilot.config import Settings
from marketpilot.errors import MarketPilotError, UserError
from marketpilot.web import views
from marketpilot.web.charts import FONT_STACK

HERE = Path(__file__).parent
STATIC = HERE / "static"
COOKIE = "mp_ui"
SIGN_IN_S = 12 * 3600  # how long a sign-in lasts
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["chart"] = views.as_json
router = APIRouter(prefix="/ui", include_in_schema=False)


def _token(settings: Settings, key: str, expires: int) -> str:
    """`expires.mac`: the expiry is signed with the key, so a copied cookie stops working after 12
    hours on the server too, not only when the browser drops it."""
    mac = hmac.new(settings.secret(), f"ui:{expires}:{key}".encode(), hashlib.sha256).hexdigest()
    return f"{expires}.{mac}"


def _valid_cookie(settings: Settings, cookie: str) -> bool:
    expires, _, _ = cookie.partition(".")
    # ASCII digits, and few of them: int() of thousands of digits raises (Python's digit limit)
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12) or int(expires) < time.time():
        return False
    tokens = [_token(settings, k.get_secret_value(), int(expires)).encode() for k in settings.api_keys]
    # bytes: compare_digest refuses str with non-ASCII characters, which a forged cookie may have
    given = cookie.encode("utf-8", errors="surrogateescape")
    return any(hmac.compare_digest(given, t) for t in tokens)


def local_page(target: str | None) -> str:
    """`target` when it is a dashboard page on this server, else the overview: the page to open after
    signing in comes from the URL, so anything else (https://evil.example, //evil.example, /ui/../docs)
    would make the sign-in an open redirect."""
    if not target:
        return "/ui/"
    parts = urlsplit(target)
    path = unquote(parts.path)
    if (
        parts.scheme
        or parts.netloc
        or not path.startswith("/ui/")
        or path.rstrip("/") in ("/ui/login", "/ui/logout")
        or any(segment in (".", "..") for segment in path.split("/"))
        or any(ch == "\\" or not ch.isprintable() for ch in target)
    ):
        return "/ui/"
    return target


def _sign_in_url(target: str | None) -> str:
    """/ui/login, with the page to come back to unless it is the overview (where sign-in lands anyway)."""
    page = local_page(target)
    return "/ui/login" if page == "/ui/" else f"/ui/login?next={quote(page, safe='/')}"


def signed_in(request: Request) -> Settings:
    """The app's settings, once the browser holds a valid sign-in cookie (else: to the sign-in page,
    which brings the browser back to the page it asked for)."""
    settings = app_settings(request)
    if not request.app.state.require_key:
        return settings
    if not _valid_cookie(settings, request.cookies.get(COOKIE, "")):
        if request.headers.get("HX-Request") == "true":
            # htmx follows a 303 itself and would put the whole sign-in page inside the panel; the page
            # to come back to is the one the action was sent from (htmx names it in HX-Current-URL).
            current = urlsplit(request.headers.get("HX-Current-URL", ""))
            back = current.path + (f"?{current.query}" if current.query else "")
            raise HTTPException(
                status_code=401,
                detail="The dashboard sign-in is missing or has lapsed.",
                headers={"HX-Redirect": _sign_in_url(back)},
            )
        # Only a page load comes back: a form's POST replayed as a GET would be refused.
        asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        back = asked if request.method in ("GET", "HEAD") else None
        raise HTTPException(status_code=303, headers={"Location": _sign_in_url(back)})
    return settings


def htmx_only(request: Request) -> None:
    if request.headers.get("HX-Request") != "true":
        raise HTTPException(status_code=400, detail="actions are sent by the dashboard's htmx")


UiSettings = Annotated[Settings, Depends(signed_in)]


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (no multipart needed for these small forms). Text that is not UTF-8 is
    refused: replaced by U+FFFD it was kept as an approver's name or queued as a question."""
    try:
        body = (await request.body()).decode("utf-8")
        fields = parse_qs(body, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise UserError(
            "The form has text that is not valid UTF-8.", hint="type it again; paste plain text"
        ) from None
    return {k: v[0].strip() for k, v in fields.items()}


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    # The nav entry is the path's first part: /ui/campaigns/dash-1 (or its error page) is under campaigns.
    section = request.url.path.removeprefix("/ui/").split("/")[0] or "overview"
    sign_out = request.app.state.require_key and COOKIE in request.cookies and section != "login"
    return templates.TemplateResponse(
        request,
        name,
        {"section": section, "font_stack": FONT_STACK, "sign_out": sign_out, **context},
        status_code=status_code,
    )


def error_page(
    request: Request,
    status_code: int,
    message: str,
    hint: str | None,
    *,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A dashboard page for an error the API would answer as JSON (an unknown campaign, bad input, a
    method the page does not take); `headers` such as Allow go with it."""
    page = _page(request, "error.html", status_code, code=status_code, message=message, hint=hint)
    page.headers.update(headers or {})
    return page


@router.get("/static/cjk.otf")
def cjk_font() -> FileResponse:
    """The bundled CJK font (content.fonts), so machines without one still show Chinese."""
    from marketpilot.content.fonts import cjk_font_path

    return FileResponse(cjk_font_path(), media_type="font/otf", headers={"Cache-Control": "max-age=86400"})


@router.get("/login", response_model=None)
def login_form(request: Request, next_page: Annotated[str | None, Query(alias="next")] = None) -> Response:
    if not request.app.state.require_key:  # --no-auth: no key would pass a sign-in form
        return RedirectResponse(local_page(next_page), status_code=303)
    return _page(request, "login.html", error=None, next=local_page(next_page))


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    settings = app_settings(request)
    if not request.app.state.require_key:
        return RedirectResponse("/ui/", status_code=303)
    try:
        form = await _form(request)
    except UserError:
        form = {}  # not UTF-8, so no configured key
    key, page = form.get("key", ""), local_page(form.get("next"))
    if not any(hmac.compare_digest(key.encode(), k.get_secret_value().encode()) for k in settings.api_keys):
        return _page(request, "login.html", error="unknown key / 密钥无效", next=page)
    expires = int(time.time()) + SIGN_IN_S
    response = RedirectResponse(page, status_code=303)
    response.set_cookie(
        COOKIE, _token(settings, key, expires), httponly=True, samesite="lax", max_age=SIGN_IN_S
    )
    return response


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, settings: UiSettings) -> HTMLResponse:
    return _page(request, "overview.html", data=views.overview(settings))


@router.post("/logout")
def logout() -> RedirectResponse:
    """Forgets the sign-in in this browser (the cookie is the whole session: nothing is kept server-side)."""
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/segments", response_class=HTMLResponse)
def segments_page(request: Request, settings: UiSettings) -> HTMLResponse:
    return _page(request, "segments.html", data=views.segments(settings))


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(
    request: Request, settings: UiSettings, page: Annotated[int, Query(ge=1)] = 1
) -> HTMLResponse:
    return _page(request, "campaigns.html", data=views.campaigns(settings, page))


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign_id: str, settings: UiSettings) -> HTMLResponse:
    return _page(request, "campaign.html", c=views.campaign(settings, campaign_id))


@router.post(
    "/campaigns/{campaign_id}/approve", response_class=HTMLResponse, dependencies=[Depends(htmx_only)]
)
async def approve(request: Request, campaign_id: str, settings: UiSettings) -> HTMLResponse:
    from marketpilot.campaigns.service import approve as approve_version
    from marketpilot.campaigns.state.db import open_state

    # Messages come back as 200: htmx swaps no 4xx into the page, so the user would see nothing.
    try:
        form = await _form(request)
        by = form.get("by", "")
        if not by:
            return _page(request, "_message.html", ok=False, text="请填写审批人 / who approves?")
        # a double click or a second tab: the same person's sign-off of the same version, once
        if (done := await run_in_threadpool(views.approved_by, settings, campaign_id, by)) is not None:
            return _page(request, "_message.html", ok=True, text=f"v{done} 已由 {by} 批准 / already approved")
        version = await run_in_threadpool(
            approve_version, open_state(settings), campaign_id, approver=by, note=form.get("note", "")
        )
    except MarketPilotError as exc:
        return _page(request, "_message.html", ok=False, text=home_relative_text(str(exc), settings.home_dir))
    return _page(
        request, "_message.html", ok=True, text=f"已批准 v{version}（{by}）/ approved v{version} by {by}"
    )


@router.get("/reviews", response_class=HTMLResponse)
def reviews_page(request: Request, settings: UiSettings, category: str | None = None) -> HTMLResponse:
    categories = views.review_categories(settings)
    chosen = category or (categories[0] if categories else None)
    data = views.reviews(settings, chosen) if chosen else None
    return _page(request, "reviews.html", categories=categories, chosen=chosen, data=data)


@router.get("/decisions", response_class=HTMLResponse)
def decisions_page(request: Request, settings: UiSettings) -> HTMLResponse:
    return _page(request, "decisions.html", data=views.decisions(settings))


@router.get("/decisions/{kind}/chart.png")
def decision_chart(kind: str, settings: UiSettings) -> FileResponse:
    """The PNG chart `marketpilot decide <kind>` wrote (the same picture as in its report)."""
    path = settings.home_dir / "decisions" / kind / views.CHART_FILES.get(kind, "")
    if kind not in views.CHART_FILES or not path.is_file():
        raise HTTPException(status_code=404, detail="no chart")
    return FileResponse(path, media_type="image/png")


@router.get("/assistant", response_class=HTMLResponse)
def assistant_page(request: Request, settings: UiSettings) -> HTMLResponse:
    from marketpilot.assistant.answer import MAX_QUESTION

    return _page(request, "assistant.html", max_question=MAX_QUESTION)


@router.post("/assistant/ask", response_class=HTMLResponse, dependencies=[Depends(htmx_only)])
async def ask(request: Request, settings: UiSettings) -> HTMLResponse:
    from marketpilot.assistant import answer_question

    try:
        form = await _form(request)
        question = form.get("question", "")
        if not question:
            return _page(request, "_message.html", ok=False, text="请输入问题 / type a question")
        # 5–25 s of model time: off the event loop, so the rest of the dashboard and the API keep answering
        reply = await run_in_threadpool(
            answer_question, settings, question, customer_id=form.get("customer_id") or None
        )
    except MarketPilotError as exc:  # too long, only invisible characters: a message htmx swaps in
        return _page(request, "_message.html", ok=False, text=home_relative_text(str(exc), settings.home_dir))
    return _page(request, "_reply.html", reply=reply)
