"""``/metrics`` (Prometheus text format) and ``/healthz`` over HTTP, off by default.

Read-only and small: a stdlib threading server on the configured address (loopback is
what the README and the container's HEALTHCHECK use). ``/healthz`` answers JSON: 200
``{"status": "ok"}`` while every watcher and worker thread is alive and every part
works; 503 ``{"status": "unhealthy"}`` when a thread died, or 503 ``{"status":
"degraded", "degraded": {"registry": reason}}`` while watching and runs carry on but a
part (the sidecar's registry audit) cannot do its job.

With ``[schedules] witness`` on, ``POST /add-checkpoint`` is the C2SP ``tlog-witness``
call (:mod:`seid.ledger.witness_http`): the host's key witnesses the logs the first
repository trusts, with that repository's witness state.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from seid.daemon import logging as dlog

if TYPE_CHECKING:
    from seid.daemon.service import Service
    from seid.ledger.witness_http import Answer

_log = dlog.get("seid.daemon.http")
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
MAX_BODY = 64 * 1024  # a checkpoint (16 KiB at most) and 63 proof lines


def health(service: Service) -> tuple[int, dict[str, object]]:
    """The status code and JSON body of ``/healthz``."""
    if not service.alive():
        return 503, {"status": "unhealthy"}
    degraded = dict(service.degraded)
    if degraded:
        return 503, {"status": "degraded", "degraded": degraded}
    return 200, {"status": "ok"}


def witnessing(service: Service) -> bool:
    """Whether this host witnesses (``[schedules] witness`` on, a repository to keep
    its state in)."""
    return service.config.schedules.witness > 0 and bool(service.config.repos)


def add_checkpoint(service: Service, body: bytes) -> Answer:
    """One ``add-checkpoint`` request, against the first repository's trust and state."""
    from seid import keys
    from seid.ledger.witness import Witness
    from seid.ledger.witness_http import add_checkpoint as answer

    root = service.config.repos[0].path
    return answer(Witness(root, service.signer), keys.trusted_keys(root), body)


def serve_http(service: Service, host: str, port: int) -> ThreadingHTTPServer:
    """Start serving on ``host:port`` (port 0: any free one) on a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, service.metrics.render(), PROMETHEUS)
            elif path == "/healthz":
                code, body = health(service)
                self._reply(code, json.dumps(body, sort_keys=True) + "\n", "application/json")
            else:
                self._reply(404, "not found\n")

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != "/add-checkpoint" or not witnessing(service):
                self._reply(404, "not found\n")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                self._reply(400, "bad Content-Length\n")
                return
            answer = add_checkpoint(service, self.rfile.read(length))
            self._reply(answer.status, answer.body, answer.content_type)

        def _reply(
            self, code: int, body: str | bytes, kind: str = "text/plain; charset=utf-8"
        ) -> None:
            data = body.encode() if isinstance(body, str) else body
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
