"""The attendance heatmap: people × minutes of every session, as one accessible SVG.

Pure: it takes the per-minute covered seconds (CONTRACT §4) already read from the log and
returns the SVG text, which the server inlines in an HTML page (or serves on its own).
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby

#: Geometry, in whole pixels so that every number in the SVG is a short integer.
MINUTE_W = 3
ROW_H = 14
CELL_H = 11
SESSION_GAP = 12
PAD = 8
CHAR_W = 6  # a rough average advance of the 11 px sans-serif used for labels
STATUS_W = 14
LABEL_MIN_W = 120
LABEL_MAX_W = 240
TITLE_Y = 18
LEGEND_Y = 30
SESSION_TITLE_Y = 62
TICK_LABEL_Y = 76
GRID_TOP = 84

#: Colour-blind-safe: one hue (ColorBrewer "Blues") whose states differ by lightness, so
#: they also hold in greyscale; the legend and the hover titles carry the same facts in words.
PRESENT_FILL = "#08519c"
PARTIAL_FILL = "#6baed6"
ABSENT_FILL = "#deebf7"
BREAK_FILL = "#d9d9d9"

PRESENT, PARTIAL, ABSENT, BREAK = "p", "q", "a", "b"

# Characters XML 1.0 forbids even when escaped; a name holding one would make the SVG
# ill-formed, so they are dropped (names are user input).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class HeatmapSession:
    """One session's columns: its minutes, which of them are breaks, and how far it has run."""

    key: str
    title: str
    minute_count: int
    break_minutes: frozenset[int]
    minutes_reached: int

    @property
    def required_minutes(self) -> int:
        return self.minute_count - sum(1 for m in self.break_minutes if 0 <= m < self.minute_count)


@dataclass(frozen=True, slots=True)
class HeatmapRow:
    """One person's row: for each session key, the covered seconds (0–60) of minutes
    ``0 … minutes_reached-1``. A missing session or minute counts as 0 s."""

    key: str
    name: str
    country: str
    eligible: bool
    seconds: dict[str, Sequence[int]]


def render_heatmap(
    sessions: Sequence[HeatmapSession],
    rows: Sequence[HeatmapRow],
    *,
    title: str,
    minute_threshold_seconds: int,
    id_prefix: str = "heatmap",
) -> str:
    """The heatmap as a standalone SVG document (no XML declaration, so it can be inlined).

    `id_prefix` makes the element ids (and the CSS scoped to them) unique when several
    heatmaps share a page.
    """
    ident = _ID_UNSAFE.sub("-", id_prefix) or "heatmap"
    label_chars = max((len(_label_text(row)) for row in rows), default=0)
    label_w = max(LABEL_MIN_W, min(LABEL_MAX_W, label_chars * CHAR_W + 2 * PAD))
    name_chars = (label_w - 2 * PAD) // CHAR_W - 3  # room left for " CC"

    offsets: list[int] = []
    x = PAD + label_w + STATUS_W
    for session in sessions:
        offsets.append(x)
        x += max(0, session.minute_count) * MINUTE_W + SESSION_GAP
    grid_right = x - SESSION_GAP if sessions else x
    legend, legend_right = _legend(ident, minute_threshold_seconds)
    width = max(grid_right, legend_right) + PAD
    grid_bottom = GRID_TOP + len(rows) * ROW_H
    height = grid_bottom + PAD

    eligible = sum(1 for row in rows if row.eligible)
    desc = (
        f"{len(rows)} people, {eligible} eligible, across {len(sessions)} sessions. Each row is a "
        f"person and each column a minute: dark blue, present (at least "
        f"{minute_threshold_seconds} s); mid blue, partly there; pale blue, absent; outlined, "
        "not reached yet; grey hatching, a break (not counted). A tick marks an eligible person."
    )
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{ident}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" font-family="system-ui,sans-serif" font-size="11">',
        f'<title id="{ident}-title">{_escape(title)}</title>',
        f'<desc id="{ident}-desc">{_escape(desc)}</desc>',
        _style(ident),
        f'<defs><pattern id="{ident}-hatch" width="4" height="4" '
        'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        f'<rect width="4" height="4" fill="{BREAK_FILL}"/>'
        '<path d="M0 0V4" stroke="#969696" stroke-width="1.5"/></pattern></defs>',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text class="h1" x="{PAD}" y="{TITLE_Y}">{_escape(title)}</text>',
        legend,
    ]

    for session, x0 in zip(sessions, offsets, strict=True):
        out.extend(_session_header(ident, session, x0, grid_bottom))

    for index, row in enumerate(rows):
        out.append(
            _row(
                row,
                sessions,
                offsets,
                GRID_TOP + index * ROW_H,
                minute_threshold_seconds,
                label_w,
                name_chars,
            )
        )
    out.append("</svg>")
    return "\n".join(out)


