"""The ``prometheus`` reporter: one per session, serving that session's metrics."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from stratagem import MetricsReport
from stratagem_prometheus._collector import ReportCollector
from stratagem_prometheus._server import MetricsServer

if TYPE_CHECKING:
    from stratagem_prometheus import PrometheusConfig

log = logging.getLogger("stratagem.prometheus")


class PrometheusReporter:
    """Serves a session's metrics on ``/metrics`` from its first report until it
    ends (a :class:`stratagem.Reporter`).

    Its registry is its own, not prometheus-client's global one: two sessions in
    one process (or a program that exports metrics of its own) never share series.

    :param config: the ``prometheus`` entry's validated config.
    """

    def __init__(self, config: PrometheusConfig) -> None:
        self.config = config
        self.registry = CollectorRegistry(auto_describe=False)
        self._collector = ReportCollector()
        self.registry.register(self._collector)
        ProcessCollector(registry=self.registry)
        self._server: MetricsServer | None = None

    @property
    def url(self) -> str | None:
        """Where the metrics are served, while they are."""
        return None if self._server is None else self._server.url

    def report(self, report: MetricsReport) -> None:
        """Publish ``report``; the first one starts the server.

        :param report: the session's latest snapshot.
        :raises OSError: when the configured address cannot be bound.
        """
        self._collector.update(report)
        if self._server is None:
            self._server = MetricsServer(
                self.registry, self.config.host, self.config.port
            )
            log.info("serving metrics on %s", self._server.url)

    def close(self) -> None:
        """Stop serving, after a scrape of the final report if ``final_scrape_wait_s``
        allows one; no thread of the reporter is left when this returns."""
        server, self._server = self._server, None
        if server is None:
            return
        wait = self.config.final_scrape_wait_s
        if self._collector.final and wait > 0:
            if not self._collector.final_scraped.wait(wait):
                log.warning(
                    "no scrape of %s read the final metrics within %g s",
                    server.url,
                    wait,
                )
        server.close()
