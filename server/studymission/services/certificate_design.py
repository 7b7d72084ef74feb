"""The secretariat's certificate design: its template, signatories and images.

Saving checks the whole design by rendering a sample certificate with it
(exporters/certificate_pdf.py `check_design`); with any problem nothing is written.
"""

import io
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image, UnidentifiedImageError
from sqlmodel import Session

from studymission.db.certificate_design import get_asset, get_design
from studymission.db.events import list_sessions
from studymission.db.tables import AuditEntry, CertificateAsset, CertificateDesign, Event
from studymission.domain.certificate import date_text, dates_text
from studymission.domain.errors import InvalidInputError
from studymission.domain.values import Problem
from studymission.exporters.certificate_pdf import (
    MAX_SIGNATORIES,
    CertificateContent,
    Design,
    Signatory,
    check_design,
    sample_content,
)

MAX_ASSET_BYTES = 1_000_000
MAX_TEMPLATE_CHARS = 200_000
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class DesignForm:
    """What the design page shows in its form: the saved design, or what was just posted."""

    html: str
    css: str
    #: (name, title, image asset name or "") per row, always MAX_SIGNATORIES rows.
    signatories: tuple[tuple[str, str, str], ...]
    logo: str | None
    is_builtin: bool
    updated: str

    def signature_image(self, row: int) -> str | None:
        return self.signatories[row - 1][2] or None

    def with_posted(self, posted: Mapping[str, str]) -> "DesignForm":
        rows = tuple(
            (posted.get(f"sig{i}_name", ""), posted.get(f"sig{i}_title", ""), image)
            for i, (_, _, image) in enumerate(self.signatories, start=1)
        )
        return replace(
            self, html=posted.get("html", ""), css=posted.get("css", ""), signatories=rows
        )


def design_form(db: Session, event: Event) -> DesignForm:
    """The saved design as the page's form shows it."""
    row = get_design(db, event)
    saved = list(row.signatories) if row else []
    rows = tuple(
        (str(s.get("name", "")), str(s.get("title", "")), str(s.get("image") or ""))
        for s in saved[:MAX_SIGNATORIES]
    ) + (("", "", ""),) * (MAX_SIGNATORIES - min(len(saved), MAX_SIGNATORIES))
    return DesignForm(
        html=(row.html or "") if row else "",
        css=(row.css or "") if row else "",
        signatories=rows,
        logo=row.logo if row else None,
        is_builtin=row is None or row.html is None,
        updated=f"{row.updated_at:%d %b %Y %H:%M} UTC by {row.updated_by}" if row else "",
    )


def load_design(db: Session, event: Event) -> Design:
    """The event's design with its images; the built-in design when none was saved."""
    row = get_design(db, event)
    if row is None:
        return Design()
    logo = get_asset(db, event, row.logo) if row.logo else None
    return Design(
        html=row.html,
        css=row.css,
        signatories=tuple(_signatory(db, event, raw) for raw in row.signatories),
        logo=logo.data if logo else None,
        logo_type=logo.content_type if logo else None,
    )


def preview_content(db: Session, event: Event, *, base_url: str) -> CertificateContent:
    """A made-up participant's certificate of `event`, for the design page's preview."""
    tz = ZoneInfo(event.timezone)
    sessions = list_sessions(db, event)
    printed = tuple(
        (s.title, date_text(s.start.astimezone(tz).date()), (s.end - s.start).seconds / 3600)
        for s in sessions
    )
    days = [s.start.astimezone(tz).date() for s in sessions]
    base = sample_content(
        event_title=event.title,
        project_code=event.code,
        dates=dates_text(days[0], days[-1]) if days else "",
        modality=event.modality,
        organisations=tuple(event.implementing_organizations),
        verify_url=f"{base_url}/verify/SAMPLE-7Q2M-XK4P",
    )
    if not printed:
        return base
    hours = sum(h for _, _, h in printed)
    return replace(base, sessions=printed, hours=hours)


