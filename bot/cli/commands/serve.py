"""``paperbot serve``: the HTTP API and the web chat page."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.app import app, err, out, run_or_exit

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = ["serve"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _machine_names() -> set[str]:
    """This machine's host names and addresses (what remote clients put in Host)."""
    import socket

    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            names.update(info[4][0] for info in socket.getaddrinfo(name, None))
        except OSError:
            pass
    return {n.lower() for n in names if n}


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """PAPERBOT_ALLOWED_HOSTS plus the bound address (plus this machine's names when bound
    to all interfaces)."""
    host = settings.server.host
    hosts = {h.lower().strip("[]") for h in settings.host_list(settings.server.allowed_hosts)}
    if host in ("0.0.0.0", "::", ""):
        hosts |= _machine_names()
    else:
        hosts.add(host.lower().strip("[]"))
    return frozenset(hosts)


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
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Allow a non-loopback --host without PAPERBOT_API_KEY (anyone who can reach "
            "the address can use the API).",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API and the web chat page (open http://HOST:PORT/ in a browser).

    The API is documented at /docs. It binds to 127.0.0.1 unless told otherwise; set
    PAPERBOT_API_KEY to require "Authorization: Bearer <key>" on every /api route. A
    non-loopback --host without a key refuses to start unless --insecure is given.
    """
    from bot.settings import load_settings

    settings = run_or_exit(lambda: load_settings(host=host, port=port))
    if not _is_loopback(settings.server.host) and not settings.server.api_key:
        if not insecure:
            err.print(
                f"[bold red]error:[/] refusing to serve on {settings.server.host} without "
                "PAPERBOT_API_KEY: anyone who can reach this address could use the API; set "
                "a key, bind to 127.0.0.1, or pass --insecure"
            )
            raise typer.Exit(1)
        err.print(
            f"[yellow]warning:[/] binding to {settings.server.host} without PAPERBOT_API_KEY "
            "(--insecure): anyone who can reach this address can use the API"
        )
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - uvicorn is a core dependency
        err.print("[bold red]error:[/] serving needs uvicorn: pip install uvicorn")
        raise typer.Exit(1) from None
    from bot.server import create_app

    hosts = allowed_hosts(settings)
    application = run_or_exit(lambda: create_app(settings=settings, allowed_hosts=hosts))
    shown = f"[{settings.server.host}]" if ":" in settings.server.host else settings.server.host
    out.print(
        f"paperbot on [bold]http://{shown}:{settings.server.port}/[/]  "
        f"(API docs: /docs{', API key required' if settings.server.api_key else ''})"
    )
    proxies = settings.host_list(settings.server.trusted_proxies)
    uvicorn.run(
        application,
        host=settings.server.host,
        port=settings.server.port,
        log_level="info",
        proxy_headers=bool(proxies),  # else X-Forwarded-For would pick the rate-limit bucket
        forwarded_allow_ips=proxies or None,
    )
