"""The secretariat's certificate design page: who may, CSRF, problems, saving, preview."""

import io
import re

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine
from sqlmodel import Session

from studymission.config import Settings
from studymission.db.certificate_design import get_asset, get_design
from studymission.db.events import get_event
from studymission.services.certificate_design import load_design
from studymission.services.clock import Clock
from studymission.services.events import LoadOutcome
from tests.integration.helpers import load_event, sign_in

pytestmark = pytest.mark.integration

CODE = "TEST-EVENT-1"
PAGE = f"/events/{CODE}/certificates/design"


def png(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 20), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def outcome(engine: Engine, settings: Settings, clock: Clock) -> LoadOutcome:
    return load_event(engine, settings, clock)


@pytest.fixture
def csrf(client: TestClient, outcome: LoadOutcome) -> str:
    return sign_in(client, outcome, "sec1")


def stored(engine: Engine) -> tuple[object, ...]:
    with Session(engine) as db:
        event = get_event(db, CODE)
        assert event is not None
        row = get_design(db, event)
        logo = get_asset(db, event, "logo")
        if row is None:
            return (None, logo is not None)
        return (row.html, row.css, row.signatories, row.logo, logo is not None)


def problems(html: str) -> list[str]:
    return re.findall(r"<li><code>[^<]+</code>(?: — <q>[^<]*</q>)?: ([^<]+)</li>", html)


def test_participant_is_refused(client: TestClient, outcome: LoadOutcome, engine: Engine) -> None:
    token = sign_in(client, outcome, "p001")
    for path in (PAGE, f"{PAGE}/preview.png"):
        response = client.get(path)
        assert response.status_code == 403
        assert "needs the role secretariat; you are participant" in response.text
    posted = client.post(PAGE, data={"csrf_token": token, "sig1_name": "X"})
    assert posted.status_code == 403
    assert stored(engine) == (None, False)


def test_post_without_csrf_is_refused(client: TestClient, csrf: str, engine: Engine) -> None:
    response = client.post(PAGE, data={"sig1_name": "Dr. Kim", "sig1_title": "Director"})
    assert response.status_code == 403
    assert stored(engine) == (None, False)


def test_page_shows_the_built_in_design(client: TestClient, csrf: str) -> None:
    whole = client.get(PAGE)
    assert whole.status_code == 200
    assert 'id="design-state">The built-in design is in use.' in whole.text
    fragment = client.get(PAGE, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert fragment.text.strip().startswith('<div id="certificate-design"')


def test_bad_template_is_422_with_problems_and_nothing_saved(
    client: TestClient, csrf: str, engine: Engine
) -> None:
    data = {
        "csrf_token": csrf,
        "html": "<p>{{ ''.__class__.__mro__ }}</p>",
        "css": "@import url(file:///etc/passwd);",
        "sig1_name": "Dr. Kim Min-jun",
        "sig1_title": "Secretary-General",
    }
    files = {"logo": ("logo.png", png("red"), "image/png")}
    response = client.post(PAGE, data=data, files=files)
    assert response.status_code == 422
    assert problems(response.text) == [
        "the template reaches outside what it is given: access to attribute "
        "&#39;__class__&#39; of &#39;str&#39; object is unsafe."
    ]
    # What was typed is shown again for fixing; nothing, not even the logo, was stored.
    assert "Dr. Kim Min-jun" in response.text
    assert stored(engine) == (None, False)


def test_image_that_is_not_an_image_is_a_problem(
    client: TestClient, csrf: str, engine: Engine
) -> None:
    files = {"logo": ("logo.png", b"not a png", "image/png")}
    response = client.post(PAGE, data={"csrf_token": csrf}, files=files)
    assert response.status_code == 422
    assert problems(response.text) == ["is not a readable image/png image"]
    assert stored(engine) == (None, False)


def test_good_design_is_saved_and_previewed(client: TestClient, csrf: str, engine: Engine) -> None:
    data = {
        "csrf_token": csrf,
        "sig1_name": "Dr. Kim Min-jun",
        "sig1_title": "Secretary-General",
        "sig2_name": "Şebnem Yıldız",
        "sig2_title": "Programme Officer",
    }
    files = {
        "logo": ("logo.png", png("red"), "image/png"),
        "sig1_image": ("sign.png", png("navy"), "image/png"),
    }
    response = client.post(PAGE, data=data, files=files)
    assert response.status_code == 200, response.text
    assert 'id="design-saved"' in response.text
    assert stored(engine) == (
        None,
        None,
        [
            {"name": "Dr. Kim Min-jun", "title": "Secretary-General", "image": "signature-1"},
            {"name": "Şebnem Yıldız", "title": "Programme Officer", "image": None},
        ],
        "logo",
        True,
    )
    with Session(engine) as db:
        event = get_event(db, CODE)
        assert event is not None
        design = load_design(db, event)
    assert design.logo == png("red")
    assert [s.image_type for s in design.signatories] == ["image/png", None]

    preview = client.get(f"{PAGE}/preview.png")
    assert preview.status_code == 200
    assert preview.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(preview.content)) as image:
        width, height = image.size
    assert width / height == pytest.approx(297 / 210, abs=0.01)


def test_custom_template_then_reset_to_built_in(
    client: TestClient, csrf: str, engine: Engine
) -> None:
    html = "<h1>{{ name }}</h1><p>{{ event_title }}</p>{{ qr_svg }}"
    css = "@page { size: A4 landscape } svg { width: 30mm; height: 30mm }"
    saved = client.post(PAGE, data={"csrf_token": csrf, "html": html, "css": css})
    assert saved.status_code == 200, saved.text
    assert stored(engine)[:2] == (html, css)
    assert 'id="design-state">A custom template is in use.' in client.get(PAGE).text
    reset = client.post(PAGE, data={"csrf_token": csrf, "html": html, "reset": "1"})
    assert reset.status_code == 200
    assert stored(engine)[:2] == (None, None)