def save_design(
    db: Session,
    event: Event,
    *,
    html: str | None,
    css: str | None,
    signatories: Sequence[dict[str, Any]],
    logo: str | None,
    actor: str,
    now: datetime,
) -> None:
    """Store the design if a sample renders with it; else InvalidInputError, nothing written."""
    problems = _shape_problems(db, event, html, css, signatories, logo)
    if not problems:
        logo_row = get_asset(db, event, logo) if logo else None
        design = Design(
            html=html,
            css=css,
            signatories=tuple(_signatory(db, event, raw) for raw in signatories),
            logo=logo_row.data if logo_row else None,
            logo_type=logo_row.content_type if logo_row else None,
        )
        problems = [Problem("design", "", reason) for reason in check_design(design)]
    if problems:
        raise InvalidInputError("the certificate design has problems", problems)
    row = get_design(db, event) or CertificateDesign(event_id=event.id or 0, updated_by=actor)
    row.html, row.css, row.logo = html, css, logo
    row.signatories = [
        {"name": s["name"], "title": s["title"], "image": s.get("image")} for s in signatories
    ]
    row.updated_at, row.updated_by = now, actor
    db.add(row)
    detail = {"custom_template": html is not None, "signatories": len(signatories)}
    db.add(
        AuditEntry(
            event_id=event.id or 0, at=now, actor=actor, action="certificate.design", detail=detail
        )
    )
    db.commit()


def save_asset(
    db: Session,
    event: Event,
    name: str,
    content_type: str,
    data: bytes,
    *,
    now: datetime,
    commit: bool = True,
) -> None:
    """Store (or replace) image `name`: PNG, JPEG or SVG under the size cap, or InvalidInputError.

    With ``commit=False`` the image is only flushed, so that a design saved with it in the
    same transaction can still be rolled back together with it."""
    problems = asset_problems(name, content_type, data)
    if problems:
        raise InvalidInputError("the image cannot be used", problems)
    row = get_asset(db, event, name) or CertificateAsset(
        event_id=event.id or 0, name=name, content_type=content_type, data=data, updated_at=now
    )
    row.content_type, row.data, row.updated_at = content_type, data, now
    db.add(row)
    if commit:
        db.commit()
    else:
        db.flush()


def asset_problems(name: str, content_type: str, data: bytes) -> list[Problem]:
    """What is wrong with an upload: its name, its type, its size, or bytes that are no image."""
    problems: list[Problem] = []
    if not _ASSET_NAME.match(name):
        problems.append(Problem("name", name, "use lower-case letters, digits and dashes"))
    if content_type not in IMAGE_TYPES:
        problems.append(Problem("image", content_type, "must be a PNG, JPEG or SVG image"))
    elif len(data) > MAX_ASSET_BYTES:
        reason = f"is {len(data):,} bytes; at most {MAX_ASSET_BYTES:,} are accepted"
        problems.append(Problem("image", name, reason))
    elif not _is_image(content_type, data):
        problems.append(Problem("image", name, f"is not a readable {content_type} image"))
    return problems


def _is_image(content_type: str, data: bytes) -> bool:
    if content_type == "image/svg+xml":
        # No DTD at all: entities are how an XML file reaches other files or explodes.
        if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
            return False
        try:
            root = ElementTree.fromstring(data)
        except ElementTree.ParseError:
            return False
        return root.tag in ("svg", "{http://www.w3.org/2000/svg}svg")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            return image.format == ("PNG" if content_type == "image/png" else "JPEG")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False


def _shape_problems(
    db: Session,
    event: Event,
    html: str | None,
    css: str | None,
    signatories: Sequence[dict[str, Any]],
    logo: str | None,
) -> list[Problem]:
    problems: list[Problem] = []
    for field, text in (("html", html), ("css", css)):
        if text is not None and len(text) > MAX_TEMPLATE_CHARS:
            reason = f"is {len(text):,} characters; at most {MAX_TEMPLATE_CHARS:,}"
            problems.append(Problem(field, "", reason))
    if len(signatories) > MAX_SIGNATORIES:
        reason = f"at most {MAX_SIGNATORIES}, not {len(signatories)}"
        problems.append(Problem("signatories", "", reason))
    for index, raw in enumerate(signatories, start=1):
        if not str(raw.get("name", "")).strip():
            problems.append(Problem(f"signatory {index}", "", "needs a name"))
        image = raw.get("image")
        if image and get_asset(db, event, image) is None:
            problems.append(Problem(f"signatory {index}", image, "no such image was uploaded"))
    if logo and get_asset(db, event, logo) is None:
        problems.append(Problem("logo", logo, "no such image was uploaded"))
    return problems


def _signatory(db: Session, event: Event, raw: dict[str, Any]) -> Signatory:
    image = get_asset(db, event, raw["image"]) if raw.get("image") else None
    return Signatory(
        name=str(raw.get("name", "")),
        title=str(raw.get("title", "")),
        image=image.data if image else None,
        image_type=image.content_type if image else None,
    )
