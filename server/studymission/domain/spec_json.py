"""A validated event spec written back as JSON (CONTRACT §2), in the event's wall-clock time.

`spec_to_raw` is the inverse of `validate_spec` (`studymission.domain.spec` re-exports it):
times lose their offset wherever the event's time zone reads them back unchanged, and agenda
times are `HH:MM` when they fall on the day their session starts, so validating the output
gives the same spec.
"""

from datetime import date
from zoneinfo import ZoneInfo

from studymission.domain.values import AgendaItemSpec, EventSpec, PersonSpec, SessionSpec
from studymission.domain.wall_time import day_time_iso, wall_iso


def spec_to_raw(spec: EventSpec) -> dict[str, object]:
    """The JSON form of a validated spec; validate_spec(spec_to_raw(s)) gives s back."""
    zone = ZoneInfo(spec.timezone)
    rules = spec.attendance
    threshold = rules.session_threshold
    return {
        "code": spec.code,
        "title": spec.title,
        "timezone": spec.timezone,
        "attendance": {
            "session_threshold": (
                int(threshold) if threshold.denominator == 1 else float(threshold)
            ),
            "minute_threshold_seconds": rules.minute_threshold_seconds,
            "stale_after_seconds": rules.stale_after_seconds,
            "require_visible": rules.require_visible,
        },
        "host_country": spec.host_country,
        "modality": spec.modality,
        "implementing_organizations": list(spec.implementing_organizations),
        "sessions": [_session_to_raw(session, zone) for session in spec.sessions],
        "people": [_person_to_raw(person) for person in spec.people],
    }


def _session_to_raw(session: SessionSpec, zone: ZoneInfo) -> dict[str, object]:
    day = session.start.astimezone(zone).date()
    return {
        "key": session.key,
        "title": session.title,
        "start": wall_iso(session.start, zone),
        "end": wall_iso(session.end, zone),
        "agenda": [_item_to_raw(item, zone, day) for item in session.agenda],
    }


def _item_to_raw(item: AgendaItemSpec, zone: ZoneInfo, day: date) -> dict[str, object]:
    return {
        "key": item.key,
        "kind": item.kind.value,
        "title": item.title,
        "start": day_time_iso(item.start, zone, day),
        "end": day_time_iso(item.end, zone, day),
        "speakers": list(item.speakers),
    }


def _person_to_raw(person: PersonSpec) -> dict[str, object]:
    return {
        "key": person.key,
        "name": person.name,
        "email": person.email,
        "country": person.country,
        "organization": person.organization,
        "role": person.role.value,
        "origin": person.origin.value,
    }
