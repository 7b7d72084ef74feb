"""Log lines: the JSON formatter's fields, exceptions, and ids bound per task."""

import asyncio
import io
import json
import logging
import logging.config
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from studymission.observability.logs import (
    FIELDS,
    JsonFormatter,
    TextFormatter,
    bind,
    context,
    log_config,
)
from tests.integration.helpers import run_async

LOGGER_NAMES = ("studymission", "uvicorn", "uvicorn.error", "uvicorn.access", "")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Whatever a test configures, the loggers are as they were afterwards."""
    saved = {}
    for name in LOGGER_NAMES:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
    yield
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled


class Captured:
    """A logger whose lines go into a buffer through `formatter`."""

    def __init__(self, name: str, formatter: logging.Formatter) -> None:
        self.buffer = io.StringIO()
        handler = logging.StreamHandler(self.buffer)
        handler.setFormatter(formatter)
        self.logger = logging.getLogger(name)
        self.logger.handlers = [handler]
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False

    def lines(self) -> list[str]:
        return self.buffer.getvalue().splitlines()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]


@pytest.fixture
def captured(restored_logging: None) -> Captured:
    return Captured("studymission.test", JsonFormatter())


def test_a_record_is_one_json_line_with_time_level_logger_and_message(
    captured: Captured,
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    captured.logger.warning("flushed %d rows in %.1f ms", 12, 3.25)
    [line] = captured.records()
    assert set(line) == {"time", "level", "logger", "message"}
    assert line["level"] == "WARNING"
    assert line["logger"] == "studymission.test"
    assert line["message"] == "flushed 12 rows in 3.2 ms"
    assert line["time"].endswith("Z")
    stamped = datetime.fromisoformat(line["time"].replace("Z", "+00:00"))
    assert stamped.tzinfo == UTC
    assert before <= stamped <= datetime.now(UTC)


def test_fields_of_a_record_and_non_ascii_text_are_kept(captured: Captured) -> None:
    captured.logger.info('Jeonju 전주 "quoted"\nnext', extra={FIELDS: {"status": 200, "ms": 1.5}})
    [text] = captured.lines()  # the newline is escaped: still one line
    line = json.loads(text)
    assert line["message"] == 'Jeonju 전주 "quoted"\nnext'
    assert (line["status"], line["ms"]) == (200, 1.5)


def test_an_exception_goes_under_exc_with_its_traceback(captured: Captured) -> None:
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        captured.logger.exception("the flush failed")
    [text] = captured.lines()
    line = json.loads(text)
    assert line["level"] == "ERROR"
    assert line["message"] == "the flush failed"
    assert line["exc"].startswith("Traceback (most recent call last):")
    assert line["exc"].rstrip().endswith("ZeroDivisionError: division by zero")
    assert "1 / 0" in line["exc"]


def test_bound_ids_are_on_every_line_inside_the_block_only(captured: Captured) -> None:
    captured.logger.info("before")
    with bind(request_id="req-1"):
        captured.logger.info("outer")
        with bind(connection_id="c0ffee", event="EV-1"):
            captured.logger.info("inner")
        captured.logger.info("outer again")
    captured.logger.info("after")
    assert [
        {k: v for k, v in r.items() if k not in ("time", "level", "logger")}
        for r in captured.records()
    ] == [  # fmt: skip
        {"message": "before"},
        {"message": "outer", "request_id": "req-1"},
        {"message": "inner", "request_id": "req-1", "connection_id": "c0ffee", "event": "EV-1"},
        {"message": "outer again", "request_id": "req-1"},
        {"message": "after"},
    ]
    assert dict(context()) == {}


def test_two_tasks_served_at_once_never_see_each_others_ids(captured: Captured) -> None:
    async def serve(request_id: str, steps: int) -> None:
        with bind(request_id=request_id):
            for step in range(steps):
                captured.logger.info("%s step %d", request_id, step)
                await asyncio.sleep(0)  # let the other task run in between

    async def both() -> None:
        await asyncio.gather(serve("aaaa1111", 5), serve("bbbb2222", 5))

    run_async(both())
    records = captured.records()
    assert len(records) == 10
    # The lines interleave, and each names the task that logged it.
    assert [r["request_id"] for r in records[:4]] == ["aaaa1111", "bbbb2222"] * 2
    for record in records:
        assert record["message"].startswith(record["request_id"])


def test_text_lines_carry_the_same_ids_for_the_eye(restored_logging: None) -> None:
    captured = Captured("studymission.text", TextFormatter())
    with bind(connection_id="c0ffee"):
        captured.logger.info("socket closed", extra={FIELDS: {"close_code": 1000}})
        try:
            raise ValueError("bad")
        except ValueError:
            captured.logger.exception("oops")
    lines = captured.lines()
    # The ids follow the message; a record's fields are for the JSON lines only.
    assert lines[0].endswith("INFO    studymission.text: socket closed [connection_id=c0ffee]")
    assert lines[1].endswith("ERROR   studymission.text: oops [connection_id=c0ffee]")
    assert lines[2] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: bad"


def test_the_serve_configuration_puts_every_logger_on_stdout_as_json(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.config.dictConfig(log_config("json"))
    logging.getLogger("studymission.realtime.runtime").info("from the package")
    logging.getLogger("uvicorn.error").info("from uvicorn")
    logging.getLogger("uvicorn.access").info("uvicorn's own access line is left out")
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.info('%s - "WebSocket %s" [accepted]', "127.0.0.1:1234", "/ws/E")
    uvicorn_error.info("connection open")
    uvicorn_error.info('%s - "WebSocket %s" 403', "127.0.0.1:1234", "/ws/E")
    logging.getLogger("some.library").warning("a library warns")
    logging.getLogger("some.library").info("a library chatters")
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("studymission.realtime.runtime", "from the package"),
        ("uvicorn.error", "from uvicorn"),
        ("uvicorn.error", '127.0.0.1:1234 - "WebSocket /ws/E" 403'),
        ("some.library", "a library warns"),
    ]
    assert err == ""


def test_the_text_configuration_writes_plain_lines(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.config.dictConfig(log_config("text"))
    logging.getLogger("studymission.realtime.endpoint").info("socket connected")
    out, _err = capsys.readouterr()
    assert out.rstrip().endswith("INFO    studymission.realtime.endpoint: socket connected")
    with pytest.raises(ValueError):
        json.loads(out)
