"""The attendance pages in a real browser: the live roster filling in as participants open
their event page, the report with its heat map, a decision made by keyboard alone, and a
participant's own minutes, at phone (390 × 844) and desktop (1280 × 900) sizes.

The server is this module's own: an event with twelve participants whose first 105 minutes
of Day 1 are already in the per-minute log (late joins, a 7-minute drop, someone only partly
there), its clock at 14:45 Seoul.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session

from studymission.db.engine import make_engine
from studymission.db.events import get_event, list_people, read_programme
from studymission.db.presence import MinuteCell, upsert_minutes
from tests.e2e.conftest import LiveServer, keep_on_loopback, serve_event
from tests.factories import BASE_SPEC, make_spec

pytestmark = pytest.mark.e2e

CODE = "TEST-EVENT-1"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
FULL = (1 << 60) - 1
REACHED = 105  # 14:45 Seoul is minute 105 of Day 1 (13:00–16:00, break 14:00–14:15)

PARTICIPANTS = [
    ("p003", "Trần Văn An", "VN"),
    ("p004", "Priya Sharma", "IN"),
    ("p005", "Ahmad Fauzi", "ID"),
    ("p006", "Maria Santos", "PH"),
    ("p007", "Tanaka Yuki", "JP"),
    ("p008", "Somchai Wongsakul", "TH"),
    ("p009", "Aisha Rahman", "BD"),
    ("p010", "Bat-Erdene Ganbold", "MN"),
    ("p011", "Muhammad Imran Qureshi", "PK"),
    ("p012", "Nimali Perera", "LK"),
]

#: (first minute, last minute + 1, seconds each) of Day 1 for each person.
PATTERNS: dict[str, list[tuple[int, int, int]]] = {
    "p001": [(0, 60, 60), (75, REACHED, 60)],
    "p002": [(12, 60, 60), (75, REACHED, 60)],  # joined late
    "p003": [(0, 30, 60), (37, 60, 60), (75, REACHED, 60)],  # dropped for 7 minutes
    "p004": [(0, REACHED, 20)],  # only partly there, every minute
    "p005": [(0, 45, 60)],  # left early
    "p006": [(0, REACHED, 60)],  # stayed through the break too
    "p008": [(0, 60, 45), (75, REACHED, 45)],
    "p009": [(5, 60, 60), (80, REACHED, 60)],
    "p010": [(0, 20, 60), (20, 40, 25), (40, 60, 60), (75, REACHED, 60)],
    "p011": [(30, 60, 60), (75, 90, 60)],
    "p012": [(0, 60, 60), (75, REACHED, 60)],
    "rp1": [(0, REACHED, 60)],
    "mod1": [(0, REACHED, 60)],
}


def _spec() -> dict[str, Any]:
    extra = [
        {
            "key": key,
            "name": name,
            "email": f"{key}@example.org",
            "country": country,
            "organization": "NPO",
            "role": "participant",
            "origin": "overseas",
        }
        for key, name, country in PARTICIPANTS
    ]
    return make_spec(people=[*BASE_SPEC["people"], *extra])


def _log_day1(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with Session(engine) as db:
            event = get_event(db, CODE)
            assert event is not None
            day1 = read_programme(db, event)[0][0]
            ids = {p.key: p.id or 0 for p in list_people(db, event)}
            cells: list[MinuteCell] = []
            for key, runs in PATTERNS.items():
                for first, stop, seconds in runs:
                    bits = (1 << seconds) - 1
                    cells.extend(
                        (day1, ids[key], m, "main", bits, bits) for m in range(first, stop)
                    )
            upsert_minutes(db.connection(), cells)
            db.commit()
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The event served by `studymission serve`, its clock at 14:45 Seoul on Day 1."""
    with serve_event(
        tmp_path_factory.mktemp("e2e-attendance"), _spec(), "2021-11-24T05:45:00Z", _log_day1
    ) as served:
        yield served


def _open(
    browser: Browser, server: LiveServer, key: str, size: dict[str, int], tz: str = "Asia/Tokyo"
) -> Page:
    """`key`'s browser, signed in; its time zone is the one the page adopts (timezone.js)."""
    context = browser.new_context(viewport=size, timezone_id=tz)  # type: ignore[arg-type]
    keep_on_loopback(context)
    page = context.new_page()
    page.goto(server.join_links[key])
    return page


def _address(page: Page) -> str:
    """The address bar, as htmx's pushState left it."""
    return str(page.evaluate("location.pathname + location.search"))


