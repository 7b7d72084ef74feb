"""The certificate as a document: text, fonts, QR, page size, and the template sandbox."""

import dataclasses
import io
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from studymission.exporters import certificate_sandbox
from studymission.exporters.certificate_pdf import (
    CertificateContent,
    Design,
    Signatory,
    TemplateError,
    check_design,
    pdf_to_png,
    render_certificate,
    render_merged,
    sample_content,
)

pytestmark = pytest.mark.unit

ARTIFACTS = Path(__file__).resolve().parents[1] / "e2e" / "artifacts"
# An SVG as an uploaded logo or signature would be.
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40">'
    b'<circle cx="20" cy="20" r="18" fill="#1f4e79"/>'
    b'<path d="M45 28c10-20 20 10 30-8s20 10 40-6" stroke="#1d2733" fill="none" stroke-width="2"/>'
    b"</svg>"
)


def png(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 20), color).save(buffer, format="PNG")
    return buffer.getvalue()


NAMES = [
    "Nguyễn Thị Minh",
    "Şebnem Yıldız",
    "Sadeq Ḥosseini",
    "สมชาย ใจดี",
    "अनीता देसाई",
    "김민준",
]


def content(**changes: object) -> CertificateContent:
    return dataclasses.replace(
        sample_content(),
        code="K7QM-2XP4-RT9C",
        hours=5.5,
        sessions=(("Day 1", "Wed 24 Nov 2021", 3.0), ("Day 2", "Thu 25 Nov 2021", 2.5)),
        verify_url="https://studymission.example/verify/K7QM-2XP4-RT9C",
        **changes,  # type: ignore[arg-type]
    )


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def fonts_of(pdf: bytes) -> list[DictionaryObject]:
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    fonts = page["/Resources"]["/Font"]
    return [fonts[name].get_object() for name in fonts]


def descriptor(font: DictionaryObject) -> DictionaryObject:
    if "/DescendantFonts" in font:
        font = font["/DescendantFonts"][0].get_object()
    return font["/FontDescriptor"].get_object()


def printed_name(pdf: bytes, page: int = 0) -> str:
    """The name line (pypdf may glue the country line to it)."""
    text = PdfReader(io.BytesIO(pdf)).pages[page].extract_text()
    return text.splitlines()[2].removesuffix("Viet Nam")


def image_count(pdf: bytes) -> int:
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    return len(page.images)


# --- what is printed --------------------------------------------------------------------


def test_certificate_text_has_name_code_hours_and_event() -> None:
    text = text_of(render_certificate(content(), Design()))
    assert "Nguyễn Thị Minh" in text
    assert "Certificate K7QM-2XP4-RT9C" in text
    assert "Total 5.5 hours" in text
    assert "Day 2 Thu 25 Nov 2021 2.5 h" in text
    assert "Study Mission on Data Governance" in text
    assert "(21-IN-01-GE-SMN-B)" in text


@pytest.mark.parametrize("name", NAMES)
def test_unicode_names_round_trip_with_embedded_fonts(name: str) -> None:
    pdf = render_certificate(content(name=name), Design())
    assert printed_name(pdf) == name
    fonts = fonts_of(pdf)
    assert fonts
    for font in fonts:
        assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor(font)), font


def test_page_is_a4_landscape() -> None:
    page = PdfReader(io.BytesIO(render_certificate(content(), Design()))).pages[0]
    assert float(page.mediabox.width) == pytest.approx(842, abs=1)
    assert float(page.mediabox.height) == pytest.approx(595, abs=1)


def test_qr_code_decodes_to_the_verify_url() -> None:
    png = pdf_to_png(render_certificate(content(), Design()))
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert [barcode.text for barcode in found] == [
        "https://studymission.example/verify/K7QM-2XP4-RT9C"
    ]


def test_merged_pdf_has_a_page_per_certificate_in_order() -> None:
    pdf = render_merged([content(name=name) for name in NAMES[:3]], Design())
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 3
    assert [printed_name(pdf, page) for page in range(3)] == NAMES[:3]


def test_artifact_png_of_a_certificate_with_signatories_and_logo() -> None:
    design = Design(
        signatories=(
            Signatory("Dr. Kim Min-jun", "Secretary-General", SVG, "image/svg+xml"),
            Signatory("Şebnem Yıldız", "Programme Officer"),
            Signatory("สมชาย ใจดี", "Director, Thailand Productivity Institute"),
        ),
        logo=SVG,
        logo_type="image/svg+xml",
    )
    pdf = render_certificate(content(name="Nguyễn Thị Minh"), design)
    png = pdf_to_png(pdf, scale=1.5)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "certificate.png").write_bytes(png)
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == (1263, 893)
    text = text_of(pdf)
    assert "Secretary-General" in text
    assert "Programme Officer" in text
    assert "Director, Thailand" in text


# --- a custom design ---------------------------------------------------------------------

CUSTOM = """<html><body>
<img class="logo" src="{{ logo }}">
<h1>{{ name }} — {{ event_title }}</h1>
{% for s in signatories %}
<p>{{ s.name }}, {{ s.title }}{% if s.image %}<img src="{{ s.image }}">{% endif %}</p>
{% endfor %}
{{ qr_svg }}
</body></html>"""


