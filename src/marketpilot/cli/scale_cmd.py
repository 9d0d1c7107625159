"""`marketpilot scale sentiment|copy`: the same jobs on Ray, past one process or one machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from marketpilot.atomic import write_text
from marketpilot.cli.app import HomeOption, JsonOption, app, console, err_console, print_json, settings_for

scale_app = typer.Typer(
    help="Ray scale-out: review sentiment over huge files, copy for many briefs (the ray extra).",
    no_args_is_help=True,
)
app.add_typer(scale_app, name="scale")

AddressOption = Annotated[
    str | None,
    typer.Option(
        "--address", help="Ray cluster to join ('auto', 'ray://head:10001'); default: start one here."
    ),
]
CpusOption = Annotated[
    int | None, typer.Option("--num-cpus", min=1, help="CPUs for a Ray started here (default: all).")
]


@scale_app.command("sentiment")
def sentiment_cmd(
    input: Annotated[Path, typer.Option("--input", help="Parquet file or directory, or CSV (UTF-8/GBK).")],
    text_col: Annotated[str, typer.Option("--text-col", help="Column holding the review text.")],
    out: Annotated[Path, typer.Option("--out", help="New directory for the scored Parquet files.")],
    lang: Annotated[str, typer.Option("--lang", help="auto, zh or en.")] = "auto",
    label_col: Annotated[
        str | None,
        typer.Option(
            "--label-col",
            help="Gold labels, kept beside the scores as `reviews sentiment --label-col` keeps them "
            "(a column called label becomes gold_label); for accuracy use `reviews sentiment`.",
        ),
    ] = None,
    mode: Annotated[
        str, typer.Option("--mode", help="fast, accurate or llm (as `reviews sentiment`).")
    ] = "fast",
    address: AddressOption = None,
    num_cpus: CpusOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Label every review pos/neg with a probability on Ray workers; each review is scored on its own
    (as `reviews sentiment --no-adapt`)."""
    from marketpilot.scale.sentiment import score_file_ray

    settings = settings_for(home) if mode == "llm" else None
    with err_console.status("Scoring on Ray…"):
        summary = score_file_ray(
            input,
            text_col,
            out,
            lang=lang,
            label_col=label_col,
            mode=mode,
            settings=settings,
            address=address,
            num_cpus=num_cpus,
        )
    # as `reviews sentiment` reports: no_text / other_lang only when there are any
    counts = summary.model_dump(exclude_none=True)
    if json_out:
        print_json(counts)
    else:
        said = " ".join(f"{k}={v}" for k, v in counts.items() if k not in ("out", "files"))
        console.print(f"{said} → {summary.out}")


@scale_app.command("copy")
def copy_cmd(
    briefs: Annotated[
        Path, typer.Option("--briefs", help="JSON Lines: one brief per line (see `copy brief`).")
    ],
    out: Annotated[Path, typer.Option("--out", help="JSON Lines of variant sets, one per brief.")],
    n: Annotated[int, typer.Option("--n", min=1, max=20, help="Variants per brief.")] = 3,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Ray workers sending requests.")] = 2,
    address: AddressOption = None,
    num_cpus: CpusOption = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Guardrail-checked variants for every brief, the LLM calls spread over Ray workers (meant for an
    OpenAI-compatible server)."""
    from marketpilot.scale.copy import generate_copy_ray, read_briefs

    settings = settings_for(home)
    todo = read_briefs(briefs)
    with err_console.status(f"Writing copy for {len(todo)} briefs on Ray…"):
        results = generate_copy_ray(todo, settings, n=n, address=address, num_cpus=num_cpus, workers=workers)
    write_text(out, "".join(r.model_dump_json() + "\n" for r in results))
    summary = {
        "briefs": len(results),
        "variants": sum(len(r.variants) for r in results),
        "dropped": sum(len(r.dropped) for r in results),
        "failed": sum(r.error is not None for r in results),
        "out": str(out),
    }
    if json_out:
        print_json(summary)
    else:
        console.print(" ".join(f"{k}={v}" for k, v in summary.items()))
