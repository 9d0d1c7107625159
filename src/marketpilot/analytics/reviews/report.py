"""Render a ReviewInsight as Markdown and HTML (with an aspect bar chart) under home/reports/reviews/."""

from __future__ import annotations

import html
import re
from pathlib import Path

from marketpilot.analytics.reports import save_png
from marketpilot.analytics.reviews.insight import Claim, ReviewInsight
from marketpilot.atomic import write_text
from marketpilot.config import Settings

_LABELS = {
    "zh": {
        "title": "评价洞察",
        "sent": "情感",
        "mode": "模式",
        "aspects": "维度",
        "kw": "关键词",
        "clusters": "相似抱怨",
        "needs": "需求",
        "pains": "痛点",
        "no_llm": "模型总结缺失",
        "sell": "卖点",
        "pos": "好评",
        "neg": "差评",
        "neutral": "中性",
        "no_text": "无内容（默认好评等）",
        "other_lang": "其他语言（日文、韩文）",
        "ex": "例",
        "open": "* 模型发现的维度（词表之外，引用了提到它的分句）",
        "by_product": "各商品的维度",
        "product": "商品",
    },
    "en": {
        "title": "Review insight",
        "sent": "Sentiment",
        "mode": "mode",
        "aspects": "Aspects",
        "kw": "Keywords",
        "clusters": "Similar complaints",
        "needs": "Needs",
        "pains": "Pain points",
        "no_llm": "No model summary",
        "sell": "Selling points",
        "pos": "positive",
        "neg": "negative",
        "neutral": "neutral",
        "no_text": "no text (placeholders)",
        "other_lang": "other languages (Japanese, Korean)",
        "ex": "e.g.",
        "open": "* aspects the LLM named beyond the lexicon, citing the clauses that mention them",
        "by_product": "Aspects by product",
        "product": "product",
    },
}


MAX_GROUP_ROWS = 60  # the report's per-product table; the JSON output has every row


def _claims(claims: list[Claim], lang: str) -> list[str]:
    if lang == "zh":
        return [f"- {c.text}（评价：{'、'.join(c.cited_ids)}）" for c in claims] or ["- —"]
    return [f"- {c.text} (reviews: {', '.join(c.cited_ids)})" for c in claims] or ["- —"]