def test_custom_template_renders_signatories_and_images() -> None:
    design = Design(
        html=CUSTOM,
        css="@page { size: A5 landscape } h1 { font-size: 14pt } svg { width: 20mm; height: 20mm }",
        signatories=(Signatory("Ana Reyes", "Director", png("navy"), "image/png"),),
        logo=png("red"),
        logo_type="image/png",
    )
    pdf = render_certificate(content(name="Şebnem Yıldız"), design)
    text = text_of(pdf)
    assert "Şebnem Yıldız — Study Mission on Data Governance" in text
    assert "Ana Reyes, Director" in text
    assert image_count(pdf) == 2
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    assert round(float(page.mediabox.width)) == 595
    assert check_design(design) == []


def test_user_text_is_escaped_not_markup() -> None:
    pdf = render_certificate(content(name="<b>Ana</b> & Co"), Design())
    assert printed_name(pdf) == "<b>Ana</b> & Co"


# --- the sandbox ------------------------------------------------------------------------


class SpyFetcher(certificate_sandbox.DataOnlyFetcher):
    """Counts every URL WeasyPrint asks for, refused or not."""

    asked: list[str] = []

    def fetch(self, url: str, headers: object = None) -> object:
        SpyFetcher.asked.append(url)
        return super().fetch(url, headers)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    SpyFetcher.asked = []
    monkeypatch.setattr(certificate_sandbox, "DataOnlyFetcher", SpyFetcher)
    from studymission.exporters import certificate_pdf

    monkeypatch.setattr(certificate_pdf, "DataOnlyFetcher", SpyFetcher)
    return SpyFetcher.asked


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-MARKER")
    return path


def fails(design: Design) -> list[str]:
    with pytest.raises(TemplateError) as raised:
        render_certificate(content(), design)
    assert raised.value.problems
    assert check_design(design) == raised.value.problems
    return raised.value.problems


@pytest.mark.parametrize("tag", ["include '{}'", "import '{}' as m", "extends '{}'"])
def test_template_cannot_pull_in_a_file(tag: str, marker: Path) -> None:
    statement = "{% " + tag.format(marker) + " %}"
    problems = fails(Design(html=statement + "{{ name }}"))
    assert problems == ["the template includes, imports or extends another one; it must be whole"]


def test_img_of_a_file_is_refused_and_never_read(spy: list[str], marker: Path) -> None:
    problems = fails(Design(html=f'<p>{{{{ name }}}}</p><img src="file://{marker}">'))
    assert spy == [f"file://{marker}", f"file://{marker}"]
    assert problems == [
        f"the design refers to file://{marker}; only images uploaded on this page "
        "(or data: URIs) may be used, nothing is read from files or the web"
    ]


@pytest.mark.parametrize(
    "css",
    [
        "@import url(file:///etc/passwd); body { color: red }",
        "body { background: url(http://127.0.0.1:9/x.png) }",
        "@font-face { font-family: X; src: url(file:///etc/passwd) } body { font-family: X }",
    ],
)
def test_css_reaching_files_or_the_web_is_refused(spy: list[str], css: str) -> None:
    problems = fails(Design(css=css))
    assert len(problems) == 1
    assert problems[0].startswith("the design refers to ")
    assert all(not url.startswith("data:") for url in spy)


def test_css_import_does_not_read_the_marker(marker: Path) -> None:
    problems = fails(Design(css=f"@import url(file://{marker});"))
    assert "TOP-SECRET-MARKER" not in " ".join(problems)
    assert problems[0].startswith(f"the design refers to file://{marker}")


@pytest.mark.parametrize(
    "html",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.mro() }}",
        "{{ name.__class__.__base__.__subclasses__() }}",
        "{{ signatories.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_attribute_escapes_fail_safely(html: str) -> None:
    problems = fails(Design(html=html))
    assert len(problems) == 1
    assert problems[0].startswith("the template reaches outside what it is given: ")


@pytest.mark.parametrize("html", ["{{ cycler }}", "{{ lipsum() }}", "{{ range(3) }}"])
def test_no_globals_are_reachable(html: str) -> None:
    problems = fails(Design(html=html))
    assert len(problems) == 1
    assert problems[0].startswith("the template uses something it is not given: ")


def test_template_that_raises_or_does_not_compile_is_a_problem() -> None:
    assert fails(Design(html="{{ 1 / 0 }}")) == [
        "the template failed: ZeroDivisionError: division by zero"
    ]
    assert fails(Design(html="{% for x in sessions %}")) == [
        "line 1: Unexpected end of template. Jinja was looking for the following tags: "
        "'endfor' or 'else'. The innermost block that needs to be closed is 'for'."
    ]


def test_check_design_reports_too_many_signatories_and_pages() -> None:
    signer = Signatory("A", "B")
    design = Design(
        html="<p style='page-break-after: always'>1</p><p>2</p>", signatories=(signer,) * 4
    )
    assert check_design(design) == [
        "at most 3 signatories, not 4",
        "the sample certificate takes 2 pages; it must fit on one",
    ]
