"""Poster / banner PNG: headline, price, offer line, a product image (or placeholder), CJK text in the
bundled Noto Sans CJK font, a visible "AI生成" marker and AIGC metadata in a PNG text chunk."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from marketpilot.atomic import atomic_path
from marketpilot.content.briefs import Brief
from marketpilot.content.channels import AI_LABEL
from marketpilot.content.fonts import cjk_font_path, missing_glyphs
from marketpilot.content.numbers import fmt_amount
from marketpilot.content.render.labels import ai_metadata, metadata_json
from marketpilot.errors import UserError

Layout = Literal["poster", "banner"]
SIZES: dict[str, tuple[int, int]] = {"poster": (1080, 1350), "banner": (1200, 628)}
# Offer terms stay on one line (满300减50, 319元, 8折): a split figure is easy to misread.
_TOKEN = re.compile(
    r"满\d+(?:\.\d+)?减\d+(?:\.\d+)?元?|[¥￥]?\d+(?:\.\d+)?[元折件]|[A-Za-z0-9'’\-.,!?%$¥￥:]+|\s+|."
)
_NO_LINE_START = set("，。、；：？！）】」』”’》〉…,.;:?!)")
_NO_LINE_END = set("（【「『“‘《〈(")
_RED, _INK, _GREY = (214, 40, 57), (40, 30, 30), (150, 140, 140)


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(cjk_font_path()), size)


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Greedy wrap: CJK may break between any two characters, Latin words stay whole. Following the
    Chinese line-breaking rules, closing punctuation never starts a line (it hangs into the margin)
    and an opening bracket never ends one."""
    lines, line = [], ""
    for token in _TOKEN.findall(text):
        if font.getlength(line + token) <= width or not line or token in _NO_LINE_START:
            line += token
        elif len(line) > 1 and line[-1] in _NO_LINE_END:
            lines.append(line[:-1].rstrip())
            line = line[-1] + token.lstrip()
        else:
            lines.append(line.rstrip())
            line = token.lstrip()
    if line:
        lines.append(line.rstrip())
    return lines


def offer_line(brief: Brief) -> str:
    return " · ".join(offer_parts(brief))


def offer_parts(brief: Brief) -> list[str]:
    """The offer's terms (满300减50, 买2送1, 11月11日截止), each to be shown whole."""
    o, zh = brief.offer, brief.language == "zh"
    parts = []
    if o.coupon_amount:
        amount = fmt_amount(o.coupon_amount)
        if o.coupon_threshold:
            t = fmt_amount(o.coupon_threshold)
            parts.append(f"满{t}减{amount}" if zh else f"{amount} off over {t}")
        else:
            parts.append(f"立减{amount}元" if zh else f"{amount} off")
    if o.buy_n and o.get_m:
        parts.append(f"买{o.buy_n}送{o.get_m}" if zh else f"buy {o.buy_n} get {o.get_m}")
    if d := o.deadline_date:
        parts.append(f"{d.month}月{d.day}日截止" if zh else f"ends {d.strftime('%b')} {d.day}")
    return parts


