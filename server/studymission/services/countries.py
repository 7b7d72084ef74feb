"""Country codes and names: ISO 3166-1 from pycountry, member names and zones from data/."""

import csv
import functools
from dataclasses import dataclass
from importlib.resources import files

import pycountry


@dataclass(frozen=True, slots=True)
class MemberCountry:
    code: str
    name: str
    timezone: str


@functools.cache
def member_countries() -> tuple[MemberCountry, ...]:
    """The member countries with the time zone their delegates usually live in."""
    text = (files("studymission") / "data" / "member_countries.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return tuple(MemberCountry(r["iso2"], r["country"], r["timezone"]) for r in rows)


@functools.cache
def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code."""
    return frozenset(c.alpha_2 for c in pycountry.countries)


def country_name(code: str) -> str:
    """The name the member countries use for themselves, else the ISO short name."""
    for member in member_countries():
        if member.code == code:
            return member.name
    found = pycountry.countries.get(alpha_2=code)
    return str(found.name) if found else code


def default_timezone(code: str) -> str | None:
    """The usual time zone of a member country, for a programme nobody has set yet."""
    for member in member_countries():
        if member.code == code:
            return member.timezone
    return None