def _row(
    row: HeatmapRow,
    sessions: Sequence[HeatmapSession],
    offsets: Sequence[int],
    y: int,
    threshold: int,
    label_w: int,
    name_chars: int,
) -> str:
    cell_y = y + (ROW_H - CELL_H) // 2
    text_y = y + ROW_H - 3
    hover = [f"{row.name} ({row.country}): {'eligible' if row.eligible else 'not eligible'}"]
    parts: list[str] = []
    for session, x0 in zip(sessions, offsets, strict=True):
        states = _states(session, row.seconds.get(session.key, ()), threshold)
        present = sum(1 for state in states if state == PRESENT)
        so_far = "" if session.minutes_reached >= session.minute_count else " so far"
        hover.append(
            f"{session.title}: {present} of {session.required_minutes} required minutes "
            f"present{so_far}"
        )
        start = 0
        for state, run in groupby(states):
            length = sum(1 for _ in run)
            if state != BREAK:
                parts.append(
                    f'<rect class="{state}" x="{x0 + start * MINUTE_W}" y="{cell_y}" '
                    f'width="{length * MINUTE_W}" height="{CELL_H}"/>'
                )
            start += length
    name = row.name if len(row.name) <= name_chars else row.name[: max(1, name_chars - 1)] + "…"
    mark = f'<text class="ok" x="{PAD + label_w + 2}" y="{text_y}">✓</text>' if row.eligible else ""
    return (
        f'<g class="row" data-person="{_escape(row.key)}"><title>{_escape(chr(10).join(hover))}'
        f'</title><text x="{PAD}" y="{text_y}">{_escape(name)} '
        f'<tspan class="cc">{_escape(row.country)}</tspan></text>{mark}{"".join(parts)}</g>'
    )


def _states(session: HeatmapSession, seconds: Sequence[int], threshold: int) -> list[str]:
    """The state of each reached minute; later minutes are drawn once per session instead."""
    reached = max(0, min(session.minutes_reached, session.minute_count))
    breaks = session.break_minutes
    covered = list(seconds[:reached])
    covered.extend([0] * (reached - len(covered)))
    return [
        BREAK
        if minute in breaks
        else PRESENT
        if value >= threshold
        else PARTIAL
        if value > 0
        else ABSENT
        for minute, value in enumerate(covered)
    ]


