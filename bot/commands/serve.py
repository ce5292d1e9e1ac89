"""``paperbot serve``: the HTTP API and the web chat page."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from bot.cli import app, err, out, run_or_exit

__all__ = ["serve"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Address to bind (default PAPERBOT_HOST, i.e. 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port (default PAPERBOT_PORT, i.e. 8000).", min=1, max=65535),
    ] = None,
) -> None:
    """Serve the HTTP API and the web chat page (open http://HOST:PORT/ in a browser).

    The API is documented at /docs. It binds to 127.0.0.1 unless told otherwise; set
    PAPERBOT_API_KEY to require "Authorization: Bearer <key>" on every /api route.
    """
    from bot.settings import load_settings

    settings = run_or_exit(lambda: load_settings(host=host, port=port))
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - uvicorn is a core dependency
        err.print("[bold red]error:[/] serving needs uvicorn: pip install uvicorn")
        raise typer.Exit(1) from None
    from bot.server import create_app

    if not _is_loopback(settings.host) and not settings.api_key:
        err.print(
            f"[yellow]warning:[/] binding to {settings.host} without PAPERBOT_API_KEY: anyone "
            "who can reach this address can use the API"
        )
    application = run_or_exit(lambda: create_app(settings=settings))
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    out.print(
        f"paperbot on [bold]http://{shown}:{settings.port}/[/]  "
        f"(API docs: /docs{', API key required' if settings.api_key else ''})"
    )
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="info")
