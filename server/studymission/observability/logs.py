"""Log lines: one JSON object per line (``serve``), or plain text for a person at a terminal.

Whatever is being served binds its ids (``request_id`` of an HTTP request, ``connection_id``,
``event`` and ``person`` of a WebSocket) with `bind`; they live in a context variable, so
every line logged while serving it carries them, from any module and from uvicorn too,
and two requests served at once never see each other's.

The formatter is a small ``logging.Formatter`` rather than python-json-logger: the fields
are few and fixed (``time``, ``level``, ``logger``, ``message``, the bound ids, ``exc``),
the ids come from a context variable that such a library would need a filter for anyway,
and ``json.dumps`` does the escaping.
"""

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

LogFormat = Literal["json", "text"]

#: The ids of what is being served now (request, connection), added to each log line.
_context: ContextVar[Mapping[str, object]] = ContextVar(
    "studymission_log_context", default=MappingProxyType({})
)

#: A record's ``extra={"fields": {...}}`` adds these keys to its JSON line (the access log).
FIELDS = "fields"


def context() -> Mapping[str, object]:
    """The ids bound now (empty outside a request or connection)."""
    return _context.get()


@contextmanager
def bind(**fields: object) -> Iterator[None]:
    """Add `fields` to every log line written inside the block (in this task and the
    tasks it starts); they are gone again when it ends."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: time (ISO 8601, UTC), level, logger, message, the bound
    ids, the record's ``fields`` and, if any, the exception's traceback under ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(context())
        extra = getattr(record, FIELDS, None)
        if isinstance(extra, Mapping):
            line.update(extra)
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message [id=value ...]``: for reading by eye. The message says
    what the JSON fields of a record say; the bound ids follow it."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        pairs = context()
        if not pairs:
            return text
        head, newline, tail = text.partition("\n")  # the traceback stays below the line
        suffix = " ".join(f"{key}={value}" for key, value in pairs.items())
        return f"{head} [{suffix}]{newline}{tail}"


class QuietSockets(logging.Filter):
    """Drops uvicorn's own lines for each accepted socket ("[accepted]", "connection open",
    "connection closed"): the endpoint logs connect and close with the socket's ids, and
    ten thousand sockets would otherwise write three times as many lines that say less.
    Refused handshakes (403) still show."""

    NOISE = frozenset({'%s - "WebSocket %s" [accepted]', "connection open", "connection closed"})

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("uvicorn") and record.msg in self.NOISE)


def _iso(created: float) -> str:
    instant = datetime.fromtimestamp(created, UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def log_config(log_format: LogFormat, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` (uvicorn's ``log_config`` too): every line on stdout
    in `log_format`, from the package, uvicorn and anything else that warns."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "main",
        "filters": ["quiet_sockets"],
        "stream": "ext://sys.stdout",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": {"()": formatter}},
        "filters": {"quiet_sockets": {"()": QuietSockets}},
        "handlers": {"stdout": handler},
        "loggers": {
            "studymission": {"handlers": ["stdout"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stdout"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            # Requests are logged by studymission.access, with their duration and route.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["stdout"], "level": "WARNING"},
    }