def _wait_for_address(page: Page, address: str) -> None:
    page.wait_for_function("(a) => location.pathname + location.search === a", arg=address)


def _fits(page: Page, name: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} scrolls sideways by {overflow}px"


def _tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


# --- the participant's page ----------------------------------------------------------------


@pytest.mark.parametrize(("label", "size"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_participant_sees_own_minutes_and_is_connected(
    browser: Browser, server: LiveServer, artifacts: Path, label: str, size: dict[str, int]
) -> None:
    page = _open(browser, server, "p003", size, tz="Asia/Ho_Chi_Minh")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "connected", timeout=15000)
    figure = page.locator("#my-minutes-figure")
    expect(figure).to_contain_text("of 165 required minutes present so far")
    # p003: minutes 0–29 and 37–59 and 75–104, less the minute in progress.
    expect(figure.locator("strong")).to_have_text("83")
    expect(page.locator("#attendance-why")).to_contain_text("keep it open during sessions")
    # The strip takes the panel's width, whatever the screen's.
    strip = page.locator("#my-strip").evaluate("(e) => e.getBoundingClientRect().width")
    panel = page.locator("#my-attendance").evaluate("(e) => e.clientWidth")
    assert strip >= panel - 2 * 17
    _fits(page, f"the participant's page at {label}")
    page.locator("#my-attendance").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / f"attendance-landing-{label}.png"), full_page=True)
    page.context.close()


# --- the live roster -----------------------------------------------------------------------


def test_roster_fills_in_and_shows_a_drop_without_reloading(
    browser: Browser, server: LiveServer, artifacts: Path
) -> None:
    participant = _open(browser, server, "p001", PHONE)
    expect(participant.locator("#live-status")).to_have_attribute("data-state", "connected")
    roster = _open(browser, server, "mod1", DESKTOP)
    roster.goto(f"{server.base_url}/events/{CODE}/roster")
    row = roster.locator("#roster-connected tr[data-key='p001']")
    expect(row).to_contain_text("✓ Yes", timeout=15000)
    expect(row).to_contain_text("main")
    expect(roster.locator("#roster-counts")).to_contain_text("connected")
    _fits(roster, "the roster at desktop")
    roster.screenshot(path=str(artifacts / "attendance-roster-desktop.png"), full_page=True)

    participant.context.close()  # the tab closes: the socket with it
    dropped = roster.locator("#roster-dropped tr[data-key='p001']")
    expect(dropped).to_contain_text("min ago", timeout=20000)
    expect(roster.locator("#roster-connected tr[data-key='p001']")).to_have_count(0)
    assert _address(roster) == f"/events/{CODE}/roster"  # updated in place, not reloaded

    # Filter by status, with the keyboard; the address keeps the filter.
    roster.locator("#roster-status").focus()
    roster.locator("#roster-status").select_option("dropped")
    _wait_for_address(roster, f"/events/{CODE}/roster?room=&status=dropped")
    expect(roster.locator("#roster-connected")).to_have_count(0)
    expect(roster.locator("#roster-dropped tr[data-key='p001']")).to_be_visible()
    roster.context.close()


def test_roster_on_a_phone(browser: Browser, server: LiveServer, artifacts: Path) -> None:
    participant = _open(browser, server, "p012", DESKTOP)
    expect(participant.locator("#live-status")).to_have_attribute("data-state", "connected")
    roster = _open(browser, server, "mod1", PHONE)
    roster.goto(f"{server.base_url}/events/{CODE}/roster")
    expect(roster.locator("#roster-connected tr[data-key='p012']")).to_be_visible(timeout=15000)
    _fits(roster, "the roster at 390 px")
    roster.screenshot(path=str(artifacts / "attendance-roster-phone.png"), full_page=True)
    participant.context.close()
    roster.context.close()


# --- the attendance report -----------------------------------------------------------------


