"""Invitations: each selected person's join link, the programme in their own time zone
beside the event's, and an .ics file with one calendar event per session.

The notification promises the programme two weeks before the sessions; it may still
change after that. Each sending records an *issue*: the programme's digest and the
calendar ``SEQUENCE``. Sending again with an unchanged programme reuses the issue, so
nobody is mailed twice; a changed programme makes the next issue, whose mails update the
same calendar events (same ``UID``, higher ``SEQUENCE``).
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from icalendar import Calendar, vCalAddress, vText
from icalendar import Event as CalendarEvent
from sqlmodel import Session

from studymission.db import deliveries as delivery_store
from studymission.db import events as event_store
from studymission.db.tables import Delivery, Event, InvitationIssue, Person
from studymission.domain.errors import InvalidInputError
from studymission.domain.programme import local_programme, utc_offset_label
from studymission.domain.values import EventSpec, Problem, SessionSpec
from studymission.services.access import ensure_join_links, join_url
from studymission.services.deliveries import mail_domain, queue_delivery
from studymission.services.mail import Attachment
from studymission.services.programme import viewer_timezone

KIND = "invitation"
ICS_TYPE = "text/calendar; method=REQUEST; charset=utf-8"


@dataclass(frozen=True)
class InvitationOutcome:
    sequence: int
    #: People whose invitation of this issue was queued now.
    queued: tuple[str, ...]
    #: People who already had it (queued, sent or failed before): not mailed again.
    already: tuple[str, ...]


def programme_digest(event: Event, spec: EventSpec) -> str:
    """SHA-256 of everything an invitation shows about the programme."""
    sessions = [
        {
            "key": s.key,
            "title": s.title,
            "start": s.start.isoformat(),
            "end": s.end.isoformat(),
            "agenda": [
                [i.key, i.kind.value, i.title, i.start.isoformat(), i.end.isoformat(), i.speakers]
                for i in s.agenda
            ],
        }
        for s in sorted(spec.sessions, key=lambda s: (s.start, s.key))
    ]
    raw = {"title": event.title, "timezone": event.timezone, "sessions": sessions}
    return hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()


def send_invitations(
    db: Session,
    event: Event,
    *,
    people: Sequence[str] | None,
    actor: str,
    now: datetime,
    base_url: str,
    secret: str,
) -> InvitationOutcome:
    """Queue the current issue's invitation for everyone (or `people`); commits."""
    spec = event_store.read_spec(db, event)
    chosen = _chosen(db, event, people)
    issue = _current_issue(db, event, spec, actor=actor, now=now)
    tokens = ensure_join_links(db, event, secret=secret, now=now)
    queued: list[str] = []
    already: list[str] = []
    for person in chosen:
        link = join_url(base_url, tokens[person.key])
        _delivery, created = queue_delivery(
            db,
            event=event,
            person=person,
            kind=KIND,
            key=f"invitation/{issue.sequence}",
            subject=_subject(event, spec, issue.sequence),
            body=invitation_text(event, spec, person, link=link, sequence=issue.sequence),
            now=now,
            domain=mail_domain(base_url),
        )
        (queued if created else already).append(person.key)
    db.commit()
    return InvitationOutcome(issue.sequence, tuple(queued), tuple(already))


def _chosen(db: Session, event: Event, keys: Sequence[str] | None) -> list[Person]:
    active = list(event_store.list_people(db, event))
    if keys is None:
        return active
    by_key = {p.key: p for p in active}
    withdrawn = {p.key for p in event_store.list_people(db, event, include_withdrawn=True)}
    problems = [
        Problem(
            f"people[{n}]",
            key,
            "withdrawn from the event" if key in withdrawn else "no such person in the event",
        )
        for n, key in enumerate(keys)
        if key not in by_key
    ]
    if problems:
        raise InvalidInputError("some chosen people cannot be invited", problems)
    return [by_key[key] for key in dict.fromkeys(keys)]


def _current_issue(
    db: Session, event: Event, spec: EventSpec, *, actor: str, now: datetime
) -> InvitationIssue:
    digest = programme_digest(event, spec)
    latest = delivery_store.latest_issue(db, event.id or 0)
    if latest is not None and latest.programme_digest == digest:
        return latest
    issue = InvitationIssue(
        event_id=event.id or 0,
        sequence=(latest.sequence + 1) if latest else 0,
        programme_digest=digest,
        created_at=now,
        created_by=actor,
    )
    db.add(issue)
    db.flush()
    return issue


def _subject(event: Event, spec: EventSpec, sequence: int) -> str:
    what = "Updated programme" if sequence > 0 else "Invitation"
    return f"{what}: {event.title}"


