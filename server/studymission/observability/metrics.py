"""The process's Prometheus metrics, in one registry per application.

Each application gets its own ``CollectorRegistry`` (the tests build many apps in one
process; the library's global one would count them all together). What changes on every
heartbeat is not updated as it happens: the live collector reads the hub and the tracker
when Prometheus scrapes, so ten thousand sockets cost nothing between scrapes. Counters
of rare things (flushes, refused frames) and histograms are updated where they happen.

The names, their labels and example queries are in docs/operations.md.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

CONTENT_TYPE = CONTENT_TYPE_LATEST

#: Bus message kinds the lag is labelled with; anything else counts as "other".
BUS_KINDS = frozenset({"state", "notice", "questions", "notes"})
#: HTTP methods labelled as themselves; anything else (a scanner's) counts as "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route label of a request no route matched (a 404): raw paths would be unbounded.
UNMATCHED = "unmatched"


@dataclass(frozen=True, slots=True)
class LiveCounts:
    """What the live collector reads at scrape time."""

    #: Open sockets per event code.
    sockets: Mapping[str, int]
    #: Heartbeat frames received since the process started.
    heartbeats: int
    #: Minute rows gathered in memory, not yet written to the database.
    rows_waiting: int
    #: Socket changes (connect, disconnect, change of place) not yet written.
    changes_waiting: int


class _LiveCollector:
    def __init__(self, read: Callable[[], LiveCounts]) -> None:
        self._read = read

    def describe(self) -> list[Metric]:
        return []  # names are not checked for clashes at registration: they are fixed here

    def collect(self) -> Iterator[Metric]:
        live = self._read()
        sockets = GaugeMetricFamily(
            "studymission_ws_connected_sockets",
            "Open WebSocket connections of this process, per event.",
            labels=["event"],
        )
        for event, count in sorted(live.sockets.items()):
            sockets.add_metric([event], count)
        yield sockets
        yield CounterMetricFamily(
            "studymission_heartbeats",
            "Heartbeat frames received (heartbeats per second: rate() of this).",
            value=live.heartbeats,
        )
        yield GaugeMetricFamily(
            "studymission_presence_rows_waiting",
            "Minute rows held in memory, not yet written to the database.",
            value=live.rows_waiting,
        )
        yield GaugeMetricFamily(
            "studymission_socket_changes_waiting",
            "Connects, disconnects and changes of place not yet written to the database.",
            value=live.changes_waiting,
        )


class Metrics:
    """The registry of one application and the metrics updated as things happen."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.flush_seconds = Histogram(
            "studymission_presence_flush_seconds",
            "Time to write one minute flush of presence rows to the database.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=registry,
        )
        self.flush_rows = Counter(
            "studymission_presence_flush_rows",
            "Minute rows written by the presence flushes.",
            registry=registry,
        )
        self.flush_failures = Counter(
            "studymission_presence_flush_failures",
            "Presence flushes that failed (their rows stay queued and go out with the next).",
            registry=registry,
        )
        self.bus_lag = Histogram(
            "studymission_bus_lag_seconds",
            "From publishing a bus message to its delivery in this process (wall clock).",
            ["kind"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
            registry=registry,
        )
        self.http_seconds = Histogram(
            "studymission_http_request_duration_seconds",
            "HTTP requests: time from receiving the request to the end of the response.",
            ["method", "route", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self.ws_refused = Counter(
            "studymission_ws_frames_refused",
            "WebSocket frames answered with an error frame instead of being handled.",
            ["reason"],
            registry=registry,
        )
        self.ws_abuse_closes = Counter(
            "studymission_ws_abuse_closes",
            "WebSocket connections closed by the server for abuse (code 1008).",
            ["reason"],
            registry=registry,
        )
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)

    def watch(self, read: Callable[[], LiveCounts]) -> None:
        """Report what `read` returns at each scrape (one source per application)."""
        self.registry.register(_LiveCollector(read))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in HTTP_METHODS else "other"
        self.http_seconds.labels(method, route, f"{status // 100}xx").observe(seconds)

    def observe_bus_lag(self, kind: object, seconds: float) -> None:
        label = kind if isinstance(kind, str) and kind in BUS_KINDS else "other"
        # Clocks of two hosts may disagree a little: a negative lag is none.
        self.bus_lag.labels(label).observe(max(seconds, 0.0))

    def exposition(self) -> bytes:
        """The Prometheus text format of everything in the registry."""
        return generate_latest(self.registry)
