"""``/metrics`` of one registry over HTTP, on a thread of its own until closed."""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import threading
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, MetricsHandler

#: a client that stalls mid-request is dropped after this many seconds, so closing
#: the server never waits longer for a request thread
REQUEST_TIMEOUT_S = 10.0
#: how often the serving loop looks for a shutdown request
POLL_INTERVAL_S = 0.05
METRICS_PATH = "/metrics"


class _MetricsPathHandler(MetricsHandler):
    """prometheus-client's handler, on ``/metrics`` only (404 elsewhere)."""

    timeout = REQUEST_TIMEOUT_S

    def do_GET(self) -> None:
        if urlsplit(self.path).path != METRICS_PATH:
            self.send_error(404, f"metrics are served on {METRICS_PATH}")
            return
        super().do_GET()


class _ThreadingServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    # non-daemon request threads, joined by server_close(): none outlives close()
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class MetricsServer:
    """Serves ``registry`` on ``http://host:port/metrics`` from construction until
    :meth:`close`.

    :param registry: what a scrape renders.
    :param host: IP address to listen on.
    :param port: TCP port; 0 takes a free one (see :attr:`port`).
    :raises OSError: when the address cannot be bound (naming it).
    """

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        handler = type("Handler", (_MetricsPathHandler,), {"registry": registry})
        ipv6 = ipaddress.ip_address(host).version == 6
        server_class = _ThreadingServer6 if ipv6 else _ThreadingServer
        try:
            self._server = server_class((host, port), handler)
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot serve metrics on {host} port {port}: {exc.strerror}"
            ) from exc
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_S},
            name=f"stratagem-prometheus-{self.port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """Where the metrics are, e.g. ``http://127.0.0.1:9464/metrics``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{METRICS_PATH}"

    def close(self) -> None:
        """Stop serving: the port is closed and every server thread has ended when
        this returns (a request under way is answered first)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