@pytest.mark.parametrize(("label", "size"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_report_with_heat_map(
    browser: Browser, server: LiveServer, artifacts: Path, label: str, size: dict[str, int]
) -> None:
    page = _open(browser, server, "sec1", size)
    page.goto(f"{server.base_url}/events/{CODE}/attendance")
    people = 12 + 3  # participants, a resource person, a moderator, the secretariat
    expect(page.locator("#attendance tbody tr")).to_have_count(people)
    heatmap = page.locator("#heatmap-figure svg")
    expect(heatmap.locator("g.row")).to_have_count(people)
    # The heat map scrolls inside its figure; the page does not.
    _fits(page, f"the report at {label}")
    scroller = page.locator(".heatmap__scroll")
    widths = scroller.evaluate("(e) => [e.scrollWidth, e.clientWidth]")
    assert widths[0] > widths[1]
    page.screenshot(path=str(artifacts / f"attendance-report-{label}.png"), full_page=True)
    heatmap.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / f"attendance-heatmap-{label}.png"))

    page.locator("#filter-country").select_option("VN")
    _wait_for_address(page, f"/events/{CODE}/attendance?q=&country=VN&role=")
    expect(page.locator("#attendance tbody tr")).to_have_count(2)
    expect(heatmap.locator("g.row")).to_have_count(2)
    page.context.close()


def test_filter_and_override_by_keyboard(
    browser: Browser, server: LiveServer, artifacts: Path
) -> None:
    page = _open(browser, server, "sec1", DESKTOP)
    page.goto(f"{server.base_url}/events/{CODE}/attendance")
    _tab_to(page, "#filter-q")
    page.keyboard.type("wongsakul")
    _wait_for_address(page, f"/events/{CODE}/attendance?q=wongsakul&country=&role=")
    expect(page.locator("#attendance tbody tr")).to_have_count(1)
    _tab_to(page, "#filter-not-eligible")
    page.keyboard.press("Space")
    _wait_for_address(page, f"/events/{CODE}/attendance?q=wongsakul&country=&role=&not_eligible=1")
    expect(page.locator("#attendance tbody tr")).to_have_count(1)

    _tab_to(page, "#person-p008 summary")
    page.keyboard.press("Enter")
    # Into the form: the decision (preset to the opposite of today's), the reason, Save.
    page.keyboard.press("Tab")
    assert page.evaluate("[document.activeElement.type, document.activeElement.value]") == [
        "radio",
        "yes",
    ]
    page.keyboard.press("Tab")
    expect(page.locator("#override-p008-reason")).to_be_focused()
    page.keyboard.type("Connected by phone from a field visit; the moderator confirmed it")
    page.keyboard.press("Tab")
    expect(page.locator("#person-p008 button[type=submit]")).to_be_focused()
    page.keyboard.press("Enter")

    notice = page.locator("#attendance-notice")
    expect(notice).to_contain_text("Somchai Wongsakul is now eligible")
    expect(page.locator("#trail")).to_contain_text("Connected by phone from a field visit")
    # "Not yet eligible only" now hides the row, so the focus goes to the notice.
    expect(page.locator("#saved-notice")).to_be_focused()
    expect(page.locator("#attendance tbody tr")).to_have_text("Nobody matches these filters.")
    page.screenshot(path=str(artifacts / "attendance-override-keyboard.png"), full_page=True)

    # Without that filter the row stays, and the focus returns to its "Decide".
    page.goto(f"{server.base_url}/events/{CODE}/attendance?q=santos")
    page.locator("#person-p006 summary").click()
    page.locator("#override-p006-reason").fill("Present throughout, confirmed by the moderator")
    page.locator("#person-p006 button[type=submit]").click()
    expect(page.locator("#person-p006 summary")).to_be_focused()
    expect(page.locator("#person-p006 .eligibility")).to_contain_text("✓ Eligible")

    # An empty reason: the problem is listed in place and nothing is written.
    page.goto(f"{server.base_url}/events/{CODE}/attendance?q=perera")
    page.locator("#person-p012 summary").click()
    page.locator("#override-p012-reason").fill("   ")
    page.locator("#person-p012 button[type=submit]").click()
    problems = page.locator("#person-p012 .problems")
    expect(problems).to_contain_text("say why")
    expect(page.locator("#override-p012-reason")).to_be_focused()
    page.screenshot(path=str(artifacts / "attendance-override-problem.png"), full_page=True)
    page.context.close()


def test_person_page(browser: Browser, server: LiveServer, artifacts: Path) -> None:
    page = _open(browser, server, "sec1", DESKTOP)
    page.goto(f"{server.base_url}/events/{CODE}/attendance/p003")
    expect(page.locator("h1")).to_have_text("Trần Văn An")
    page.locator(".minute-log summary").first.click()
    expect(page.locator("#log-day1 tbody tr").first).to_contain_text("13:00")
    _fits(page, "the person page")
    page.screenshot(path=str(artifacts / "attendance-person-desktop.png"), full_page=True)
    page.context.close()
