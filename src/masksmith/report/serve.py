"""Serve a written report on the loopback interface with the standard library's http.server."""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

from masksmith.errors import ConfigError, ExportError

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
DEFAULT_PORT = 8765


class _QuietHandler(SimpleHTTPRequestHandler):
    """Static files from the report folder; requests logged at debug level, not to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def check_loopback(host: str) -> str:
    """``host`` if it is a loopback name or address; a report is never served to the network."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"host {host!r} is not a loopback address", argument="host") from None
    if not address.is_loopback:
        raise ConfigError(
            f"host {host!r} is not a loopback address; reports are served locally only", argument="host"
        )
    return host


def make_server(root: PathLike, *, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server for the files under ``root`` bound to a loopback address (``port`` 0 picks a free one)."""
    folder = Path(root)
    if not folder.is_dir():
        raise ExportError("the report folder does not exist", file=folder)
    if not 0 <= port <= 65535:
        raise ConfigError(f"port must be 0..65535, got {port}", argument="port")
    address = check_loopback(host)
    handler = functools.partial(_QuietHandler, directory=os.fspath(folder))
    server_class = _Server6 if ":" in address else _Server
    try:
        return server_class((address, port), handler)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {address}:{port}: {exc.strerror or exc}", argument="port"
        ) from None


def page_url(server: ThreadingHTTPServer, page: str) -> str:
    """The address of ``page`` (relative to the served folder) on ``server``."""
    host, port = server.server_address[:2]
    name = host.decode() if isinstance(host, bytes) else str(host)
    shown = f"[{name}]" if ":" in name else name
    return f"http://{shown}:{port}/{quote(page)}"


@contextmanager
def serving(root: PathLike, *, port: int = 0, host: str = "127.0.0.1") -> Iterator[ThreadingHTTPServer]:
    """Serve ``root`` in a background thread for the duration of a ``with`` block."""
    server = make_server(root, port=port, host=host)
    thread = threading.Thread(target=server.serve_forever, name="masksmith-report-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve_report(
    page: PathLike,
    *,
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve the folder holding ``page`` until interrupted; ``announce(url)`` is called once listening."""
    target = Path(page)
    server = make_server(target.parent, port=port, host=host)
    with server:
        url = page_url(server, target.name)
        if announce is not None:
            announce(url)
        server.serve_forever()
