"""`marketpilot reviews …`: sentiment scoring of a file, and the review-insight report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from marketpilot.cli.app import HomeOption, JsonOption, app, console, print_json, settings_for
from marketpilot.wording import counted

reviews_app = typer.Typer(help="Review insight: sentiment, aspects, needs and pain points (评价洞察).")
app.add_typer(reviews_app, name="reviews")


@reviews_app.command("sentiment")
def sentiment(
    input: Annotated[Path, typer.Option("--input", help="CSV (UTF-8/GBK) or Parquet file of reviews.")],
    text_col: Annotated[str, typer.Option("--text-col", help="Column holding the review text.")],
    lang: Annotated[str, typer.Option("--lang", help="auto, zh or en.")] = "auto",
    label_col: Annotated[
        str | None,
        typer.Option(
            "--label-col",
            help="Gold labels (1/0, pos/neg, positive/negative, 正面/负面, 好评/差评, true/false, 1-5 "
            "stars): adds accuracy, on the rows with text and a pos/neg label (中评, 3 stars and blanks "
            "are counted apart).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write rows with label and probability (text PII-masked) here."),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="fast (n-gram, >5k/s), accurate (mostly e5 embeddings, ~15/s; better on unfamiliar "
            "products) or llm (the configured LLM's label probabilities where accurate is unsure, ~0.5/s "
            "embedded).",
        ),
    ] = "fast",
    adapt: Annotated[
        bool,
        typer.Option(
            "--adapt/--no-adapt",
            help="With 1,000+ reviews of a language, also learn from the file's own most confident "
            "reviews: fast mode Chinese only (+1.5 to +6 points on unfamiliar sources, about -1.5 on "
            "reviews like the training corpora), accurate and llm modes both languages (+0.8 to +2.4). "
            "A review's score then depends on the rest of the file; --no-adapt scores each alone.",
        ),
    ] = True,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Label each review pos/neg with a probability (the shipped model)."""
    from marketpilot.analytics.reviews.batch import score_file

    settings = settings_for(home) if mode == "llm" else None
    _, summary = score_file(
        input,
        text_col,
        lang=lang,
        label_col=label_col,
        out=out,
        mode=mode,
        adapt=adapt,
        settings=settings,
    )
    if json_out:
        print_json(summary)
    else:
        console.print(" ".join(f"{k}={v}" for k, v in summary.items()) + (f" → {out}" if out else ""))


@reviews_app.command("insight")
def insight(
    product: Annotated[str | None, typer.Option("--product", help="One product id.")] = None,
    category: Annotated[str | None, typer.Option("--category", help="One category (类目).")] = None,
    lang: Annotated[
        str | None, typer.Option("--lang", help="zh or en (default: the reviews' language).")
    ] = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Skip the LLM needs/pain-points summary.")] = False,
    open_aspects: Annotated[
        bool,
        typer.Option(
            "--open-aspects",
            help="Also let the LLM name aspects the lexicon lacks (早餐, 翻译, camera…); each must "
            "cite the review clauses that mention it. One more LLM call.",
        ),
    ] = False,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="fast: n-grams for reviews and aspect clauses; accurate: the e5 head, better on "
            "unfamiliar products and wording (~100 clauses/s on 2 cores).",
        ),
    ] = "fast",
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Aspects, keywords, complaint clusters and cited needs/pain points → HTML + Markdown report."""
    from marketpilot.analytics.reviews.insight import review_insight
    from marketpilot.analytics.reviews.report import write_report
    from marketpilot.errors import UserError

    if lang not in (None, "zh", "en"):
        raise UserError(f"--lang must be zh or en, not {lang!r}")
    if mode not in ("fast", "accurate"):
        raise UserError(f"--mode must be fast or accurate, not {mode!r}")
    settings = settings_for(home)
    result = review_insight(
        settings,
        product,
        category,
        lang=lang,  # type: ignore[arg-type]
        use_llm=not no_llm,
        open_aspects=open_aspects,
        sentiment_mode=mode,  # type: ignore[arg-type]
    )
    paths = write_report(result, settings)
    if json_out:
        print_json({"insight": result.model_dump(), "files": {k: str(v) for k, v in paths.items()}})
    else:
        console.print(
            f"{result.scope}: {counted(result.n_reviews, 'review')}, {result.share_positive:.0%} positive"
        )
        for kind, path in paths.items():
            console.print(f"  {kind}: {path}")
