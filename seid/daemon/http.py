"""``/metrics`` (Prometheus text format) and ``/healthz`` over HTTP, off by default.

Read-only and small: a stdlib threading server on the configured address (loopback is
what the README and the container's HEALTHCHECK use). ``/healthz`` answers 200 while
every watcher and worker thread is alive, 503 otherwise.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from seid.daemon import logging as dlog

if TYPE_CHECKING:
    from seid.daemon.service import Service

_log = dlog.get("seid.daemon.http")
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


def serve_http(service: Service, host: str, port: int) -> ThreadingHTTPServer:
    """Start serving on ``host:port`` (port 0: any free one) on a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, service.metrics.render(), PROMETHEUS)
            elif path == "/healthz":
                ok = service.alive()
                self._reply(200 if ok else 503, "ok\n" if ok else "unhealthy\n")
            else:
                self._reply(404, "not found\n")

        def _reply(self, code: int, body: str, kind: str = "text/plain; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds would flood the journal

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="seid-http", daemon=True).start()
    _log.info("serving metrics", address=f"{host}:{server.server_address[1]}")
    return server