def invitation_text(
    event: Event, spec: EventSpec, person: Person, *, link: str, sequence: int
) -> str:
    """The plain-text mail: greeting, join link, programme in their zone and the event's."""
    tz, source = viewer_timezone(event, person, None)
    first = min((s.start for s in spec.sessions), default=event.created_at)
    days = local_programme(spec.sessions, viewer_tz=tz, event_tz=event.timezone, now=first)
    guessed = " (from your country; change it on your page)" if source == "guessed" else ""
    lines = [
        f"Dear {person.name},",
        "",
        (
            "The programme has changed; the attached calendar file updates your calendar."
            if sequence > 0
            else f"You are selected to take part in {event.title}."
        ),
        "",
        "Your personal join link (do not share it; it signs you in):",
        link,
        "",
        f"Times are in your time zone, {tz} ({utc_offset_label(first, tz)}){guessed},",
        f"and in the event's, {event.timezone} ({utc_offset_label(first, event.timezone)}).",
    ]
    for day in days:
        session = day.session
        lines += [
            "",
            f"{session.title} — {day.date.strftime('%A %d %B %Y')}",
            f"  {_hm(session.start, tz)}–{_hm(session.end, tz)} your time"
            f" · {_hm(session.start, event.timezone)}–{_hm(session.end, event.timezone)}"
            " event time",
        ]
        for slot in day.slots:
            your = f"{slot.start:%H:%M}–{slot.end:%H:%M}"
            theirs = f"{slot.event_start:%H:%M}–{slot.event_end:%H:%M}"
            lines.append(f"  {your} (event {theirs})  {slot.title}")
    lines += [
        "",
        "Full participation in every session is a prerequisite for the certificate of attendance.",
    ]
    return "\n".join(lines) + "\n"


def _hm(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%H:%M")


def invitation_ics(
    event: Event,
    spec: EventSpec,
    person: Person,
    *,
    sequence: int,
    link: str,
    host: str,
    organizer: str,
    now: datetime,
) -> bytes:
    """A METHOD:REQUEST calendar, one VEVENT per session, times in UTC."""
    calendar = Calendar()
    calendar.add("prodid", "-//studymission//invitations//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "REQUEST")
    for session in sorted(spec.sessions, key=lambda s: (s.start, s.key)):
        entry = CalendarEvent()
        entry.add("uid", f"{session.key}.{event.code}@{host}")
        entry.add("sequence", sequence)
        entry.add("dtstamp", now)
        entry.add("dtstart", session.start)
        entry.add("dtend", session.end)
        entry.add("summary", f"{event.title} — {session.title}")
        entry.add("description", _agenda_text(session, event.timezone, link))
        entry.add("url", link)
        entry.add("location", link)
        boss = vCalAddress(f"mailto:{organizer}")
        boss.params["cn"] = vText(event.title)
        entry.add("organizer", boss)
        guest = vCalAddress(f"mailto:{person.email}")
        guest.params["cn"] = vText(person.name)
        guest.params["rsvp"] = vText("FALSE")
        entry.add("attendee", guest)
        calendar.add_component(entry)
    data: bytes = calendar.to_ical()
    return data


def _agenda_text(session: SessionSpec, tz: str, link: str) -> str:
    lines = [f"Join: {link}", "", f"Agenda (event time, {tz}):"]
    lines += [f"{_hm(i.start, tz)}–{_hm(i.end, tz)} {i.title}" for i in session.agenda]
    return "\n".join(lines)


def issue_sequence(key: str) -> int:
    """The calendar sequence in an invitation delivery's key ``invitation/N``."""
    return int(key.rpartition("/")[2])


def calendar_for(
    db: Session,
    event: Event,
    person: Person,
    *,
    sequence: int | None,
    base_url: str,
    secret: str,
    sender: str,
    now: datetime,
) -> bytes:
    """The person's .ics with their own join link; `sequence` None: the latest issue's."""
    if sequence is None:
        latest = delivery_store.latest_issue(db, event.id or 0)
        sequence = latest.sequence if latest else 0
    tokens = ensure_join_links(db, event, secret=secret, now=now)
    db.commit()  # a link made just now must outlive this call
    if person.key not in tokens:
        raise LookupError(f"{person.name} ({person.key}) has withdrawn: no join link to send")
    organizer = parseaddr(sender)[1] or f"noreply@{mail_domain(base_url)}"
    return invitation_ics(
        event,
        event_store.read_spec(db, event),
        person,
        sequence=sequence,
        link=join_url(base_url, tokens[person.key]),
        host=mail_domain(base_url),
        organizer=organizer,
        now=now,
    )


def invitation_attachment(
    db: Session, delivery: Delivery, *, base_url: str, secret: str, sender: str, now: datetime
) -> Attachment:
    """The .ics of an invitation delivery, made when it is sent."""
    event = db.get(Event, delivery.event_id)
    person = db.get(Person, delivery.person_id)
    assert event is not None and person is not None, "a delivery outlived its event or person"
    data = calendar_for(
        db,
        event,
        person,
        sequence=issue_sequence(delivery.key),
        base_url=base_url,
        secret=secret,
        sender=sender,
        now=now,
    )
    return Attachment("invitation.ics", ICS_TYPE, data)


def people_to_invite(db: Session, event: Event) -> list[Person]:
    """Everyone of the event who can be invited (the withdrawn cannot)."""
    return list(event_store.list_people(db, event))
