"""Vendored front-end files are the pinned versions the README lists, with their licences."""

import hashlib
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

VENDOR = Path(__file__).resolve().parents[2] / "frontend" / "static" / "vendor"
ROW = re.compile(
    r"^\| `(?P<file>[^`]+)` \| `[^`]+` \| (?P<version>[\d.]+) \| .*\| `(?P<sha>[0-9a-f]{64})` \|$"
)


def _listed() -> list[re.Match[str]]:
    text = (VENDOR / "README.md").read_text(encoding="utf-8")
    return [m for line in text.splitlines() if (m := ROW.match(line))]


def test_every_vendored_file_matches_its_pinned_hash_and_has_a_licence() -> None:
    listed = _listed()
    assert [m["file"] for m in listed] == ["htmx-2.0.11.min.js", "hls-1.7.4.min.mjs"]
    for match in listed:
        path = VENDOR / match["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == match["sha"]
        assert match["version"] in path.name
        licence = VENDOR / re.sub(r"\.min\.m?js$", ".LICENSE", path.name)
        assert licence.read_text(encoding="utf-8").strip() != ""


def test_pages_load_the_pinned_htmx_from_this_server() -> None:
    base = (VENDOR.parents[1] / "templates" / "base.html").read_text(encoding="utf-8")
    assert '<script src="/static/vendor/htmx-2.0.11.min.js" defer></script>' in base
    assert "https://" not in base


def test_the_site_visit_player_imports_the_pinned_hls_js_from_this_server() -> None:
    player = (VENDOR.parent / "js" / "site-visit.js").read_text(encoding="utf-8")
    assert 'const HLS_MODULE = "/static/vendor/hls-1.7.4.min.mjs";' in player
    assert "https://" not in player