def _session_header(ident: str, session: HeatmapSession, x0: int, grid_bottom: int) -> list[str]:
    count = max(0, session.minute_count)
    span = count * MINUTE_W
    chars = max(1, span // CHAR_W)
    shown = session.title if len(session.title) <= chars else session.title[: chars - 1] + "…"
    out = [
        f'<g class="session" data-session="{_escape(session.key)}">'
        f"<title>{_escape(session.title)}: {count} minutes, "
        f"{session.required_minutes} required</title>"
        f'<text class="h2" x="{x0}" y="{SESSION_TITLE_Y}">{_escape(shown)}</text>'
    ]
    # Break bands first, so that they lie behind the tick lines and the cells.
    for first, length in _runs(m for m in sorted(session.break_minutes) if 0 <= m < count):
        out.append(
            f'<rect class="brk" x="{x0 + first * MINUTE_W}" y="{TICK_LABEL_Y + 3}" '
            f'width="{length * MINUTE_W}" height="{grid_bottom - TICK_LABEL_Y - 3}" '
            f'fill="url(#{ident}-hatch)"/>'
        )
    reached = max(0, min(session.minutes_reached, count))
    if reached < count:
        # One outline for every row's not-yet-reached minutes, rather than one per row.
        out.append(
            f'<rect class="nr" x="{x0 + reached * MINUTE_W}" y="{GRID_TOP}" '
            f'width="{(count - reached) * MINUTE_W}" height="{max(1, grid_bottom - GRID_TOP)}"/>'
        )
    step = 30 if count <= 240 else 60
    path = []
    for minute in range(0, count + 1, step):
        tick_x = x0 + minute * MINUTE_W
        path.append(f"M{tick_x} {TICK_LABEL_Y + 3}V{grid_bottom}")
        if minute < count:
            hours, minutes = divmod(minute, 60)
            label = f"+{hours}:{minutes:02d}"
            out.append(f'<text class="tk" x="{tick_x + 2}" y="{TICK_LABEL_Y}">{label}</text>')
    out.append(f'<path class="tl" d="{"".join(path)}"/></g>')
    return out


def _legend(ident: str, threshold: int) -> tuple[str, int]:
    """The legend's SVG and the x where it ends."""
    entries = [
        (f'class="{PRESENT}"', f"present (≥ {threshold} s)"),
        (f'class="{PARTIAL}"', "partly there"),
        (f'class="{ABSENT}"', "absent"),
        ('class="nr"', "not reached yet"),
        (f'fill="url(#{ident}-hatch)"', "break (not counted)"),
    ]
    out = ['<g class="legend">']
    x = PAD
    for attributes, text in entries:
        out.append(
            f'<rect {attributes} x="{x}" y="{LEGEND_Y}" width="12" height="{CELL_H}"/>'
            f'<text x="{x + 16}" y="{LEGEND_Y + CELL_H - 1}">{_escape(text)}</text>'
        )
        x += 16 + len(text) * CHAR_W + 14
    out.append(f'<text class="ok" x="{x}" y="{LEGEND_Y + CELL_H - 1}">✓</text>')
    out.append(f'<text x="{x + 12}" y="{LEGEND_Y + CELL_H - 1}">eligible</text></g>')
    return "".join(out), x + 12 + len("eligible") * CHAR_W


def inline_stylesheet(id_prefix: str = "heatmap") -> str:
    """The text inside the heat map's ``<style>``: the pages' Content-Security-Policy allows
    exactly this text (by its hash) and no other inline style."""
    ident = _ID_UNSAFE.sub("-", id_prefix) or "heatmap"
    return _style(ident).removeprefix("<style>").removesuffix("</style>")


def _style(ident: str) -> str:
    # Scoped to the svg's id: an inline <style> applies to the whole HTML page.
    s = f"#{ident} "
    return (
        "<style>"
        f"{s}.{PRESENT}{{fill:{PRESENT_FILL}}}{s}.{PARTIAL}{{fill:{PARTIAL_FILL}}}"
        f"{s}.{ABSENT}{{fill:{ABSENT_FILL}}}"
        f"{s}.nr{{fill:none;stroke:#737373;stroke-dasharray:2 2}}"
        f"{s}.tl{{stroke:#bdbdbd;stroke-width:1}}"
        f"{s}text{{fill:#252525}}{s}.cc,{s}.tk{{fill:#636363}}{s}.tk{{font-size:10px}}"
        f"{s}.h1{{font-size:14px;font-weight:bold}}{s}.h2{{font-weight:bold}}"
        f"{s}.ok{{fill:#08519c;font-weight:bold}}"
        "</style>"
    )


def _runs(minutes: Iterable[int]) -> list[tuple[int, int]]:
    """(first, length) of each run of consecutive integers, given in increasing order."""
    runs: list[tuple[int, int]] = []
    for minute in minutes:
        if runs and runs[-1][0] + runs[-1][1] == minute:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((minute, 1))
    return runs


def _label_text(row: HeatmapRow) -> str:
    return f"{row.name} {row.country}"


def _escape(text: str) -> str:
    """Text safe inside XML content and in double- or single-quoted attributes."""
    cleaned = _XML_INVALID.sub("", text)
    return (
        cleaned.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )
