"""Security headers on every answer, the Content-Security-Policy's sources per Jitsi mode,
HSTS only behind TLS, the join link's no-referrer, and templates that need nothing inline."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from studymission.app import create_app
from studymission.config import PROJECT_ROOT, Settings
from studymission.db.engine import make_engine
from studymission.db.migrate import upgrade
from studymission.exporters.heatmap import inline_stylesheet
from studymission.services.clock import Clock
from studymission.services.events import LoadOutcome
from studymission.web.security_headers import style_hash
from tests.conftest import TEST_SECRET
from tests.integration.helpers import bearer, load_event

pytestmark = pytest.mark.integration

TEMPLATES = PROJECT_ROOT / "frontend" / "templates"


@dataclass
class App:
    client: TestClient
    outcome: LoadOutcome
    engine: Engine


MakeApp = Callable[..., App]


def policy(header: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as {directive: sources}."""
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        assert name not in directives, f"{name} given twice"
        directives[name] = sources
    return directives


@pytest.fixture
def make_app(tmp_path: Path, clock: Clock) -> Iterator[MakeApp]:
    """An app with the test settings changed by keyword (SQLite, the test event loaded)."""
    made: list[TestClient] = []

    def make(**changes: Any) -> App:
        folder = tmp_path / f"app{len(made)}"
        url = f"sqlite:///{folder / 'test.db'}"
        folder.mkdir()
        defaults: dict[str, Any] = {
            "database_url": url,
            "secret_key": TEST_SECRET,
            "base_url": "http://testserver",
            "var_dir": folder / "var",
            "media_dir": folder / "media",
            "max_upload_bytes": 200_000,
        }
        settings = Settings(**(defaults | changes))
        engine = make_engine(url)
        upgrade(engine)
        client = TestClient(create_app(settings, engine=engine, clock=clock))
        client.__enter__()
        made.append(client)
        return App(client, load_event(engine, settings, clock), engine)

    yield make
    for client in made:
        client.__exit__(None, None, None)


def test_every_kind_of_answer_carries_the_headers(make_app: MakeApp) -> None:
    client = make_app().client
    answers = {
        "page": client.get("/"),
        "api": client.get("/api/events"),
        "static": client.get("/static/css/app.css"),
        "missing": client.get("/no/such/page"),
        "too large": client.post("/api/events/TEST-EVENT-1/people/import", content=b"x" * 400_000),
    }
    assert {k: r.status_code for k, r in answers.items()} == {
        "page": 200,
        "api": 401,
        "static": 200,
        "missing": 404,
        "too large": 413,
    }
    for kind, answer in answers.items():
        headers = answer.headers
        assert headers["x-content-type-options"] == "nosniff", kind
        assert headers["x-frame-options"] == "DENY", kind
        assert headers["referrer-policy"] == "same-origin", kind
        assert "strict-transport-security" not in headers, kind
        csp = policy(headers["content-security-policy"])
        assert csp["frame-ancestors"] == ["'none'"], kind
        assert csp["default-src"] == ["'self'"], kind