def _pack(parts: list[str], font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """The offer terms joined by " · " on as few lines as fit, no term split across lines."""
    lines: list[str] = []
    for part in parts:
        joined = f"{lines[-1]} · {part}" if lines else part
        if lines and font.getlength(joined) <= width:
            lines[-1] = joined
        else:
            lines.append(part)
    return lines


def _refuse_overflow(what: str, text: str, font: ImageFont.FreeTypeFont, left: float, right: float) -> None:
    # Never cut: a price or an offer term running off the edge would misstate the offer.
    if left + font.getlength(text) > right:
        raise UserError(
            f"The {what} “{text}” is too wide for the poster.",
            hint="Shorten it, or use the other layout.",
        )


def _money(value: float, brief: Brief) -> str:
    symbol = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£"}.get(brief.product.currency, "")
    return f"{symbol}{value:.0f}" if value == int(value) else f"{symbol}{value:.2f}"


def render_poster(
    headline: str,
    brief: Brief,
    out: Path | str,
    *,
    layout: Layout = "poster",
    image: Path | None = None,
    model: str | None = None,
) -> Path:
    """Draw the poster and write it atomically to `out` (PNG); returns the path."""
    headline = headline.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    if bad := sorted({repr(ch) for ch in headline if unicodedata.category(ch) == "Cc" and ch != "\n"}):
        raise UserError(f"The headline contains control characters: {' '.join(bad)}", hint="Remove them.")
    texts = [headline, brief.product.name, offer_line(brief), brief.brand.shop_name or ""]
    if missing := missing_glyphs("".join(texts)):
        raise UserError(f"The bundled font cannot draw: {' '.join(missing)}", hint="Remove those characters.")
    w, h = SIZES[layout]
    canvas = Image.new("RGB", (w, h), (255, 246, 238))
    draw = ImageDraw.Draw(canvas)
    for y in range(h):  # soft vertical gradient
        t = y / h
        draw.line([(0, y), (w, y)], fill=(255, int(246 - 40 * t), int(238 - 60 * t)))
    pad = int(w * 0.06)
    scale = w / 1080
    banner = layout == "banner"
    text_width = int(w * 0.5) if banner else w - 2 * pad
    head_font = _font(int((50 if banner else 64) * scale))
    # a line break the copywriter typed is kept; each line then wraps on its own
    head_lines = [line for part in headline.split("\n") for line in wrap(part, head_font, text_width)]
    if len(head_lines) > (2 if banner else 3):
        # Never cut copy: a truncated "20% off" or price would misstate the offer.
        raise UserError(
            f"Headline needs {len(head_lines)} lines on a {layout}; at most {2 if banner else 3} fit.",
            hint="Shorten the headline (the banner channel's length guardrail gives the limit).",
        )
    price_font = _font(int((88 if banner else 110) * scale))
    offer_font = _font(int((36 if banner else 42) * scale))
    offer_lines = _pack(offer_parts(brief), offer_font, text_width)
    block = (
        len(head_lines) * int(head_font.size * 1.3)
        + int(20 * scale)
        + (int(price_font.size * 1.35) if brief.product.sale_price else 0)
        + len(offer_lines) * int(offer_font.size * 1.3)
    )
    if banner:
        image_box = (pad, pad, int(w * 0.42), h - pad)
        text_left, text_top = int(w * 0.46), pad + 70
    else:
        # The picture takes what the text leaves, so a one-line headline does not leave the lower
        # fifth of the poster empty; the bottom strip stays free for the AI label.
        gap = int(50 * scale)
        image_bottom = max(int(h * 0.45), h - int(90 * scale) - block - gap)
        image_box = (pad, int(h * 0.09), w - pad, image_bottom)
        text_left, text_top = pad, image_bottom + gap
    right = text_left + text_width  # the text column; on the poster that is the right margin
    for line in head_lines:
        _refuse_overflow("headline", line, head_font, text_left, right)
    for line in offer_lines:
        _refuse_overflow("offer", line, offer_font, text_left, right)
    if brief.brand.shop_name:
        shop_xy = (text_left, pad) if banner else (pad, int(pad * 0.5))
        shop, shop_font = f"【{brief.brand.shop_name}】", _font(int(34 * scale))
        _refuse_overflow("shop name", shop, shop_font, shop_xy[0], right)
        draw.text(shop_xy, shop, font=shop_font, fill=_INK)
    _product_image(canvas, draw, image_box, brief, image, scale)

    y = text_top
    for line in head_lines:
        draw.text((text_left, y), line, font=head_font, fill=_INK)
        y += int(head_font.size * 1.3)
    y += int(20 * scale)
    p = brief.product
    if p.sale_price:
        sale = _money(p.sale_price, brief)
        _refuse_overflow("price", sale, price_font, text_left, right)
        draw.text((text_left, y), sale, font=price_font, fill=_RED)
        if p.price and p.price != p.sale_price:
            old_font = _font(int(44 * scale))
            x = text_left + price_font.getlength(sale) + 30 * scale
            old = _money(p.price, brief)
            _refuse_overflow("list price", old, old_font, x, right)
            oy = y + price_font.size - old_font.size - 6 * scale
            draw.text((x, oy), old, font=old_font, fill=_GREY)
            top, bottom = old_font.getbbox(old)[1::2]
            mid = oy + (top + bottom) / 2  # through the middle of the drawn glyphs
            draw.line(
                [(x, mid), (x + old_font.getlength(old), mid)], fill=_GREY, width=max(2, int(3 * scale))
            )
        y += int(price_font.size * 1.35)
    for line in offer_lines:
        draw.text((text_left, y), line, font=offer_font, fill=_RED)
        y += int(offer_font.size * 1.3)

    label = AI_LABEL[brief.language]
    label_font = _font(int(26 * scale))
    lw = label_font.getlength(label)
    box = (w - lw - 44 * scale, h - 60 * scale, w - 16 * scale, h - 16 * scale)
    draw.rounded_rectangle(box, radius=8, fill=(255, 255, 255), outline=_GREY)
    draw.text((box[0] + 14 * scale, box[1] + 6 * scale), label, font=label_font, fill=_INK)

    info = PngInfo()
    meta = ai_metadata(headline, propagator=brief.brand.shop_name, model=model)
    info.add_itxt("AIGC", metadata_json(meta))
    info.add_itxt("Description", headline)
    info.add_text("Software", "MarketPilot")
    out = Path(out)
    with atomic_path(out) as tmp:
        canvas.save(tmp, format="PNG", pnginfo=info)
    return out


def _product_image(
    canvas: Image.Image, draw: ImageDraw.ImageDraw, box, brief: Brief, image: Path | None, scale: float
) -> None:  # type: ignore[no-untyped-def]
    x0, y0, x1, y1 = (int(v) for v in box)
    if image is not None:
        try:
            picture = Image.open(image).convert("RGB")
        except OSError as exc:
            raise UserError(f"Cannot read product image {image}: {exc}") from exc
        picture.thumbnail((x1 - x0, y1 - y0))
        canvas.paste(picture, (x0 + (x1 - x0 - picture.width) // 2, y0 + (y1 - y0 - picture.height) // 2))
        return
    draw.rounded_rectangle(
        box, radius=int(28 * scale), fill=(255, 255, 255), outline=(230, 200, 190), width=3
    )
    name_font = _font(int(48 * scale))
    hint_font = _font(int(30 * scale))
    name = wrap(brief.product.name, name_font, x1 - x0 - 60)
    if len(name) > 3:  # a placeholder label, not copy: shortened, visibly
        name = [*name[:2], name[2][:-1] + "…"]
    hint = "商品图" if brief.language == "zh" else "product image"
    total = len(name) * name_font.size * 1.3 + hint_font.size
    y = y0 + ((y1 - y0) - total) / 2
    for line in name:
        draw.text(((x0 + x1 - name_font.getlength(line)) / 2, y), line, font=name_font, fill=_INK)
        y += name_font.size * 1.3
    draw.text(((x0 + x1 - hint_font.getlength(hint)) / 2, y), hint, font=hint_font, fill=_GREY)


def read_png_metadata(path: Path | str) -> dict[str, object]:
    """The text chunks of a rendered PNG, with the AIGC label parsed."""
    with Image.open(path) as img:
        chunks = dict(img.text)  # type: ignore[attr-defined]
    out: dict[str, object] = dict(chunks)
    if "AIGC" in chunks:
        out["AIGC"] = json.loads(chunks["AIGC"])
    return out
