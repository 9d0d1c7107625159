"""`marketpilot copy …`: generate, check, eval, render. Each command calls one library function."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from marketpilot.atomic import atomic_path, write_text
from marketpilot.cli.app import (
    HomeOption,
    JsonOption,
    app,
    console,
    err_console,
    print_json,
    print_table,
    settings_for,
)
from marketpilot.content.briefs import CHANNELS, Brief
from marketpilot.errors import ProviderError, UserError
from marketpilot.wording import counted

if TYPE_CHECKING:
    from marketpilot.content.guardrails import Violation
    from marketpilot.content.service import BriefExtras

copy_app = typer.Typer(
    help="Marketing copy: generate variants, check guardrails, evaluate, render.", no_args_is_help=True
)
app.add_typer(copy_app, name="copy")

LangOption = Annotated[str, typer.Option("--lang", help="zh or en.")]


def _channel(value: str) -> str:
    if value not in CHANNELS:
        raise UserError(f"Unknown channel {value!r}.", hint=f"Use one of: {', '.join(CHANNELS)}")
    return value


def _lang(value: str) -> str:
    if value not in ("zh", "en"):
        raise UserError(f"--lang must be zh or en, got {value!r}.")
    return value


ProductOption = Annotated[str, typer.Option("--product", help="Product id in the store.")]
SegmentOption = Annotated[
    str,
    typer.Option(
        "--segment",
        help="Segment number or persona name from `marketpilot segment` (its persona goes into the "
        "prompt); 'all' for none.",
    ),
]
ChannelOption = Annotated[str, typer.Option("--channel", help=f"One of {', '.join(CHANNELS)}.")]
ShopOption = Annotated[str | None, typer.Option("--shop", help="Shop name for the SMS signature 【…】.")]
PromoOption = Annotated[float | None, typer.Option("--promo-price", help="Sale price in major units (319).")]
DiscountOption = Annotated[str | None, typer.Option("--discount", help="Discount: 8折, 20% or 0.2.")]
CouponOption = Annotated[
    str | None, typer.Option("--coupon", help="Coupon: 满300减50, 300-50, or an amount off such as 30.")
]
CouponCodeOption = Annotated[
    str | None, typer.Option("--coupon-code", help="Coupon code the copy may quote.")
]
DeadlineOption = Annotated[
    str | None, typer.Option("--deadline", help="Last day of the offer, YYYY-MM-DD (needed for 限时 claims).")
]
SeasonOption = Annotated[str | None, typer.Option("--season", help="Seasonal hook: 双11, 春节, 618 …")]
RequireOption = Annotated[
    list[str] | None, typer.Option("--require-word", help="A word every variant must use (repeatable).")
]
ForbidOption = Annotated[
    list[str] | None, typer.Option("--forbid-word", help="A word no variant may use (repeatable).")
]


def _extras(
    shop: str | None,
    promo_price: float | None,
    discount: str | None,
    coupon: str | None,
    coupon_code: str | None,
    deadline: str | None,
    season: str | None,
    require_words: list[str] | None,
    forbid_words: list[str] | None,
) -> BriefExtras:
    """The flags as brief extras; a value that cannot be read is a UserError naming the flag."""
    from pydantic import ValidationError

    from marketpilot.content.briefs import Offer, parse_coupon, parse_discount
    from marketpilot.content.service import BriefExtras

    try:
        off = parse_discount(discount)
    except ValueError as exc:
        raise UserError(f"--discount: {exc}") from exc
    threshold = amount = None
    if coupon:
        try:
            threshold, amount = parse_coupon(coupon)
        except ValueError as exc:
            raise UserError(f"--coupon: {exc}") from exc
    try:
        offer = Offer(
            coupon_code=coupon_code, coupon_amount=amount, coupon_threshold=threshold, deadline=deadline
        )
        return BriefExtras(
            promo_price=promo_price,
            discount=off,
            offer=offer,
            season=season,
            shop_name=shop,
            required_words=require_words or [],
            forbidden_words=forbid_words or [],
        )
    except ValidationError as exc:
        flags = {"promo_price": "--promo-price", "deadline": "--deadline", "coupon_code": "--coupon-code",
                 "coupon_amount": "--coupon", "coupon_threshold": "--coupon"}  # fmt: skip
        problems = "; ".join(
            (f"{flags.get(str(e['loc'][0]), e['loc'][0])}: " if e["loc"] else "")
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        raise UserError(f"Cannot build the brief: {problems}") from None


@copy_app.command("brief")
def brief_cmd(
    product: ProductOption,
    segment: SegmentOption = "all",
    channel: ChannelOption = "sms",
    lang: LangOption = "zh",
    shop: ShopOption = None,
    promo_price: PromoOption = None,
    discount: DiscountOption = None,
    coupon: CouponOption = None,
    coupon_code: CouponCodeOption = None,
    deadline: DeadlineOption = None,
    season: SeasonOption = None,
    require_word: RequireOption = None,
    forbid_word: ForbidOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the brief JSON here.")] = None,
    home: HomeOption = None,
) -> None:
    """Print (or write) the brief `copy generate` would use, for `copy check --brief` and review. No LLM."""
    from marketpilot.content.service import brief_for

    extras = _extras(
        shop, promo_price, discount, coupon, coupon_code, deadline, season, require_word, forbid_word
    )
    built = brief_for(settings_for(home), product, segment, _channel(channel), _lang(lang), extras)  # type: ignore[arg-type]
    payload = built.model_dump(mode="json")
    if out is None:
        print_json(payload)
        return
    write_text(out, built.model_dump_json(indent=2))
    console.print(f"Wrote {out}")


@copy_app.command("generate")
def generate_cmd(
    product: ProductOption,
    segment: SegmentOption = "all",
    channel: ChannelOption = "sms",
    n: Annotated[int, typer.Option("--n", min=1, max=20, help="Variants to generate.")] = 5,
    lang: LangOption = "zh",
    shop: ShopOption = None,
    promo_price: PromoOption = None,
    discount: DiscountOption = None,
    coupon: CouponOption = None,
    coupon_code: CouponCodeOption = None,
    deadline: DeadlineOption = None,
    season: SeasonOption = None,
    require_word: RequireOption = None,
    forbid_word: ForbidOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Generate N guardrail-checked copy variants for one product × segment × channel (one LLM call,
    plus repair and top-up calls when variants fail the guardrails or come back too few)."""
    from marketpilot.content.service import generate_for_product

    settings = settings_for(home)
    extras = _extras(
        shop, promo_price, discount, coupon, coupon_code, deadline, season, require_word, forbid_word
    )
    with err_console.status("Generating copy…"):
        result = generate_for_product(settings, product, segment, _channel(channel), n, _lang(lang), extras)  # type: ignore[arg-type]
    if result.error:
        # The first call failed, so there is nothing to show: the model is down or broken, not the
        # user's input (exit 3, as the API's 502), and never a 0-variant result that exits 0.
        raise ProviderError(f"Generation failed: {result.error}")
    payload = result.model_dump(mode="json", exclude={"brief"})
    if as_json:
        print_json(payload)
        return
    for i, variant in enumerate(result.variants, 1):
        tag = " (repaired)" if variant.repaired else ""
        segs = f" · {variant.sms_segments} SMS segment(s)" if variant.sms_segments else ""
        ctr = f" · predicted CTR {variant.predicted_ctr:.1%}" if variant.predicted_ctr is not None else ""
        console.print(
            f"[bold]{i}. {escape(variant.angle)}[/]{tag}{segs}{ctr}\n   {escape(variant.text)}",
            markup=True,
            highlight=False,
        )
    for dropped in result.dropped:
        console.print(
            f"[dim]dropped ({dropped.reason}): {escape(f'{dropped.text} — {dropped.detail}')}[/]",
            markup=True,
            highlight=False,
        )
    console.print(
        f"{counted(len(result.variants), 'variant')}, {result.fixed} fixed, {len(result.dropped)} dropped, "
        f"{counted(result.llm_calls, 'LLM call')}"
    )
    if result.shortfall:
        err_console.print(f"[yellow]warning:[/] {escape(result.shortfall)}", markup=True, highlight=False)


