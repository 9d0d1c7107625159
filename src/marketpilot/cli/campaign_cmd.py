"""`marketpilot campaign …` and `marketpilot track …`: thin wrappers over marketpilot.campaigns."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

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
from marketpilot.wording import counted

if TYPE_CHECKING:
    from marketpilot.campaigns.executor import RunResult
    from marketpilot.campaigns.tracking import IngestResult

campaign_app = typer.Typer(
    help="Campaigns: plan, approve, run, measure, optimise (营销活动).", no_args_is_help=True
)
track_app = typer.Typer(help="Tracking events: delivery, open, click, conversion.", no_args_is_help=True)
app.add_typer(campaign_app, name="campaign")
app.add_typer(track_app, name="track")

IdArg = Annotated[str, typer.Argument(help="Campaign id (see `marketpilot campaign list`).")]


def _engine(home: Path | None):  # type: ignore[no-untyped-def]
    from marketpilot.campaigns.state.db import open_state

    settings = settings_for(home)
    return settings, open_state(settings)


@campaign_app.command("plan")
def plan_cmd(
    goal: Annotated[
        str, typer.Argument(help='The goal in words, e.g. "春节前唤醒90天未购的高价值客户，预算5000条短信".')
    ],
    save: Annotated[Path | None, typer.Option("--save", help="Write the spec YAML here.")] = None,
    create: Annotated[
        bool, typer.Option("--create", help="Store it as a draft campaign awaiting approval.")
    ] = False,
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Draft a campaign spec from a goal with the LLM; validated against the data, audience counted."""
    from marketpilot.campaigns.planner import plan_campaign
    from marketpilot.campaigns.service import create_campaign

    settings, engine = _engine(home)
    plan = plan_campaign(settings, goal)
    yaml_text = plan.spec.to_yaml()
    if save:
        write_text(save, yaml_text)
    campaign_id = create_campaign(engine, plan.spec, audience_size=plan.audience_size) if create else None
    if json:
        print_json(
            {
                "spec": plan.spec.model_dump(mode="json"),
                "audience_size": plan.audience_size,
                "contactable": plan.contactable,
                "clv_range": plan.clv_range.model_dump() if plan.clv_range else None,
                "dropped": plan.dropped,
                "unmatched_group": plan.unmatched_group,
                "unread_categories": plan.unread_categories,
                "readings": plan.readings,
                "warnings": plan.warnings,
                "campaign_id": campaign_id,
            }
        )
        return
    console.print(yaml_text, highlight=False)
    # Both: with consent required, the rules may select everyone while nobody has opted in yet.
    opt_in = " (explicit opt-ins only)" if plan.spec.consent_required else ""
    console.print(
        f"Audience (computed): {counted(plan.audience_size, 'customer')}; "
        f"contactable now{opt_in}: {plan.contactable:,}"
    )
    if plan.clv_range:
        console.print(f"CLV band today: {plan.clv_range.min:,.2f} – {plan.clv_range.max:,.2f}")
    if plan.dropped:
        console.print(f"Not in the goal, left out: {', '.join(plan.dropped)}")
    if plan.unread_categories:
        words = ", ".join(repr(w) for w in plan.unread_categories)
        console.print(f"Not read as a product category (no category or browse rule for them): {words}")
    for reading in plan.readings:  # 买过美妆和服饰: either or both; which one the plan took
        console.print(f"Read as: {escape(reading)}")
    _print_warnings(plan.warnings)
    if plan.unmatched_group:
        console.print(
            f"No segment or RFM class matches {plan.unmatched_group!r}: the audience is the rules above "
            "only; name one (`marketpilot segment`, `marketpilot rfm`) to narrow it."
        )
    if campaign_id:
        console.print(
            f"Created draft [bold]{escape(campaign_id)}[/]; approve with "
            f"`marketpilot campaign approve {escape(campaign_id)} --by NAME`",
            markup=True,
        )


