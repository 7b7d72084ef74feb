"""Reading fields from untrusted JSON, recording what is wrong instead of raising.

A validator walks a parsed JSON document one object at a time. Each object is a `Fields`:
its mapping and where it sits in the document (`sessions[1].agenda[2]`, the root being
`""`). A `read_*` function takes one field from it and returns the value, or None after
adding a `Problem(path, value, reason)` to the run's `Check`. Readers never raise, whatever
JSON-like value they get, so a single pass collects every problem in document order.
Nothing here knows what the document means; its callers do.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeGuard, TypeVar

from studymission.domain.values import Problem

# Codes and keys end up in URLs and file names, hence the narrow alphabet.
_KEY = re.compile(r"[A-Za-z0-9_.-]+")
_MAX_KEY = 64
# What `Fields.take` gives for an absent field; None is a value JSON can hold.
MISSING = object()

_T = TypeVar("_T")
_E = TypeVar("_E", bound=StrEnum)


@dataclass(slots=True)
class Check:
    """One run of a validation: the problems found so far, in document order."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, path: str, value: object, reason: str) -> None:
        self.problems.append(Problem(path, value, reason))


@dataclass(frozen=True, slots=True)
class Fields:
    """One JSON object under validation, at `where` in the document."""

    data: Mapping[str, object]
    where: str
    check: Check

    def path(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def add(self, name: str, value: object, reason: str) -> None:
        self.check.add(self.path(name), value, reason)

    def take(self, name: str, *, required: bool = True) -> object:
        """The field's value, or MISSING (a problem too if it is `required`)."""
        if name in self.data:
            return self.data[name]
        if required:
            self.add(name, None, "required field is missing")
        return MISSING

    def reject_unknown(self, known: frozenset[str]) -> None:
        for name, value in self.data.items():
            if name not in known:
                self.add(str(name), value, "unknown field")


# --- readers ---------------------------------------------------------------------------


def read_object(value: object, where: str, check: Check) -> Fields | None:
    """`value` as the object at `where`, or None (and a problem) if it is not one."""
    if isinstance(value, Mapping):
        return Fields(value, where, check)
    check.add(where, value, expected("an object", value))
    return None


def read_list(f: Fields, name: str, *, required: bool = True) -> list[object] | None:
    """A list field; an absent optional one reads as empty."""
    value = f.take(name, required=required)
    if value is MISSING:
        return None if required else []
    if not isinstance(value, list):
        f.add(name, value, expected("a list", value))
        return None
    return value


def read_text(f: Fields, name: str, *, max_len: int | None = None) -> str | None:
    """A required string that is not blank, of at most `max_len` characters."""
    value = f.take(name)
    if value is MISSING:
        return None
    if not isinstance(value, str):
        f.add(name, value, expected("a string", value))
        return None
    if not value.strip():
        f.add(name, value, "must not be empty")
        return None
    if max_len is not None and len(value) > max_len:
        f.add(name, value, f"must be at most {max_len} characters")
        return None
    return value


def read_optional_text(f: Fields, name: str, *, nullable: bool) -> str | None:
    """A string that may be absent (None then), or null as well if `nullable`."""
    value = f.take(name, required=False)
    if value is MISSING or (nullable and value is None):
        return None
    if not isinstance(value, str):
        f.add(name, value, expected("a string", value))
        return None
    return value


def read_string_list(f: Fields, name: str) -> tuple[str, ...]:
    """The non-blank strings of an optional list; every other entry is a problem."""
    strings: list[str] = []
    for i, value in enumerate(read_list(f, name, required=False) or []):
        path = f"{f.path(name)}[{i}]"
        if not isinstance(value, str):
            f.check.add(path, value, expected("a string", value))
        elif not value.strip():
            f.check.add(path, value, "must not be empty")
        else:
            strings.append(value)
    return tuple(strings)


def read_identifier(f: Fields, name: str) -> str | None:
    """A code or key: letters, digits, '-', '_' and '.', not dots only, at most 64 long."""
    value = read_text(f, name, max_len=_MAX_KEY)
    if value is None:
        return None
    if not _KEY.fullmatch(value):
        f.add(name, value, "may contain only letters, digits, '-', '_' and '.'")
        return None
    if not value.strip("."):
        # "." and ".." would change the meaning of the URLs the code and keys appear in.
        f.add(name, value, "must not consist of dots only")
        return None
    return value


def read_key(f: Fields, name: str, seen: set[str], duplicate: str) -> str | None:
    """An identifier not in `seen` (then added to it); `duplicate` is the reason otherwise."""
    key = read_identifier(f, name)
    if key is None:
        return None
    if key in seen:
        f.add(name, key, duplicate)
        return None
    seen.add(key)
    return key


def read_choice(f: Fields, name: str, kinds: type[_E], default: _E | None = None) -> _E | None:
    """One of the values of `kinds`; required unless there is a `default`."""
    value = f.take(name, required=default is None)
    if value is MISSING:
        return default
    allowed = [kind.value for kind in kinds]
    if not isinstance(value, str) or value not in allowed:
        f.add(name, value, f"must be one of {', '.join(allowed)}")
        return None
    return kinds(value)


def read_country(f: Fields, name: str, countries: frozenset[str], *, nullable: bool) -> str | None:
    """An upper-cased country code out of `countries`; absent or null is None if `nullable`."""
    value = f.take(name, required=not nullable)
    if value is MISSING or (nullable and value is None):
        return None
    if not isinstance(value, str):
        f.add(name, value, expected("a country code", value))
        return None
    code = value.upper()
    # ASCII only: str.upper() maps a few other letters onto ASCII ones (dotless i to "I").
    if not value.isascii() or code not in countries:
        f.add(name, value, "unknown country code")
        return None
    return code


def read_positive_int(f: Fields, name: str, default: int, *, high: int | None = None) -> int | None:
    """An optional whole number from 1 (to `high`, if given); `default` when absent."""
    value = f.take(name, required=False)
    if value is MISSING:
        return default
    if is_whole(value) and value >= 1 and (high is None or value <= high):
        return value
    span = f"from 1 to {high}" if high is not None else "of at least 1"
    f.add(name, value, f"must be a whole number {span}")
    return None


def read_flag(f: Fields, name: str, default: bool) -> bool | None:
    """An optional true or false; `default` when absent."""
    value = f.take(name, required=False)
    if value is MISSING:
        return default
    if not isinstance(value, bool):
        f.add(name, value, expected("true or false", value))
        return None
    return value


# --- small helpers ---------------------------------------------------------------------


def complete(found: Sequence[_T | None]) -> list[_T] | None:
    """The values found, or None if any of them is None (unusable, and reported)."""
    usable = [value for value in found if value is not None]
    return usable if len(usable) == len(found) else None


def label(f: Fields) -> str:
    """How problems name the object: by its key, or by its path when it has none."""
    key = f.data.get("key")
    return key if isinstance(key, str) and key else f.where


def is_number(value: object) -> TypeGuard[int | float]:
    """A JSON number (an int or a float, but not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_whole(value: object) -> TypeGuard[int]:
    """A JSON whole number (an int, but not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def json_type(value: object) -> str:
    """The JSON name of a value's type, for problem reasons ("null", "list", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def expected(what: str, value: object) -> str:
    """The reason for a value of the wrong type: "expected a list, got string"."""
    return f"expected {what}, got {json_type(value)}"
