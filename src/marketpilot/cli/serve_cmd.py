"""`marketpilot serve`: the REST API and the dashboard (FastAPI under uvicorn) over one home."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from marketpilot.cli.app import HomeOption, app, console, settings_for
from marketpilot.errors import MissingExtraError, UserError


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("serve")
def serve_command(
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    no_auth: Annotated[
        bool,
        typer.Option("--no-auth", help="Serve without API keys; only allowed on a loopback address."),
    ] = False,
    home: HomeOption = None,
) -> None:
    """Serve the web dashboard (/ui/) and the REST API (docs at /docs, schema at /openapi.json) over
    one home; API clients send X-API-Key.

    One process; for several, run `uvicorn --factory marketpilot.api:create_app --workers N` with
    MARKETPILOT_HOME and MARKETPILOT_API_KEYS set."""
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingExtraError("uvicorn", "api") from exc
    from marketpilot.api import create_app

    if no_auth and not _loopback(host):
        raise UserError(
            f"--no-auth on {host} would open the API to the network.",
            hint="set MARKETPILOT_API_KEYS and drop --no-auth, or serve on 127.0.0.1",
        )
    settings = settings_for(home)
    application = create_app(settings, require_key=not no_auth)
    console.print(
        f"MarketPilot on http://{host}:{port}: dashboard /ui/, API docs /docs (home {settings.home_dir}"
        f"{', no API key' if no_auth else ''}); Ctrl-C to stop"
    )
    uvicorn.run(application, host=host, port=port, log_level="info")
