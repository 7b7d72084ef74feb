"""Certificates of attendance as PDF: a Jinja2 template (the built-in one or the
secretariat's, run sandboxed: exporters/certificate_sandbox.py) printed by WeasyPrint.

Fonts come from the system's Noto families and are embedded as subsets, so a name in
any member-country script prints and extracts as written. One render is ~0.1 s; what
can be shared between renders (the font configuration, the built-in template and CSS)
is built once per thread, because WeasyPrint's Pango objects are not thread-safe.
"""

import base64
import io
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
import pypdfium2  # type: ignore[import-untyped]
import segno
from markupsafe import Markup
from weasyprint import CSS, HTML, Document  # type: ignore[import-untyped]
from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]

from studymission.config import PROJECT_ROOT
from studymission.exporters.certificate_sandbox import (
    DataOnlyFetcher,
    TemplateError,
    compile_template,
    render_template,
)

__all__ = [
    "CertificateContent",
    "Design",
    "Signatory",
    "TemplateError",
    "check_design",
    "pdf_to_png",
    "render_certificate",
    "render_merged",
    "sample_content",
]

BUILT_IN_DIR = PROJECT_ROOT / "frontend" / "templates" / "certificates"
MAX_SIGNATORIES = 3


@dataclass(frozen=True, slots=True)
class CertificateContent:
    """Everything printed on one certificate."""

    code: str
    revision: int
    name: str
    #: The country's display name ("Viet Nam").
    country: str
    #: Hours attended, all sessions.
    hours: float
    #: (title, date text, hours) per session attended.
    sessions: tuple[tuple[str, str, float], ...]
    event_title: str
    project_code: str
    dates: str
    modality: str | None
    organisations: tuple[str, ...]
    verify_url: str
    #: Date text.
    issued_on: str


@dataclass(frozen=True, slots=True)
class Signatory:
    name: str
    title: str
    image: bytes | None = None
    image_type: str | None = None


@dataclass(frozen=True, slots=True)
class Design:
    """A certificate's look; None html/css means the built-in design."""

    html: str | None = None
    css: str | None = None
    signatories: tuple[Signatory, ...] = ()
    logo: bytes | None = None
    logo_type: str | None = None


def render_certificate(content: CertificateContent, design: Design) -> bytes:
    """One certificate as a PDF (A4 landscape with the built-in design)."""
    return _render(content, design).write_pdf()  # type: ignore[no-any-return]


def render_merged(contents: Sequence[CertificateContent], design: Design) -> bytes:
    """Many certificates as one PDF, each on its own page(s), fonts embedded once."""
    if not contents:
        raise ValueError("render_merged needs at least one certificate")
    documents = [_render(content, design) for content in contents]
    pages = [page for document in documents for page in document.pages]
    return documents[0].copy(pages).write_pdf()  # type: ignore[no-any-return]


