"""A read-modify-write of an event waits for another one in progress, on both backends."""

import threading

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from studymission.config import Settings
from studymission.db.events import get_event, lock_event
from studymission.db.tables import Person
from studymission.services.clock import Clock
from studymission.services.people import import_people_csv
from tests.integration.helpers import load_event

pytestmark = pytest.mark.integration


def test_import_waits_for_the_holder_of_the_event_and_loses_nothing(
    engine: Engine, settings: Settings, clock: Clock
) -> None:
    load_event(engine, settings, clock)
    started, finished = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def import_one() -> None:
        try:
            with Session(engine, expire_on_commit=False) as db:
                event = get_event(db, "TEST-EVENT-1")
                assert event is not None
                started.set()
                csv_text = "key,name,email,country\np050,Dewi Lestari,dewi@example.org,ID\n"
                import_people_csv(
                    db, event, csv_text, secret=settings.signing_key(), now=clock.now(), actor="t"
                )
        except BaseException as error:  # reported to the test thread below
            failures.append(error)
        finally:
            finished.set()

    with Session(engine, expire_on_commit=False) as holder:
        event = get_event(holder, "TEST-EVENT-1")
        assert event is not None
        lock_event(holder, event)
        worker = threading.Thread(target=import_one)
        worker.start()
        assert started.wait(10)
        # While the event is held the import cannot commit, however long we wait.
        assert finished.wait(0.5) is False
        holder.add(
            Person(
                event_id=event.id or 0,
                key="p051",
                name="Held",
                email="h@example.org",
                country="ID",
                role="participant",
                origin="overseas",
            )
        )
        holder.commit()
    worker.join(30)
    assert failures == []
    with Session(engine) as db:
        active = {p.key for p in db.exec(select(Person)).all() if p.withdrawn_at is None}
    # The import read the event after the holder's commit: it kept p051 instead of
    # withdrawing a person its stale copy of the spec would not have listed.
    assert {"p050", "p051"} <= active
