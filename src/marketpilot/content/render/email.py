"""E-mail from Jinja2 templates (content/templates/): responsive HTML with inline CSS, a plain-text
part, an unsubscribe link (and List-Unsubscribe header), a visible AI notice and AIGC metadata."""

from __future__ import annotations

from email.message import EmailMessage
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from pydantic import BaseModel

from marketpilot.content.briefs import Brief
from marketpilot.content.numbers import fmt_amount
from marketpilot.content.render.labels import ai_metadata, metadata_json
from marketpilot.content.render.poster import offer_line
from marketpilot.errors import UserError

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
_WORDS = {
    "zh": {
        "ai": "本邮件内容由AI生成，已经过合规检查。",
        "unsub_prefix": "不想再收到此类邮件？",
        "unsub": "退订",
        "cta": "立即查看",
        "list": "原价",
    },
    "en": {
        "ai": "This e-mail was AI-generated and checked for compliance.",
        "unsub_prefix": "Don't want these e-mails? ",
        "unsub": "Unsubscribe",
        "cta": "Shop now",
        "list": "was",
    },
}


class RenderedEmail(BaseModel):
    subject: str
    html: str
    text: str
    headers: dict[str, str]

    def to_message(self, sender: str, recipient: str) -> EmailMessage:
        """A multipart/alternative message ready for SMTP (plain text first, HTML preferred)."""
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = self.subject, sender, recipient
        for name, value in self.headers.items():
            msg[name] = value
        msg.set_content(self.text)
        msg.add_alternative(self.html, subtype="html")
        return msg


def _check_link(name: str, url: str, *, mailto: bool) -> None:
    """An http(s) link with a host (or a mailto: address): javascript: links run script in the mail
    client, and a line break in List-Unsubscribe would inject headers."""
    parts = urlsplit(url)
    schemes = ("https", "http", "mailto") if mailto else ("https", "http")
    target = parts.netloc if parts.scheme in ("https", "http") else parts.path
    if parts.scheme not in schemes or not target or any(ch.isspace() or ord(ch) < 32 for ch in url):
        kind = "an http(s) or mailto link" if mailto else "an http(s) link"
        raise UserError(f"{name} must be {kind} without spaces, got {url!r}")


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_email(
    subject: str,
    body: str,
    brief: Brief,
    *,
    unsubscribe_url: str,
    cta_url: str | None = None,
    model: str | None = None,
) -> RenderedEmail:
    """`body` is the (slot-filled) copy; blank lines separate paragraphs. The first line is the headline."""
    _check_link("unsubscribe_url", unsubscribe_url, mailto=True)
    if cta_url is not None:
        _check_link("cta_url", cta_url, mailto=False)
    if any(ch in subject for ch in "\r\n"):
        # a line break in a header ends it: what follows would become headers of its own
        raise UserError("The subject is one line; remove the line breaks from it.")
    words = _WORDS[brief.language]
    lines = [part.strip() for part in body.strip().split("\n") if part.strip()]
    headline, paragraphs = (lines[0], lines[1:]) if len(lines) > 1 else (subject, lines)
    p = brief.product
    symbol = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£"}.get(p.currency, "")
    sale = p.sale_price
    meta = ai_metadata(subject + "\n" + body, propagator=brief.brand.shop_name, model=model)
    context = {
        "lang": "zh-CN" if brief.language == "zh" else "en",
        "subject": subject,
        "preheader": paragraphs[0] if paragraphs else headline,
        "shop_name": brief.brand.shop_name,
        "headline": headline,
        "paragraphs": paragraphs,
        "sale_price": f"{symbol}{fmt_amount(sale)}" if sale else None,
        "list_price": f"{symbol}{fmt_amount(p.price)}" if p.price and sale and p.price != sale else None,
        "list_label": words["list"],
        "offer": offer_line(brief),
        "cta_url": cta_url,
        "cta_text": words["cta"],
        "ai_notice": words["ai"],
        "unsubscribe_prefix": words["unsub_prefix"],
        "unsubscribe_text": words["unsub"],
        "unsubscribe_url": unsubscribe_url,
        "aigc_json": metadata_json(meta),
    }
    html = _env().get_template("email.html.j2").render(**context)
    text = _env().get_template("email.txt.j2").render(**context)
    headers = {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "X-AIGC": metadata_json(meta),
    }
    return RenderedEmail(subject=subject, html=html, text=text, headers=headers)