def to_markdown(insight: ReviewInsight) -> str:
    t = _LABELS[insight.lang]
    # Chinese text takes Chinese punctuation: 卖点：A、B, not "A, B"
    colon, sep = ("：", "、") if insight.lang == "zh" else (": ", ", ")
    lines = [
        f"# {t['title']}{colon}{insight.scope}",
        "",
        f"**{t['sent']}**{colon}{insight.n_reviews} · {t['pos']} {insight.positive}"
        f" · {t['neg']} {insight.negative}"
        + (f" · {t['no_text']} {insight.no_text}" if insight.no_text else "")
        + (f" · {t['other_lang']} {insight.other_lang}" if insight.other_lang else "")
        + (
            f"（{t['pos']} {insight.share_positive:.0%}；{t['mode']} {insight.sentiment_mode}）"
            if insight.lang == "zh"
            else f" ({insight.share_positive:.0%} {t['pos']}; {t['mode']} {insight.sentiment_mode})"
        ),
        "",
        f"**{t['sell']}**{colon}{sep.join(insight.selling_points) or '—'}",
        "",
        f"## {t['aspects']}",
        "",
        f"| {t['aspects']} | n | {t['pos']} | {t['neg']} | {t['neutral']} | {t['ex']} |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for s in insight.aspects:
        example = (s.complaint_examples or s.praise_examples or [""])[0].replace("|", "/")
        name = f"{s.name}*" if s.named_by == "llm" else s.name
        lines.append(f"| {name} | {s.mentions} | {s.positive} | {s.negative} | {s.neutral} | {example} |")
    if any(s.named_by == "llm" for s in insight.aspects):
        lines += ["", t["open"]]
    if insight.by_product:
        lines += ["", f"## {t['by_product']}", ""]
        lines += [
            f"| {t['product']} | {t['aspects']} | {t['pos']} | {t['neg']} | {t['neutral']} | {t['ex']} |"
        ]
        lines += ["|---|---|---:|---:|---:|---|"]
        for g in insight.by_product[:MAX_GROUP_ROWS]:
            example = (g.complaint_examples or g.praise_examples or [""])[0].replace("|", "/")
            lines.append(f"| {g.group} | {g.name} | {g.positive} | {g.negative} | {g.neutral} | {example} |")
    lines += ["", f"## {t['kw']}", "", sep.join(insight.keywords), "", f"## {t['clusters']}", ""]
    for c in insight.complaint_clusters:
        lines.append(f"- **{' / '.join(c.keywords)}** ({c.size}): {c.examples[0] if c.examples else ''}")
    lines += ["", f"## {t['needs']}", ""]
    if insight.llm_error:
        lines += [f"> {t['no_llm']}: {insight.llm_error.splitlines()[0]}", ""]
    lines += [
        *_claims(insight.needs, insight.lang),
        "",
        f"## {t['pains']}",
        "",
        *_claims(insight.pain_points, insight.lang),
    ]
    return "\n".join(lines) + "\n"


def aspect_chart(insight: ReviewInsight, path: Path) -> Path:
    """Stacked horizontal bars of positive, negative and neutral mentions per aspect (PNG); neutral
    last, so praise and complaints sit side by side and the whole bar is every mention."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _use_cjk_font()
    names = [s.name for s in insight.aspects][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.45 * max(3, len(names)) + 1))
    pos = [s.positive for s in insight.aspects][::-1]
    neg = [s.negative for s in insight.aspects][::-1]
    neutral = [s.neutral for s in insight.aspects][::-1]
    t = _LABELS[insight.lang]
    ax.barh(names, pos, color="#3a9d5d", label=t["pos"])
    ax.barh(names, neg, left=pos, color="#d9534f", label=t["neg"])
    ax.barh(
        names,
        neutral,
        left=[s.positive + s.negative for s in insight.aspects][::-1],
        color="#a0a0a0",
        label=t["neutral"],
    )
    ax.legend(loc="lower right")
    ax.set_title(insight.scope)
    return save_png(fig, path)


def _use_cjk_font() -> None:
    """The bundled Noto Sans CJK font, so Chinese labels are not tofu; the default font without it."""
    from marketpilot.content.fonts import use_cjk_font_in_matplotlib
    from marketpilot.errors import UserError

    try:
        use_cjk_font_in_matplotlib()
    except UserError:  # the font package is missing
        return


def to_html(insight: ReviewInsight, chart_name: str) -> str:
    body = html.escape(to_markdown(insight))
    body = re.sub(r"^# (.*)$", r"<h1>\1</h1>", body, flags=re.M)
    body = re.sub(r"^## (.*)$", r"<h2>\1</h2>", body, flags=re.M)
    body = re.sub(r"\*\*(.*?)\*\*", r"<b>\1</b>", body)
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(insight.scope)}</title></head><body>"
        f'<img src="{chart_name}" alt="aspects"><pre style="white-space:pre-wrap;font-family:sans-serif">'
        f"{body}</pre></body></html>"
    )


def write_report(insight: ReviewInsight, settings: Settings) -> dict[str, Path]:
    """Markdown, HTML and chart files under home/reports/reviews/<scope>.*; returns their paths."""
    stem = re.sub(r"[^\w\u4e00-\u9fff-]+", "_", insight.scope).strip("_") or "reviews"
    md = settings.path("reports", "reviews", f"{stem}.md")
    chart = aspect_chart(insight, md.with_suffix(".png"))
    page = md.with_suffix(".html")
    for path, text in ((md, to_markdown(insight)), (page, to_html(insight, chart.name))):
        write_text(path, text)
    return {"markdown": md, "html": page, "chart": chart}
