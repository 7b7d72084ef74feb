"""Text holding a NUL character (U+0000) is refused before it reaches the database.

(So is text with a lone surrogate, which no driver can encode: request models refuse it
already, this catches any other way in.)

PostgreSQL cannot store NUL in a text column and fails the whole statement with a driver
error, which the web layer could only answer with a 500; SQLite would store it and give
it back. Such text is bad input on either backend (no name, key, question or note has a
use for it), so every statement is checked on its way out and refused the same way on
both: an ``InvalidInputError`` (422 on the API, 400 on a page) before anything is written.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Engine, event

from studymission.domain.errors import InvalidInputError
from studymission.domain.values import Problem

NUL = "\x00"


def _values(parameters: Any) -> Iterable[object]:
    if isinstance(parameters, Mapping):
        return parameters.values()
    if isinstance(parameters, (list, tuple)):
        return parameters
    return ()


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def refuse_bad_text(
    _connection: Any,
    _cursor: Any,
    _statement: str,
    parameters: Any,
    _context: Any,
    executemany: bool,
) -> None:
    """A ``before_cursor_execute`` listener: raise on any string parameter holding NUL
    or a lone surrogate."""
    rows = parameters if executemany and isinstance(parameters, (list, tuple)) else [parameters]
    for row in rows:
        for value in _values(row):
            if isinstance(value, str) and not value.isascii() and not _encodable(value):
                raise InvalidInputError(
                    "text that is not valid Unicode is not accepted",
                    [Problem("text", value, "contains a lone surrogate (U+D800 to U+DFFF)")],
                )
            if isinstance(value, str) and NUL in value:
                raise InvalidInputError(
                    "text with a NUL character (U+0000) is not accepted",
                    [Problem("text", value, "contains a NUL character (U+0000)")],
                )


def install(engine: Engine) -> None:
    event.listen(engine, "before_cursor_execute", refuse_bad_text)
