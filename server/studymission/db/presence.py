"""Writing and reading the presence log, the socket audit trail and the live roster.

Writes here are batches: one statement for thousands of rows, one transaction per flush.
The minute upsert ORs bits into existing rows (see tables.PresenceMinute), which makes it
idempotent and safe for several processes to run at once.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, select, text, update
from sqlalchemy.dialects import sqlite

from studymission.db.tables import (
    ConnectionEvent,
    LiveSocket,
    PresenceMinute,
    ServerProcess,
)

MINUTES = PresenceMinute.__table__  # type: ignore[attr-defined]
EVENTS = ConnectionEvent.__table__  # type: ignore[attr-defined]
LIVE = LiveSocket.__table__  # type: ignore[attr-defined]
PROCESSES = ServerProcess.__table__  # type: ignore[attr-defined]

#: (session_id, person_id, minute, room, covered bits, visible bits)
MinuteCell = tuple[int, int, int, str, int, int]


_UPSERT_UNNEST = text(
    """
    INSERT INTO presence_minute (session_id, person_id, minute, room, covered, visible)
    SELECT * FROM unnest(
        CAST(:session_ids AS integer[]), CAST(:person_ids AS integer[]),
        CAST(:minutes AS integer[]), CAST(:rooms AS varchar[]),
        CAST(:covered AS bigint[]), CAST(:visible AS bigint[]))
    ON CONFLICT (session_id, person_id, minute, room) DO UPDATE
    SET covered = presence_minute.covered | excluded.covered,
        visible = presence_minute.visible | excluded.visible
    """
)


def upsert_minutes(connection: Connection, cells: Sequence[MinuteCell]) -> None:
    """OR every cell's bits into its row, creating rows that do not exist yet.

    One statement for the whole flush: on PostgreSQL the rows travel as six arrays
    (``unnest``), elsewhere as one prepared statement executed for every row. A
    multi-row ``VALUES`` compiled by SQLAlchemy cost a second per 10,000 rows, and held
    the interpreter while the event loop waited (bench/README.md).
    """
    if not cells:
        return
    if connection.dialect.name == "postgresql":
        session_ids, person_ids, minutes, rooms, covered, visible = (
            list(column) for column in zip(*cells, strict=True)
        )
        connection.execute(
            _UPSERT_UNNEST,
            {
                "session_ids": session_ids,
                "person_ids": person_ids,
                "minutes": minutes,
                "rooms": rooms,
                "covered": covered,
                "visible": visible,
            },
        )
        return
    if connection.dialect.name != "sqlite":
        raise NotImplementedError(f"no upsert for the {connection.dialect.name} dialect")
    statement = sqlite.insert(MINUTES)
    statement = statement.on_conflict_do_update(
        index_elements=["session_id", "person_id", "minute", "room"],
        set_={
            "covered": MINUTES.c.covered.op("|")(statement.excluded.covered),
            "visible": MINUTES.c.visible.op("|")(statement.excluded.visible),
        },
    )
    connection.execute(
        statement,
        [
            {
                "session_id": session_id,
                "person_id": person_id,
                "minute": minute,
                "room": room,
                "covered": covered_bits,
                "visible": visible_bits,
            }
            for session_id, person_id, minute, room, covered_bits, visible_bits in cells
        ],
    )


def read_minutes(
    connection: Connection, session_ids: Iterable[int], person_id: int | None = None
) -> list[tuple[int, int, int, str, int, int]]:
    """Stored cells of the sessions (optionally of one person), unordered."""
    query = select(
        MINUTES.c.session_id,
        MINUTES.c.person_id,
        MINUTES.c.minute,
        MINUTES.c.room,
        MINUTES.c.covered,
        MINUTES.c.visible,
    ).where(MINUTES.c.session_id.in_(list(session_ids)))
    if person_id is not None:
        query = query.where(MINUTES.c.person_id == person_id)
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in connection.execute(query)]


@dataclass(frozen=True, slots=True)
class SocketChange:
    """One entry of the socket audit trail, and what it does to the live roster."""

    event_id: int
    person_id: int
    socket: str
    process: str
    kind: str  # connect | change | disconnect
    at: datetime
    room: str | None = None
    in_room: bool | None = None
    visible: bool | None = None
    detail: dict[str, Any] | None = None


def record_socket_changes(connection: Connection, changes: Sequence[SocketChange]) -> None:
    """Append the changes to the audit trail and apply them to the live roster."""
    if not changes:
        return
    connection.execute(
        EVENTS.insert(),
        [
            {
                "event_id": c.event_id,
                "person_id": c.person_id,
                "socket": c.socket,
                "process": c.process,
                "kind": c.kind,
                "at": c.at,
                "room": c.room,
                "in_room": c.in_room,
                "visible": c.visible,
                "detail": c.detail or {},
            }
            for c in changes
        ],
    )
    connects = [c for c in changes if c.kind == "connect"]
    if connects:
        connection.execute(
            LIVE.insert(),
            [
                {
                    "socket": c.socket,
                    "process": c.process,
                    "event_id": c.event_id,
                    "person_id": c.person_id,
                    "connected_at": c.at,
                    "room": None,
                    "in_room": False,
                    "visible": False,
                    "last_heartbeat_at": None,
                }
                for c in connects
            ],
        )
    moves = [c for c in changes if c.kind == "change"]
    if moves:
        # One prepared statement for every move: at the start of a session thousands of
        # first heartbeats arrive within a second.
        connection.execute(
            update(LIVE)
            .where(LIVE.c.socket == bindparam("b_socket"))
            .values(
                room=bindparam("b_room"),
                in_room=bindparam("b_in_room"),
                visible=bindparam("b_visible"),
                last_heartbeat_at=bindparam("b_at"),
            ),
            [
                {
                    "b_socket": c.socket,
                    "b_room": c.room,
                    "b_in_room": bool(c.in_room),
                    "b_visible": bool(c.visible),
                    "b_at": c.at,
                }
                for c in moves
            ],
        )
    gone = [c.socket for c in changes if c.kind == "disconnect"]
    if gone:
        connection.execute(delete(LIVE).where(LIVE.c.socket.in_(gone)))


def touch_process(
    connection: Connection, process: str, host: str, pid: int, started_at: datetime, now: datetime
) -> None:
    """Say this process is alive (real time); its live sockets count while it is."""
    updated = connection.execute(
        update(PROCESSES).where(PROCESSES.c.id == process).values(seen_at=now)
    )
    if updated.rowcount == 0:
        connection.execute(
            PROCESSES.insert().values(
                id=process, host=host, pid=pid, started_at=started_at, seen_at=now
            )
        )


def forget_processes(connection: Connection, seen_before: datetime) -> int:
    """Drop processes not seen since `seen_before`, and the sockets they held."""
    stale = select(PROCESSES.c.id).where(PROCESSES.c.seen_at < seen_before)
    ids = [row[0] for row in connection.execute(stale)]
    if not ids:
        return 0
    connection.execute(delete(LIVE).where(LIVE.c.process.in_(ids)))
    connection.execute(delete(PROCESSES).where(PROCESSES.c.id.in_(ids)))
    return len(ids)


def end_process(connection: Connection, process: str) -> None:
    connection.execute(delete(LIVE).where(LIVE.c.process == process))
    connection.execute(delete(PROCESSES).where(PROCESSES.c.id == process))


@dataclass(frozen=True, slots=True)
class LiveRow:
    person_id: int
    socket: str
    connected_at: datetime
    room: str | None
    in_room: bool
    visible: bool
    last_heartbeat_at: datetime | None


def live_sockets(connection: Connection, event_id: int, seen_since: datetime) -> list[LiveRow]:
    """Sockets open now on processes seen since `seen_since` (real time)."""
    query = (
        select(
            LIVE.c.person_id,
            LIVE.c.socket,
            LIVE.c.connected_at,
            LIVE.c.room,
            LIVE.c.in_room,
            LIVE.c.visible,
            LIVE.c.last_heartbeat_at,
        )
        .join(PROCESSES, PROCESSES.c.id == LIVE.c.process)
        .where(and_(LIVE.c.event_id == event_id, PROCESSES.c.seen_at >= seen_since))
    )
    return [LiveRow(*row) for row in connection.execute(query)]


def recent_disconnects(
    connection: Connection, event_id: int, since: datetime
) -> list[tuple[int, datetime, dict[str, Any]]]:
    """(person_id, at, detail) of sockets that closed since `since` (event time), newest first."""
    query = (
        select(EVENTS.c.person_id, EVENTS.c.at, EVENTS.c.detail)
        .where(
            and_(
                EVENTS.c.event_id == event_id,
                EVENTS.c.kind == "disconnect",
                EVENTS.c.at >= since,
            )
        )
        .order_by(EVENTS.c.at.desc())
    )
    return [(row[0], row[1], row[2] or {}) for row in connection.execute(query)]


def socket_history(
    connection: Connection, event_id: int, person_id: int, limit: int = 200
) -> list[tuple[str, datetime, str | None, bool | None, bool | None, dict[str, Any]]]:
    """(kind, at, room, in_room, visible, detail) of one person's sockets, newest first."""
    query = (
        select(
            EVENTS.c.kind,
            EVENTS.c.at,
            EVENTS.c.room,
            EVENTS.c.in_room,
            EVENTS.c.visible,
            EVENTS.c.detail,
        )
        .where(and_(EVENTS.c.event_id == event_id, EVENTS.c.person_id == person_id))
        .order_by(EVENTS.c.at.desc(), EVENTS.c.id.desc())
        .limit(limit)
    )
    return [(r[0], r[1], r[2], r[3], r[4], r[5] or {}) for r in connection.execute(query)]