def pdf_to_png(pdf: bytes, *, scale: float = 1.5) -> bytes:
    """The PDF's first page as PNG; `scale` 1 is 72 dpi."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        image = document[0].render(scale=scale).to_pil()
    finally:
        document.close()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def check_design(design: Design) -> list[str]:
    """Render a sample certificate with `design`; every problem in plain words (none: fine)."""
    problems: list[str] = []
    if len(design.signatories) > MAX_SIGNATORIES:
        problems.append(f"at most {MAX_SIGNATORIES} signatories, not {len(design.signatories)}")
    try:
        document = _render(sample_content(), design)
    except TemplateError as error:
        return problems + error.problems
    if len(document.pages) > 1:
        problems.append(
            f"the sample certificate takes {len(document.pages)} pages; it must fit on one"
        )
    return problems


def sample_content(
    *,
    event_title: str = "Study Mission on Data Governance",
    project_code: str = "21-IN-01-GE-SMN-B",
    dates: str = "24–25 November 2021",
    modality: str | None = "virtual",
    organisations: tuple[str, ...] = ("Korea Productivity Center",),
    verify_url: str = "https://example.org/verify/SAMPLE-7Q2M-XK4P",
) -> CertificateContent:
    """A made-up certificate for previews and checks: a long Vietnamese name, two sessions."""
    return CertificateContent(
        code="SAMPLE-7Q2M-XK4P",
        revision=1,
        name="Nguyễn Thị Minh",
        country="Viet Nam",
        hours=6.0,
        sessions=(("Day 1", "Wed 24 Nov 2021", 3.0), ("Day 2", "Thu 25 Nov 2021", 3.0)),
        event_title=event_title,
        project_code=project_code,
        dates=dates,
        modality=modality,
        organisations=organisations,
        verify_url=verify_url,
        issued_on="26 November 2021",
    )


# --- rendering -------------------------------------------------------------------------


class _Shared:
    """What renders on one thread share: building these costs more than a page layout."""

    def __init__(self) -> None:
        self.fonts = FontConfiguration()
        self.builtin_css = CSS(string=_builtin_source("default.css"), font_config=self.fonts)


_LOCAL = threading.local()


def _shared() -> _Shared:
    # Built on first use, per thread: nothing happens at import.
    shared: _Shared | None = getattr(_LOCAL, "shared", None)
    if shared is None:
        shared = _LOCAL.shared = _Shared()
    return shared


def _render(content: CertificateContent, design: Design) -> Document:
    template = _compile(design.html)
    html = render_template(template, _context(content, design))
    shared = _shared()
    fetcher = DataOnlyFetcher()
    css = shared.builtin_css if design.css is None else _custom_css(design.css, shared.fonts)
    try:
        document = HTML(string=html, url_fetcher=fetcher).render(
            stylesheets=[css], font_config=shared.fonts
        )
    except Exception as error:  # WeasyPrint on hostile HTML/CSS: report, never crash the caller.
        raise TemplateError([f"the page could not be laid out: {error}"]) from error
    if fetcher.refused:
        raise TemplateError(fetcher.problems())
    return document


def _compile(html: str | None) -> jinja2.Template:
    return _compile_cached(_builtin_source("default.html") if html is None else html)


@lru_cache(maxsize=16)
def _compile_cached(source: str) -> jinja2.Template:
    # Compiling is the slow part of Jinja2; a bulk issue renders one template a thousand times.
    return compile_template(source)


def _custom_css(source: str, fonts: FontConfiguration) -> CSS:
    # Not cached: @import is fetched while parsing, and every parse must meet the fetcher.
    fetcher = DataOnlyFetcher()
    try:
        css = CSS(string=source, url_fetcher=fetcher, font_config=fonts)
    except Exception as error:
        raise TemplateError([f"the CSS could not be read: {error}"]) from error
    if fetcher.refused:
        raise TemplateError(fetcher.problems())
    return css


@lru_cache(maxsize=4)
def _builtin_source(name: str) -> str:
    return (BUILT_IN_DIR / name).read_text(encoding="utf-8")


def _context(content: CertificateContent, design: Design) -> Mapping[str, Any]:
    """The template's whole world: the content's fields, the images as data: URIs, the QR."""
    signatories = [
        {"name": s.name, "title": s.title, "image": _data_uri(s.image, s.image_type)}
        for s in design.signatories[:MAX_SIGNATORIES]
    ]
    return {
        **{field: getattr(content, field) for field in CertificateContent.__slots__},
        "signatories": signatories,
        "logo": _data_uri(design.logo, design.logo_type),
        "qr_svg": _qr_svg(content.verify_url),
    }


@lru_cache(maxsize=1024)
def _qr_svg(url: str) -> Markup:
    # segno's own output, no user text in it: safe to mark as markup.
    svg = segno.make_qr(url, error="m").svg_inline(scale=4, border=2, omitsize=True)
    return Markup(svg)


def _data_uri(data: bytes | None, content_type: str | None) -> str | None:
    if data is None:
        return None
    encoded = base64.b64encode(data).decode("ascii")
    return f"data:{content_type or 'application/octet-stream'};base64,{encoded}"