def test_the_policy_allows_only_our_files_and_the_jitsi_server(make_app: MakeApp) -> None:
    csp = policy(make_app().client.get("/").headers["content-security-policy"])
    assert csp == {
        "default-src": ["'self'"],
        # JITSI_MODE=none joins the public meet.jit.si: its script and frame are allowed.
        "script-src": ["'self'", "https://meet.jit.si"],
        "frame-src": ["'self'", "https://meet.jit.si"],
        "connect-src": ["'self'", "ws://testserver"],
        "media-src": ["'self'", "blob:"],
        "worker-src": ["'self'", "blob:"],
        "img-src": ["'self'", "data:", "blob:"],
        "style-src": ["'self'", style_hash(inline_stylesheet())],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    everything = " ".join(s for sources in csp.values() for s in sources)
    assert "unsafe" not in everything
    assert "*" not in everything


def test_the_heat_maps_inline_style_is_the_one_allowed(make_app: MakeApp, clock: Clock) -> None:
    """The attendance page inlines the heat map's <style>; the policy allows its hash."""
    app = make_app()
    headers = bearer(app.engine, clock, "TEST-EVENT-1", "sec1")
    page = app.client.get("/events/TEST-EVENT-1/attendance", headers=headers)
    assert page.status_code == 200
    styles = re.findall(r"<style>(.*?)</style>", page.text, re.S)
    assert len(styles) == 1
    csp = policy(page.headers["content-security-policy"])
    assert csp["style-src"] == ["'self'", style_hash(styles[0])]
    assert style_hash("other") not in csp["style-src"]


def test_a_self_hosted_jitsi_replaces_the_public_one(make_app: MakeApp) -> None:
    client = make_app(
        jitsi_mode="self_hosted",
        jitsi_domain="meet.example.org",
        jitsi_app_id="studymission",
        jitsi_app_secret="a-long-enough-shared-secret-for-prosody-hs256",
    ).client
    headers = client.get("/").headers
    csp = policy(headers["content-security-policy"])
    assert csp["script-src"] == ["'self'", "https://meet.example.org"]
    assert csp["frame-src"] == ["'self'", "https://meet.example.org"]
    assert "meet.jit.si" not in headers["content-security-policy"]
    permissions = dict(p.split("=", 1) for p in headers["permissions-policy"].split(", "))
    assert permissions["camera"] == '(self "https://meet.example.org")'
    assert permissions["microphone"] == '(self "https://meet.example.org")'
    assert permissions["display-capture"] == '(self "https://meet.example.org")'
    assert permissions["geolocation"] == "()"


def test_jaas_allows_8x8(make_app: MakeApp, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "jaas.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    app_id = "vpaas-magic-cookie-0123456789abcdef"
    client = make_app(
        jitsi_mode="jaas",
        jitsi_app_id=app_id,
        jitsi_kid=f"{app_id}/4f4910",
        jitsi_private_key_file=key_file,
    ).client
    csp = policy(client.get("/").headers["content-security-policy"])
    assert csp["script-src"] == ["'self'", "https://8x8.vc"]
    assert csp["frame-src"] == ["'self'", "https://8x8.vc"]


def test_hsts_and_wss_only_behind_tls(make_app: MakeApp) -> None:
    client = make_app(base_url="https://events.example.org").client
    headers = client.get("/", headers={"host": "events.example.org"}).headers
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    csp = policy(headers["content-security-policy"])
    assert csp["connect-src"] == ["'self'", "wss://events.example.org"]


def test_live_stream_origins_may_be_fetched_and_played(make_app: MakeApp) -> None:
    client = make_app(live_stream_origins="https://live.example.org, http://10.0.0.5:8080/").client
    csp = policy(client.get("/").headers["content-security-policy"])
    origins = ["https://live.example.org", "http://10.0.0.5:8080"]
    assert csp["connect-src"] == ["'self'", "ws://testserver", *origins]
    assert csp["media-src"] == ["'self'", "blob:", *origins]


@pytest.mark.parametrize(
    "value",
    ["live.example.org", "ftp://live.example.org", "https://live.example.org/path", "https://"],
)
def test_a_live_stream_origin_that_is_no_origin_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="live stream origin must look like"):
        Settings(live_stream_origins=value)


def test_join_answers_send_no_referrer(make_app: MakeApp) -> None:
    app = make_app()
    client, token = app.client, app.outcome.join_tokens["p001"]
    good = client.get(f"/join/{token}", follow_redirects=False)
    bad = client.get("/join/not-a-token", follow_redirects=False)
    assert (good.status_code, bad.status_code) == (303, 404)
    for answer in (good, bad):
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-frame-options"] == "DENY"
    assert "set-cookie" not in bad.headers


def test_the_api_doc_pages_get_their_own_policy(make_app: MakeApp) -> None:
    client = make_app().client
    docs = client.get("/docs")
    assert docs.status_code == 200
    csp = policy(docs.headers["content-security-policy"])
    assert "https://cdn.jsdelivr.net" in csp["script-src"]
    assert csp["frame-ancestors"] == ["'none'"]
    # Only there: the event's pages keep the strict policy.
    assert "cdn.jsdelivr.net" not in client.get("/").headers["content-security-policy"]


def test_a_header_a_route_sets_itself_is_kept(make_app: MakeApp) -> None:
    verify = make_app().client.get("/verify/ABCDEFGHJKLMNPQR")
    assert verify.headers["cache-control"] == "no-store"
    assert verify.headers.get_list("referrer-policy") == ["same-origin"]


# --- the templates need nothing the policy refuses -------------------------------------

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.I)
STYLE_ELEMENT = re.compile(r"<style\b", re.I)
HTMX_EVAL = re.compile(r"\bhx-on\b|hx-on[:-]|\bhx-vars\b|js:|javascript:", re.I)
TRIGGER_FILTER = re.compile(r"hx-trigger=\"[^\"]*\[", re.I)


def page_templates() -> list[Path]:
    # Certificate designs (templates/certificates/) become PDFs on the server, never pages.
    designs = TEMPLATES / "certificates"
    return sorted(p for p in TEMPLATES.rglob("*.html") if designs not in p.parents)


def without_comments(text: str) -> str:
    return re.sub(r"\{#.*?#\}", "", text, flags=re.S)


@pytest.mark.parametrize("path", page_templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_carry_no_inline_code_or_style(path: Path) -> None:
    text = without_comments(path.read_text(encoding="utf-8"))
    found = {
        name: pattern.findall(text)
        for name, pattern in {
            "inline script": INLINE_SCRIPT,
            "event handler attribute": EVENT_HANDLER,
            "style attribute": STYLE_ATTRIBUTE,
            "style element": STYLE_ELEMENT,
            "htmx evaluation": HTMX_EVAL,
            "htmx trigger filter (evaluated)": TRIGGER_FILTER,
        }.items()
    }
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_htmx_is_told_not_to_evaluate_or_inject() -> None:
    base = (TEMPLATES / "base.html").read_text(encoding="utf-8")
    for setting in (
        '"allowEval": false',
        '"allowScriptTags": false',
        '"includeIndicatorStyles": false',
    ):
        assert setting in base
    assert page_templates(), "no templates found"
