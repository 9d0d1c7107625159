"""Dashboard sign-in as docs/dashboard.md states it: 12 hours, enforced by the server and not only by
the browser's cookie lifetime; a broken cookie or a lapsed sign-in back to the sign-in page, also
for htmx actions; no sign-in page at all under --no-auth."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path
from urllib.parse import unquote, urlencode

import pytest
from api_shop import HEADERS
from fastapi.testclient import TestClient

from marketpilot.api import create_app
from marketpilot.config import Settings, get_settings

FORM = {"content-type": "application/x-www-form-urlencoded"}
KEY = HEADERS["X-API-Key"]


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    return get_settings(tmp_path / "home", api_keys=[KEY])


def signed_in(settings: Settings) -> TestClient:
    client = TestClient(create_app(settings))
    page = client.post("/ui/login", content=f"key={KEY}", headers=FORM, follow_redirects=False)
    assert page.status_code == 303 and "Max-Age=43200" in page.headers["set-cookie"]
    return client


def test_the_sign_in_expires_on_the_server_after_12_hours(home: Settings) -> None:
    from marketpilot.web.routes import _token

    client = signed_in(home)
    cookie = client.cookies["mp_ui"]
    assert client.get("/ui/", follow_redirects=False).status_code == 200
    expires, _, mac = cookie.partition(".")
    assert 12 * 3600 - 60 < int(expires) - time.time() <= 12 * 3600
    # the expiry is signed: pushing it forward breaks the cookie
    client.cookies.set("mp_ui", f"{int(expires) + 86400}.{mac}")
    assert client.get("/ui/", follow_redirects=False).headers["location"] == "/ui/login"
    # a cookie signed with the right key whose 12 hours are over (kept past Max-Age, or copied)
    client.cookies.set("mp_ui", _token(home, KEY, int(time.time()) - 1))
    assert client.get("/ui/", follow_redirects=False).headers["location"] == "/ui/login"


def test_a_broken_cookie_is_a_sign_in_page_not_a_500(home: Settings) -> None:
    client = TestClient(create_app(home), raise_server_exceptions=False)
    for value in ("café", "1.é", "9999999999.ü", "9" * 5000 + ".x"):
        cookie = {"cookie": f"mp_ui={value}".encode("latin-1")}
        page = client.get("/ui/", headers=cookie, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/ui/login"


def test_an_htmx_action_after_the_sign_in_lapsed_sends_the_browser_to_sign_in(home: Settings) -> None:
    """htmx follows a 303 itself: the whole sign-in page landed inside the approval panel."""
    client = TestClient(create_app(home))
    htmx = FORM | {"HX-Request": "true"}
    for path, body in (("/ui/campaigns/c-1/approve", "by=小王"), ("/ui/assistant/ask", "question=包邮吗")):
        reply = client.post(path, content=body, headers=htmx, follow_redirects=False)
        assert reply.status_code == 401 and reply.headers["HX-Redirect"] == "/ui/login"
        assert "<html" not in reply.text
    # a plain page load still redirects, and comes back to the page after signing in
    assert client.get("/ui/campaigns", follow_redirects=False).headers["location"] == (
        "/ui/login?next=/ui/campaigns"
    )
    # htmx names the page the action was sent from: signing in goes back there
    current = htmx | {"HX-Current-URL": "http://testserver/ui/campaigns/c-1?tab=copy"}
    reply = client.post("/ui/campaigns/c-1/approve", content="by=小王", headers=current)
    assert reply.headers["HX-Redirect"] == "/ui/login?next=/ui/campaigns/c-1%3Ftab%3Dcopy"


@pytest.mark.parametrize("page", ["/ui/segments", "/ui/campaigns/春节-1", "/ui/campaigns?status=approved"])
def test_signing_in_goes_back_to_the_page_asked_for(home: Settings, page: str) -> None:
    client = TestClient(create_app(home))
    asked = client.get(page, follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"].startswith("/ui/login?next=")
    form = client.get(asked.headers["location"])
    hidden = re.search(r'name="next" value="([^"]*)"', form.text)
    assert hidden is not None and hidden.group(1) == html.escape(page)
    body = urlencode({"key": KEY, "next": html.unescape(hidden.group(1))})
    landed = client.post("/ui/login", content=body, headers=FORM, follow_redirects=False)
    assert landed.status_code == 303 and "Max-Age=43200" in landed.headers["set-cookie"]
    assert unquote(landed.headers["location"]) == page
    assert client.get(landed.headers["location"], follow_redirects=False).status_code in (200, 404)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/ui/segments",
        "//evil.example/ui/segments",
        "/\\evil.example/ui/",
        "/ui/\\evil.example",
        "javascript:alert(1)",
        "/ui/../docs",
        "/ui/%2e%2e/docs",
        "/v1/campaigns",
        "/ui/login",
        "/ui/segments\r\nSet-Cookie: mp_ui=x",
        "",
    ],
)
def test_the_page_after_sign_in_is_never_another_site(home: Settings, target: str) -> None:
    """The target comes from the URL: anything but a dashboard page on this server lands on the
    overview, so the sign-in page cannot be used to send someone elsewhere (an open redirect)."""
    client = TestClient(create_app(home))
    form = client.get("/ui/login", params={"next": target})
    assert 'name="next" value="/ui/"' in form.text
    body = urlencode({"key": KEY, "next": target})
    landed = client.post("/ui/login", content=body, headers=FORM, follow_redirects=False)
    assert landed.status_code == 303 and landed.headers["location"] == "/ui/"
    wrong = client.post("/ui/login", content=urlencode({"key": "nope", "next": target}), headers=FORM)
    assert 'name="next" value="/ui/"' in wrong.text


def test_no_sign_in_page_without_auth(home: Settings) -> None:
    client = TestClient(create_app(home, require_key=False))
    for reply in (
        client.get("/ui/login", follow_redirects=False),
        client.post("/ui/login", content="key=x", headers=FORM, follow_redirects=False),
    ):
        assert reply.status_code == 303 and reply.headers["location"] == "/ui/"
        assert "mp_ui" not in reply.cookies
    assert client.get("/ui/login?next=/ui/segments", follow_redirects=False).headers["location"] == (
        "/ui/segments"
    )


def test_a_login_form_that_is_not_utf8_is_a_wrong_key(home: Settings) -> None:
    client = TestClient(create_app(home))
    page = client.post("/ui/login", content="key=%ED%A0%80", headers=FORM, follow_redirects=False)
    assert page.status_code == 200 and "密钥无效" in page.text and "mp_ui" not in page.cookies


def test_sign_out_forgets_the_sign_in(home: Settings) -> None:
    client = signed_in(home)
    page = client.get("/ui/").text
    assert 'action="/ui/logout"' in page
    out = client.post("/ui/logout", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert "mp_ui" not in client.cookies
    assert client.get("/ui/", follow_redirects=False).headers["location"] == "/ui/login"
    assert 'action="/ui/logout"' not in client.get("/ui/login").text
    # without keys (--no-auth) there is nobody to sign out
    assert 'action="/ui/logout"' not in TestClient(create_app(home, require_key=False)).get("/ui/").text


def test_the_sign_in_page_shows_no_links_that_lead_back_to_it(home: Settings) -> None:
    client = TestClient(create_app(home))
    page = client.get("/ui/login").text
    assert "MarketPilot" in page and 'href="/ui/segments"' not in page and 'action="/ui/login"' in page
    # Signed in, the pages have the links.
    assert 'href="/ui/segments"' in signed_in(home).get("/ui/").text
