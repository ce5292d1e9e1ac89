"""The HTTP API and the web chat page (``paperbot serve``).

``create_app()`` builds the FastAPI app (see :mod:`bot.server.app` for the routes); the page's
hand-written assets live in ``bot/server/static/`` and need no build step or CDN.
Run it with ``paperbot serve`` or ``python -m uvicorn --factory bot.server:create_app``.
"""

from __future__ import annotations

from bot.server.app import create_app

__all__ = ["create_app"]
