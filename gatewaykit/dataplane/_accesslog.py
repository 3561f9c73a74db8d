"""The access log: Istio's default text format, one line per request or TCP connection.

Format (Istio ``pilot/pkg/model/telemetry_logging.go``, ``EnvoyTextLogFormat``)::

    [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
    %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
    "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
    %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
    "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER%
    %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
    %REQUESTED_SERVER_NAME% %ROUTE_NAME%

Envoy prints ``-`` for every missing value; TCP proxy entries have no HTTP fields, hence
``"- - -"`` and response code 0 (docs/behaviour.md §11.1).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

__all__ = ["AccessLogEntry", "format_entry", "start_time"]


def start_time(ts: float) -> str:
    """Render a UNIX time like Envoy's %START_TIME% (``2024-05-01T10:00:00.123Z``, UTC)."""
    # Rounded to microseconds first, as datetime.fromtimestamp does (its pure-Python twin's modf).
    frac, whole = math.modf(ts)
    us = round(frac * 1e6)
    seconds = int(whole) + us // 1_000_000
    return f"{_utc_seconds(seconds)}.{us % 1_000_000 // 1000:03d}Z"


@functools.lru_cache(maxsize=4)  # one strftime per second of traffic, not per request
def _utc_seconds(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


@dataclass(frozen=True, slots=True)
class AccessLogEntry:
    """The values of one access-log line; None renders as ``-``."""

    start: float
    method: str | None = None
    path: str | None = None
    protocol: str | None = None
    response_code: int = 0
    response_flags: str | None = None
    response_code_details: str | None = None
    connection_termination_details: str | None = None
    upstream_transport_failure_reason: str | None = None
    bytes_received: int = 0
    bytes_sent: int = 0
    duration_ms: int = 0
    upstream_service_time: str | None = None
    x_forwarded_for: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    authority: str | None = None
    upstream_host: str | None = None
    upstream_cluster: str | None = None
    upstream_local_address: str | None = None
    downstream_local_address: str | None = None
    downstream_remote_address: str | None = None
    requested_server_name: str | None = None
    route_name: str | None = None


def _v(value: object) -> str:
    if value is None or value == "":
        return "-"
    return str(value)


def format_entry(e: AccessLogEntry) -> str:
    """Render one entry in Istio's default text format (no trailing newline)."""
    return (
        f'[{start_time(e.start)}] "{_v(e.method)} {_v(e.path)} {_v(e.protocol)}" '
        f"{e.response_code} {_v(e.response_flags)} {_v(e.response_code_details)} "
        f"{_v(e.connection_termination_details)} "
        f'"{_v(e.upstream_transport_failure_reason)}" {e.bytes_received} {e.bytes_sent} '
        f"{e.duration_ms} {_v(e.upstream_service_time)} "
        f'"{_v(e.x_forwarded_for)}" "{_v(e.user_agent)}" "{_v(e.request_id)}" '
        f'"{_v(e.authority)}" "{_v(e.upstream_host)}" {_v(e.upstream_cluster)} '
        f"{_v(e.upstream_local_address)} {_v(e.downstream_local_address)} "
        f"{_v(e.downstream_remote_address)} {_v(e.requested_server_name)} {_v(e.route_name)}"
    )