def _findings(violations: list[Violation]) -> list[str]:
    """One line per phrase and what is wrong with it: a phrase that two rules flag, or that the copy
    says twice, is printed once, with its positions and a count."""
    at: dict[tuple[tuple[int, int], str], list[Violation]] = {}
    for v in violations:
        at.setdefault((v.span, v.text), []).append(v)
    spans: dict[tuple[str, tuple[tuple[str, str, str | None], ...]], list[tuple[int, int]]] = {}
    for (span, text), found in at.items():
        spans.setdefault((text, tuple((v.rule, v.message, v.suggestion) for v in found)), []).append(span)
    lines = []
    for (text, found), where in spans.items():
        rules = ", ".join(dict.fromkeys(rule for rule, _, _ in found))
        said = "; ".join(dict.fromkeys(message for _, message, _ in found))
        hints = "; ".join(dict.fromkeys(hint for _, _, hint in found if hint))
        count = f" ×{len(where)}" if len(where) > 1 else ""
        positions = ", ".join(f"{start}:{end}" for start, end in where)
        lines.append(
            f"[red]{rules}[/] "
            + escape(f"[{positions}] “{text}”{count}: {said}" + (f"\n   → {hints}" if hints else ""))
        )
    return lines


@copy_app.command("check")
def check_cmd(
    text: Annotated[str, typer.Argument(help="The copy to check.")],
    brief: Annotated[
        Path,
        typer.Option(
            "--brief",
            help="Brief JSON: name, price, promo_price, discount, currency, attributes, language, offer.",
        ),
    ],
    channel: Annotated[str | None, typer.Option("--channel", help="Channel (default: the brief's).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the guardrails on TEXT (no LLM). Exit code 1 when there are violations."""
    from marketpilot.content.briefs import load_brief
    from marketpilot.content.channels import channel_specs
    from marketpilot.content.guardrails import check_copy

    result = check_copy(
        text, load_brief(brief), _channel(channel) if channel else None, specs=channel_specs()
    )
    if as_json:
        print_json(result.public())
    else:
        for line in _findings(result.violations):
            console.print(line, markup=True, highlight=False)
        if result.sms:
            console.print(
                f"SMS: {result.sms.chars} characters ({result.sms.encoding}), "
                f"{result.sms.segments} billed segment(s)"
            )
        console.print("[green]OK[/]" if result.ok else f"{len(result.violations)} violation(s)", markup=True)
    if not result.ok:
        raise typer.Exit(1)


@copy_app.command("eval")
def eval_cmd(
    input_path: Annotated[Path, typer.Option("--input", help="AdvertiseGen JSONL ({'content', 'summary'}).")],
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Distinct inputs to use.")] = 100,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the generated copy (JSONL).")
    ] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Generate copy for AdvertiseGen inputs; score BLEU-4, ROUGE-L, coverage, hallucination, distinct-2."""
    from rich.progress import Progress

    from marketpilot.content.evaluate import evaluate_advertisegen
    from marketpilot.llm import get_client

    settings = settings_for(home)
    out = out or settings.path("content", "advertisegen_generated.jsonl")
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("Generating", total=limit)
        report = evaluate_advertisegen(
            input_path,
            get_client(settings),
            limit=limit,
            out=out,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    if as_json:
        print_json(report.model_dump(mode="json"))
        return
    from rich.table import Table

    table = Table(title=f"AdvertiseGen ({report.generated.n} inputs, {report.model}, {report.seconds}s)")
    for col in ("", "BLEU-4", "ROUGE-L", "coverage", "halluc. rate", "distinct-2"):
        table.add_column(col)
    for name, s in (("generated", report.generated), ("human reference", report.references)):
        table.add_row(
            name,
            *(str(x) for x in (s.bleu4, s.rouge_l, s.attribute_coverage, s.hallucination_rate, s.distinct2)),
        )
    print_table(table)
    console.print(f"Generated copy written to {report.out}")


render_app = typer.Typer(
    help="Render copy into assets: an e-mail (HTML + text) or a poster/banner PNG.", no_args_is_help=True
)
copy_app.add_typer(render_app, name="render")


@render_app.command("poster")
def render_poster_cmd(
    headline: Annotated[str, typer.Argument(help="Headline copy (checked by the guardrails first).")],
    brief: Annotated[Path, typer.Option("--brief", help="Brief JSON with the product facts.")],
    out: Annotated[Path, typer.Option("--out", help="PNG file to write.")],
    layout: Annotated[
        str, typer.Option("--layout", help="poster (1080×1350) or banner (1200×628).")
    ] = "poster",
    image: Annotated[
        Path | None, typer.Option("--image", help="Product image; a placeholder when absent.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Render a poster/banner PNG with CJK text, price, the visible AI label and AIGC metadata."""
    from marketpilot.content.render import read_png_metadata, render_poster

    if layout not in ("poster", "banner"):
        raise UserError("--layout must be poster or banner.")
    path = render_poster(headline, _checked(headline, brief, "banner"), out, layout=layout, image=image)  # type: ignore[arg-type]
    meta = read_png_metadata(path)
    if as_json:
        print_json({"path": str(path), "metadata": meta})
    else:
        console.print(f"Wrote {path}")


@render_app.command("email")
def render_email_cmd(
    subject: Annotated[str, typer.Option("--subject", help="Subject line.")],
    body: Annotated[
        str, typer.Option("--body", help="Body copy; first line is the headline, one paragraph per line.")
    ],
    brief: Annotated[Path, typer.Option("--brief", help="Brief JSON with the product facts.")],
    out: Annotated[Path, typer.Option("--out", help="Writes OUT (HTML) and OUT with .txt (plain text).")],
    unsubscribe_url: Annotated[str, typer.Option("--unsubscribe-url", help="One-click unsubscribe link.")],
    cta_url: Annotated[str | None, typer.Option("--cta-url", help="Button link.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Render a responsive HTML e-mail with a plain-text part, unsubscribe link and AI notice."""
    from marketpilot.content.render import render_email

    html_path, text_path = out, out.with_suffix(".txt")
    if html_path == text_path:
        raise UserError(f"--out {out}: name the HTML file (mail.html); the plain text goes beside it.")
    checked = _checked(subject, brief, "email_subject")
    _checked(body, brief, "email_body")
    email = render_email(subject, body, checked, unsubscribe_url=unsubscribe_url, cta_url=cta_url)
    # both parts or neither: a text path that cannot be written leaves no HTML behind
    with atomic_path(html_path) as html_tmp, atomic_path(text_path) as text_tmp:
        html_tmp.write_text(email.html, encoding="utf-8")
        text_tmp.write_text(email.text, encoding="utf-8")
    if as_json:
        print_json({"html": str(html_path), "text": str(text_path), "headers": email.headers})
    else:
        console.print(f"Wrote {html_path} and {text_path}")


def _checked(text: str, brief_path: Path, channel: str) -> Brief:
    """Load the brief and refuse to render copy that fails the guardrails (the rendered asset carries its
    own AI label, so the visible-label rule is not applied to the text here)."""
    from marketpilot.content.briefs import load_brief
    from marketpilot.content.channels import rendered_specs
    from marketpilot.content.guardrails import check_copy

    brief = load_brief(brief_path)
    result = check_copy(text, brief, channel, specs=rendered_specs(channel))
    if not result.ok:
        problems = [f"{v.rule} [{v.span[0]}:{v.span[1]}] {v.text}: {v.message}" for v in result.violations]
        raise UserError(
            "The copy fails the guardrails:\n  " + "\n  ".join(problems),
            hint="Fix it or run `marketpilot copy check`.",
        )
    return brief