@campaign_app.command("create")
def create_cmd(
    spec_file: Annotated[Path, typer.Option("--spec", help="Campaign spec YAML (UTF-8 or GBK).")],
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Store a campaign from a spec file (validated against the schema and the data)."""
    from marketpilot.campaigns.audience import AudienceSource
    from marketpilot.campaigns.planner import create_checked
    from marketpilot.campaigns.spec import load_spec

    settings, _ = _engine(home)
    spec = load_spec(spec_file)
    campaign_id, size = create_checked(settings, spec, source=str(spec_file))
    # created all the same: the rules evaluate, the data may make them read wrong
    warnings = AudienceSource(settings).warnings(spec.audience, spec.language)
    if json:
        print_json({"campaign_id": campaign_id, "audience_size": size, "warnings": warnings})
    else:
        _print_warnings(warnings)
        console.print(
            f"Created [bold]{escape(campaign_id)}[/] (audience {size:,}); review it with `marketpilot "
            f"campaign show {escape(campaign_id)}`, then `marketpilot campaign approve "
            f"{escape(campaign_id)} --by NAME` so that `campaign run` may send it.",
            markup=True,
        )


def _print_warnings(warnings: list[str]) -> None:
    for line in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(line)}", markup=True, highlight=False)


@campaign_app.command("show")
def show_cmd(
    campaign_id: IdArg,
    audit: Annotated[
        bool, typer.Option("--audit", help="Also list versions, approvals, variants (with rejections).")
    ] = False,
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Show the current spec (and with --audit, the audit trail)."""
    from marketpilot.campaigns.service import audit_trail, get_spec

    _, engine = _engine(home)
    spec, version = get_spec(engine, campaign_id)
    trail = audit_trail(engine, campaign_id) if audit else {}
    if json:
        print_json(
            {
                "campaign_id": campaign_id,
                "version": version,
                "spec": spec.model_dump(mode="json"),
                **{
                    k: v.drop(columns=["body"], errors="ignore").to_dict("records")
                    for k, v in trail.items()
                    if k in ("versions", "approvals", "variants", "briefs")
                },
            }
        )
        return
    console.print(f"[bold]{escape(campaign_id)}[/] version {version}", markup=True)
    console.print(spec.to_yaml(), highlight=False)
    for name in ("versions", "approvals", "variants"):
        if name in trail:
            console.print(f"[bold]{name}[/]", markup=True)
            console.print(trail[name].drop(columns=["spec_yaml"], errors="ignore").to_string())


@campaign_app.command("approve")
def approve_cmd(
    campaign_id: IdArg,
    by: Annotated[str, typer.Option("--by", help="Who approves (kept in the audit trail).")],
    note: Annotated[str, typer.Option("--note")] = "",
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Approve the current version so that `run` may send it."""
    from marketpilot.campaigns.service import approve

    _, engine = _engine(home)
    version = approve(engine, campaign_id, approver=by, note=note)
    if json:
        print_json({"campaign_id": campaign_id, "version": version, "approved_by": by})
    else:
        console.print(f"Approved {campaign_id} v{version} by {by}")


@campaign_app.command("run")
def run_cmd(
    campaign_id: IdArg,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Stay until messages held by quiet hours / send_at are sent too."),
    ] = False,
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Plan (once) and dispatch the approved version; re-run to resume after a crash, after quiet
    hours for the messages they held back, or after a receiver (SMTP server, gateway) that failed:
    its channel stops at once, its messages stay queued, and the command exits 3."""
    from marketpilot.campaigns.executor import run_campaign

    settings = settings_for(home)

    def waiting(result: RunResult) -> None:
        if not json:
            console.print(
                f"Waiting until {_local(settings, result)} to send {result.pending:,} held messages …"
            )

    result = run_campaign(settings, campaign_id, wait=wait, on_wait=waiting)
    payload = {
        "campaign_id": result.campaign_id,
        "version": result.version,
        "planned_now": result.planned,
        "plan": result.plan.__dict__,
        "sent": result.sent,
        "failed": result.failed,
        "resent_after_crash": result.resent_after_crash,
        "pending": result.pending,
        "deferred_until": result.deferred_until,
        "errors": result.errors,
    }
    if json:
        print_json(payload)
        _exit_on_outage(result)
        return
    for line in _run_lines(result):
        console.print(line, highlight=False)
    for channel, keys in result.plan.no_copy.items():
        for key, why in keys.items():
            line = f"{channel}/{key} has no copy and gets no {channel} customers: {why}"
            err_console.print(
                f"[yellow]warning:[/] {escape(line)}",
                markup=True,
                highlight=False,
            )
    if result.deferred_until is not None:
        held = "Messages" if result.errors else counted(result.pending, "message")
        console.print(
            f"Held {held} (quiet hours / send time); next allowed send time "
            f"{_local(settings, result)}. Re-run `marketpilot campaign run {campaign_id}` then, "
            "or use --wait.",
        )
    for channel, error in result.errors.items():
        err_console.print(f"[red]error:[/] {escape(f'{channel}: {error}')}", markup=True, highlight=False)
    if result.errors:
        err_console.print(
            f"{counted(result.pending, 'message')} not sent yet stay queued; the campaign stays running. "
            f"Fix the receiver and re-run `marketpilot campaign run {campaign_id}` to resume "
            "(nothing already sent is sent again).",
            highlight=False,
        )
    _exit_on_outage(result)


def _exit_on_outage(result: RunResult) -> None:
    """A receiver that failed is a provider error: exit code 3, after the run's figures."""
    if result.errors:
        raise typer.Exit(3)


def _run_lines(result: RunResult) -> list[str]:
    """What `campaign run` did, in words: the plan (on the run that made it) and the sends."""
    plan = result.plan
    head = f"{result.campaign_id} v{result.version}"
    if not result.planned:
        lines = [f"{head}: planned by an earlier run; resumed."]
    else:
        left_out = {
            "without a channel they may be sent on": plan.no_channel,
            "over the frequency cap": plan.capped,
            "over the message budget": plan.over_budget,
        }
        parts = [f"{counted(plan.audience, 'customer')} in the audience"]
        parts += [f"{n:,} {why}" for why, n in left_out.items() if n]
        parts += [f"{plan.holdout:,} held out", f"{counted(plan.queued, 'message')} queued"]
        lines = [f"{head}: " + ", ".join(parts) + "."]
        if plan.arms:
            lines.append("Arms: " + ", ".join(f"{k} {n:,}" for k, n in plan.arms.items()) + ".")
        if plan.channels:
            lines.append("Channels: " + ", ".join(f"{k} {n:,}" for k, n in plan.channels.items()) + ".")
        if plan.not_personalised:
            lines.append(
                f"Not personalised (revoked personalisation, PIPL Art. 24): {plan.not_personalised:,}."
            )
        if plan.llm_calls:
            lines.append(f"Copy: {counted(plan.llm_calls, 'LLM call')}.")
    sent = f"Sent {result.sent:,}, failed {result.failed:,}"
    if result.resent_after_crash:
        sent += f", {result.resent_after_crash:,} re-sent after a crash"
    return [*lines, sent + "."]


def _local(settings, result) -> str:  # type: ignore[no-untyped-def]
    """The next allowed send time in the campaign's own time zone."""
    from marketpilot.campaigns.service import get_spec
    from marketpilot.campaigns.state.db import open_state

    spec, _ = get_spec(open_state(settings), result.campaign_id, result.version)
    return result.deferred_until.astimezone(spec.schedule.zone).strftime("%Y-%m-%d %H:%M:%S %Z")


@campaign_app.command("status")
def status_cmd(campaign_id: IdArg, home: HomeOption = None, json: JsonOption = False) -> None:
    """Message counts by version, channel and status."""
    from marketpilot.campaigns.service import message_counts

    _, engine = _engine(home)
    payload = message_counts(engine, campaign_id)
    if json:
        print_json(payload)
    elif not payload:
        console.print(f"Campaign {campaign_id} has no messages yet (approve and run it to queue them).")
    else:
        table = Table(title=f"Messages of {campaign_id}")
        for column in ("version", "channel", "status", "messages"):
            table.add_column(column, justify="right" if column in ("version", "messages") else "left")
        for row in payload:
            table.add_row(*(str(row[c]) for c in ("version", "channel", "status", "messages")))
        print_table(table)


@campaign_app.command("report")
def report_cmd(
    campaign_id: IdArg,
    version: Annotated[int | None, typer.Option("--version")] = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Templated narrative only.")] = False,
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Measure (lift vs holdout with CIs, SRM, posteriors) and write the HTML report."""
    from marketpilot.campaigns.report import write_report

    settings, engine = _engine(home)
    report = write_report(settings, engine, campaign_id, version, use_llm=not no_llm)
    if json:
        print_json(
            {
                "report": str(report.path),
                "metrics": report.metrics.model_dump(mode="json"),
                "narrative": report.narrative.model_dump(),
                "limits": report.limits,
            }
        )
        return
    console.print(report.narrative.text, highlight=False)
    if report.narrative.source == "llm":  # the templated narrative already states them
        for line in report.limits:
            console.print(f"! {line}", highlight=False)
    console.print(f"Report: {report.path}")


@campaign_app.command("outcomes")
def outcomes_cmd(
    campaign_id: IdArg,
    out: Annotated[Path, typer.Option("--out", help="CSV (UTF-8 with BOM) or .parquet file to write.")],
    version: Annotated[int | None, typer.Option("--version")] = None,
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """One row per assigned customer (arm, converted, revenue, features before the send): the input
    of `marketpilot decide uplift`, to learn whom to target next time."""
    from marketpilot.campaigns.experiment import experiment_table
    from marketpilot.errors import UserError

    settings, _ = _engine(home)
    # Only the two table formats it writes: `--out state.sqlite` or `marketpilot.duckdb` would replace
    # the home's own databases with a CSV, and `.xlsx` would be CSV text Excel refuses to open.
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise UserError(
            f"--out {out}: write a .csv or .parquet file, not {out.suffix or 'one without a suffix'}."
        )
    if out.resolve().is_relative_to(settings.home_dir / "intel"):
        raise UserError(f"--out {out} is inside intel's outputs, which campaigns read: write it elsewhere.")
    table = experiment_table(settings, campaign_id, version)
    features = table.attrs["features"]
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False, encoding="utf-8-sig")
    arms = table["arm"].value_counts().to_dict()
    if json:
        print_json({"path": str(out), "rows": len(table), "arms": arms, "features": features})
        return
    console.print(
        f"{counted(len(table), 'customer')} ({', '.join(f'{a} {n:,}' for a, n in arms.items())}) → {out}"
    )
    console.print(
        f"Next: marketpilot decide uplift --input {out} --treatment-col arm --control holdout "
        f"--outcome-col converted --id-col customer_id --features {','.join(features)}",
        soft_wrap=True,
    )


@campaign_app.command("optimize")
def optimize_cmd(
    campaign_id: IdArg,
    no_rewrite: Annotated[
        bool, typer.Option("--no-rewrite", help="Do not ask the LLM to rewrite losing copy.")
    ] = False,
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Propose the next iteration as a new spec version (needs approval before it runs)."""
    from marketpilot.campaigns.optimize import optimize_campaign

    settings, engine = _engine(home)
    proposal = optimize_campaign(settings, engine, campaign_id, rewrite=not no_rewrite)
    if json:
        print_json(proposal.model_dump())
    else:
        console.print(f"{campaign_id} v{proposal.version}:")
        for change in proposal.changes:
            console.print(f"  - {change}")


@campaign_app.command("simulate")
def simulate_cmd(
    campaign_id: IdArg,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Simulate customer responses to the latest run and ingest them (offline demos)."""
    from marketpilot.campaigns.service import get_spec
    from marketpilot.campaigns.simulate import SimulationConfig, simulate_responses
    from marketpilot.campaigns.tracking import ingest_file

    settings, engine = _engine(home)
    spec, version = get_spec(engine, campaign_id)
    truth = simulate_responses(settings, engine, campaign_id, version, SimulationConfig(seed=seed), spec=spec)
    ingested = ingest_file(engine, truth.events_file)
    payload = truth.model_dump(mode="json") | {"ingested": ingested.__dict__}
    if json:
        print_json(payload)
        return
    arms = ", ".join(f"{arm} {lift * 100:+.2f} pp" for arm, lift in truth.true_variant_lift.items())
    console.print(
        f"Simulated {counted(truth.events, 'event')} for {campaign_id} v{version}: {truth.events_file}",
        highlight=False,
    )
    console.print(f"True lift (what the report should find): {truth.true_lift * 100:+.2f} pp ({arms}).")
    _print_ingested(ingested)


@campaign_app.command("list")
def list_cmd(home: HomeOption = None, json: JsonOption = False) -> None:
    """All campaigns with status and current version."""
    from marketpilot.campaigns.service import list_campaigns

    _, engine = _engine(home)
    frame = list_campaigns(engine)
    if json:
        print_json(frame.to_dict("records"))
    elif frame.empty:
        console.print("No campaigns yet.")
    else:  # a rich table measures Chinese names at their display width, so columns stay aligned
        table = Table()
        for column in frame.columns:
            table.add_column(str(column), no_wrap=column == "id", overflow="fold")
        for row in frame.itertuples(index=False):
            table.add_row(*("" if pd.isna(v) else str(v)[:16] if k == "created_at" else str(v)
                            for k, v in zip(frame.columns, row, strict=True)))  # fmt: skip
        print_table(table)


@track_app.command("ingest")
def ingest_cmd(
    file: Annotated[Path, typer.Argument(help="CSV or JSON-lines events file.")],
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Ingest events (deduplicated by event id) and attribute conversions."""
    from marketpilot.campaigns.tracking import ingest_file

    settings, engine = _engine(home)
    result = ingest_file(engine, file, currency=settings.currency)
    if json:
        print_json(result.__dict__)
        return
    _print_ingested(result)


def _print_ingested(result: IngestResult) -> None:
    console.print(
        f"{counted(result.received, 'event')} read: {result.new:,} new, "
        f"{result.duplicates:,} already ingested; "
        f"{counted(result.attributed, 'conversion')} attributed to campaigns, "
        f"{counted(result.suppressed, 'suppression')} added."
    )
    if result.unattributed:
        console.print(
            f"{counted(result.unattributed, 'new conversion')} not attributed: no customer id, or no "
            "campaign assignment of the customer at or before the conversion within its attribution window "
            "(never sent anything, converted before the send, or too late)."
        )
    if result.no_revenue:
        console.print(
            f"{counted(result.no_revenue, 'new conversion')} {'has' if result.no_revenue == 1 else 'have'} "
            "no revenue: counted as conversions worth 0 "
            "(send revenue or revenue_minor with each order to measure revenue)."
        )
    if result.unknown_messages:
        console.print(
            f"{counted(result.unknown_messages, 'new event')} "
            f"{'names' if result.unknown_messages == 1 else 'name'} a message never sent from here "
            "(idempotency_key): stored, but tied to no message; without a customer_id they count for "
            "no campaign."
        )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@track_app.command("serve")
def serve_cmd(
    port: Annotated[int, typer.Option("--port")] = 8765,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    home: HomeOption = None,
) -> None:
    """A tiny HTTP receiver: POST /events with one event or a list (JSON)."""
    from marketpilot.campaigns.tracking import serve

    settings, engine = _engine(home)
    server = serve(engine, host, port, currency=settings.currency)
    # Ctrl-C and `kill` both stop it cleanly, even when it was started in the background by a shell
    # without job control (which hands it SIGINT ignored) or by a service manager (SIGTERM).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    console.print(f"Listening on http://{host}:{server.server_port}/events (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("Stopped.")
    finally:
        server.server_close()
