"""stratagem-prometheus: a session's metrics on ``/metrics``, for Prometheus.

Listing ``"prometheus"`` (or ``{"name": "prometheus", "config": {"port": 9464}}``) in
a session's ``reporters`` serves the metrics of every report over HTTP while the
session runs, on 127.0.0.1 unless ``host`` says otherwise, and stops serving when it
ends. prometheus-client loads when a session makes the reporter, not when the
plugin is listed.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stratagem import ReporterSpec, hookimpl

if TYPE_CHECKING:
    from stratagem_prometheus._reporter import PrometheusReporter

__all__ = [
    "DEFAULT_PORT",
    "PrometheusConfig",
    "prometheus_reporter",
    "stratagem_reporters",
]

#: the port ``/metrics`` is served on when the config names none
DEFAULT_PORT = 9464


class PrometheusConfig(BaseModel):
    """The ``config`` of a ``prometheus`` entry in ``reporters``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(
        "127.0.0.1",
        description="IP address to listen on: 127.0.0.1 serves this machine only; "
        "0.0.0.0 (or ::) every interface.",
    )
    port: int = Field(
        DEFAULT_PORT,
        ge=0,
        le=65535,
        description="TCP port of /metrics; 0 takes a free one (logged when the "
        "server starts).",
    )
    final_scrape_wait_s: float = Field(
        0.0,
        ge=0,
        le=3600,
        description="When the session ends, keep serving up to this many seconds "
        "until a scrape has read the final report (0: stop at once).",
    )

    @field_validator("host")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(
                f"host {value!r} is not an IP address: use 127.0.0.1 (this machine "
                "only), 0.0.0.0 (every IPv4 interface) or an interface's address"
            ) from None
        return value


def prometheus_reporter(config: PrometheusConfig) -> PrometheusReporter:
    """The ``prometheus`` reporter of one session (the ReporterSpec's factory).

    :param config: the entry's validated config.
    """
    from stratagem_prometheus._reporter import PrometheusReporter

    return PrometheusReporter(config)


@hookimpl
def stratagem_reporters() -> list[ReporterSpec]:
    return [
        ReporterSpec(
            name="prometheus",
            factory=prometheus_reporter,
            config=PrometheusConfig,
            description="Prometheus /metrics over HTTP while the session runs",
        )
    ]
