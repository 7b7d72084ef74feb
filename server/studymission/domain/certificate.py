"""Certificates of attendance: the text a certificate prints, from plain values."""

from datetime import date

#: Certificate codes: base32 without the characters people confuse (0/O, 1/I).
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
#: 16 characters of 32 symbols: 80 random bits, unguessable at any rate the server allows.
CODE_LENGTH = 16


def normalise_code(text: str) -> str:
    """A code as typed or scanned (any case, spaces or dashes) in its stored form."""
    return "".join(text.split()).replace("-", "").upper()


def is_code_shaped(code: str) -> bool:
    """Whether `code` (normalised) could be a certificate code at all."""
    return len(code) == CODE_LENGTH and all(c in CODE_ALPHABET for c in code)


def date_text(day: date) -> str:
    """One day as printed: ``24 November 2021``."""
    return f"{day.day} {day:%B %Y}"


def dates_text(first: date, last: date) -> str:
    """A span of days as printed: ``24–25 November 2021``, ``30 November – 1 December 2021``,
    ``31 December 2021 – 1 January 2022``, or one day."""
    if first == last:
        return date_text(first)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%B %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%B} – {date_text(last)}"
    return f"{date_text(first)} – {date_text(last)}"


def changes_since_issue(
    *, printed_name: str, printed_country: str, name: str, country: str
) -> str | None:
    """Why a certificate must be issued again (its name or country changed), or None."""
    changes = []
    if printed_name != name:
        changes.append(f"name {printed_name!r} → {name!r}")
    if printed_country != country:
        changes.append(f"country {printed_country} → {country}")
    return "; ".join(changes) or None
