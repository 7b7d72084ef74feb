"""The session Q&A: ask, upvote, moderate, and the queue as each role may see it.

Rules (docs/questions.md):

- A question is 1–500 characters once stripped. Anyone of the event may ask; a person who is
  not staff (moderator, secretariat) may have at most 3 unanswered questions per session,
  hidden ones included, so a moderator hiding a flood also stops it; the same text twice in a
  session is refused. Every problem is listed at once (InvalidInputError).
- Upvotes are once each: voting again changes nothing and is no error. Nobody votes for their
  own question, nor for a hidden one; withdrawing a vote is allowed (also a no-op when none).
- Moderators and the secretariat hide/unhide, pin/unpin and mark answered/reopen; resource
  persons (who answer the questions) may mark answered/reopen only. Every change is audited.
- Order: pinned open questions, then open ones by votes (most first) and age (oldest first),
  then answered ones, then (staff only) hidden ones.
- Hidden questions are shown to staff, marked, and to their author, marked, so that the author
  does not ask again; never to anyone else. Authors are shown by name and country, never email.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlmodel import Session

from studymission.db import events as event_store
from studymission.db import questions as store
from studymission.db.tables import AuditEntry, Event, Person, Question
from studymission.domain.errors import InvalidInputError, NotFoundError
from studymission.domain.run_of_show import current_session
from studymission.domain.values import STAFF_ROLES, Problem, Role, SessionSpec
from studymission.services.access import Identity, require_role

#: Longest question, in characters, after stripping.
MAX_LENGTH = 500
#: Unanswered questions (hidden ones included) a non-staff person may have in one session.
MAX_OPEN = 3
#: Who may mark a question answered or reopen it.
ANSWERERS = STAFF_ROLES | {Role.RESOURCE_PERSON}

Action = Literal["hide", "unhide", "pin", "unpin", "answer", "reopen"]
ACTIONS: tuple[Action, ...] = ("hide", "unhide", "pin", "unpin", "answer", "reopen")


@dataclass(frozen=True)
class QuestionItem:
    """One question as one viewer sees it (`voted`, `mine` are about that viewer)."""

    id: int
    session: str
    text: str
    author_key: str
    author_name: str
    author_country: str
    created_at: datetime
    votes: int
    pinned: bool
    answered_at: datetime | None
    hidden_at: datetime | None
    hidden_by: str | None
    voted: bool = False
    mine: bool = False

    @property
    def hidden(self) -> bool:
        return self.hidden_at is not None

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def status(self) -> str:
        """hidden, answered, pinned or open: the group the queue puts it in."""
        if self.hidden:
            return "hidden"
        if self.answered:
            return "answered"
        return "pinned" if self.pinned else "open"


@dataclass(frozen=True)
class Queue:
    """A session's questions in queue order, as `role` may see them."""

    event: str
    session: SessionSpec
    items: tuple[QuestionItem, ...]
    role: Role

    @property
    def can_moderate(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def can_answer(self) -> bool:
        return self.role in ANSWERERS

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)


@dataclass(frozen=True)
class Change:
    """What an action did: the question afterwards, and whether anything changed."""

    item: QuestionItem
    changed: bool


# -- pure rules --------------------------------------------------------------------------------


def check_text(text: str) -> tuple[str, list[Problem]]:
    """The stripped text and what is wrong with it (empty, or over MAX_LENGTH characters)."""
    stripped = text.strip()
    if not stripped:
        return stripped, [Problem("text", text, "write a question: it is empty")]
    if len(stripped) > MAX_LENGTH:
        reason = f"at most {MAX_LENGTH} characters; this has {len(stripped)}"
        return stripped, [Problem("text", f"{len(stripped)} characters", reason)]
    return stripped, []


def same_text(a: str, b: str) -> bool:
    """True when two questions differ only in case and spacing."""
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def queue_key(item: QuestionItem) -> tuple[int, int, datetime, int]:
    """Sort key: pinned, open, answered, hidden; by votes (most first), then oldest first."""
    group = {"pinned": 0, "open": 1, "answered": 2, "hidden": 3}[item.status]
    return (group, -item.votes, item.created_at, item.id)


def order_queue(items: Iterable[QuestionItem]) -> tuple[QuestionItem, ...]:
    return tuple(sorted(items, key=queue_key))


def is_visible(item: QuestionItem, *, role: Role, person_key: str) -> bool:
    """Hidden questions are for staff and their author only."""
    return not item.hidden or role in STAFF_ROLES or item.author_key == person_key


# -- reading -----------------------------------------------------------------------------------


def find_session(
    db: Session, event: Event, key: str | None, *, now: datetime
) -> tuple[int, SessionSpec] | None:
    """The session `key`, or (no key) the one running at `now` or the next; None if unknown."""
    programme = event_store.read_programme(db, event)
    if key:
        return next(((sid, s) for sid, s in programme if s.key == key), None)
    running = current_session([s for _sid, s in programme], now)
    return next(((sid, s) for sid, s in programme if running and s.key == running.key), None)


def read_queue(db: Session, identity: Identity, *, session_key: str | None, now: datetime) -> Queue:
    """The session's queue as the identity may see it, in queue order."""
    found = find_session(db, identity.event, session_key, now=now)
    if found is None:
        detail = f"no session {session_key!r} in this event" if session_key else "no sessions"
        raise NotFoundError(detail)
    session_id, session = found
    items = _items(db, identity.event, {session_id: session.key}, viewer=identity.person)
    visible = [
        item
        for item in items
        if is_visible(item, role=identity.role, person_key=identity.person.key)
    ]
    return Queue(identity.event.code, session, order_queue(visible), identity.role)


def export_items(db: Session, event: Event, *, session_key: str | None) -> list[QuestionItem]:
    """Every question (hidden ones too) of one session, or of every session, for the reports."""
    programme = event_store.read_programme(db, event)
    keys = {sid: s.key for sid, s in programme if session_key in (None, s.key)}
    if session_key is not None and not keys:
        raise NotFoundError(f"no session {session_key!r} in this event")
    order = {sid: index for index, sid in enumerate(keys)}
    sessions = {key: order[sid] for sid, key in keys.items()}
    items = _items(db, event, keys, viewer=None)
    return sorted(items, key=lambda item: (sessions[item.session], *queue_key(item)))


def _items(
    db: Session, event: Event, sessions: dict[int, str], *, viewer: Person | None
) -> list[QuestionItem]:
    rows = store.list_questions(db, event.id or 0, list(sessions))
    ids = [question.id or 0 for question, _person in rows]
    votes = store.vote_counts(db, ids)
    mine = store.voted_by(db, viewer.id or 0, ids) if viewer else set()
    return [
        _item(
            question,
            author,
            sessions[question.session_id],
            votes.get(question.id or 0, 0),
            voted=(question.id or 0) in mine,
            mine=viewer is not None and author.id == viewer.id,
        )
        for question, author in rows
    ]


def _item(
    question: Question, author: Person, session: str, votes: int, *, voted: bool, mine: bool
) -> QuestionItem:
    return QuestionItem(
        id=question.id or 0,
        session=session,
        text=question.text,
        author_key=author.key,
        author_name=author.name,
        author_country=author.country,
        created_at=question.created_at,
        votes=votes,
        pinned=question.pinned,
        answered_at=question.answered_at,
        hidden_at=question.hidden_at,
        hidden_by=question.hidden_by,
        voted=voted,
        mine=mine,
    )


# -- writing -----------------------------------------------------------------------------------


def post_question(
    db: Session, identity: Identity, *, text: str, session_key: str | None, now: datetime
) -> QuestionItem:
    """Store a new question of the identity; every problem is listed, nothing is written."""
    event, person = identity.event, identity.person
    stripped, problems = check_text(text)
    found = find_session(db, event, session_key, now=now)
    if found is None:
        reason = "no such session in this event" if session_key else "the event has no sessions"
        problems.append(Problem("session", session_key, reason))
    else:
        # Serialise the posts of the event, so that two at once cannot pass the limit together.
        event_store.lock_event(db, event)
        own = store.own_questions(db, found[0], person.id or 0)
        unanswered = [q for q in own if q.answered_at is None]
        if identity.role not in STAFF_ROLES and len(unanswered) >= MAX_OPEN:
            reason = (
                f"you have {len(unanswered)} unanswered questions in this session; "
                f"at most {MAX_OPEN} until one is answered"
            )
            problems.append(Problem("text", f"{len(unanswered)} unanswered", reason))
        if stripped and any(same_text(q.text, stripped) for q in own):
            problems.append(Problem("text", stripped, "you have already asked this"))
    if problems or found is None:
        db.rollback()
        raise InvalidInputError("the question was not posted", problems)
    session_id, session = found
    question = Question(
        event_id=event.id or 0,
        session_id=session_id,
        person_id=person.id or 0,
        text=stripped,
        created_at=now,
    )
    db.add(question)
    db.commit()
    return _item(question, person, session.key, 0, voted=False, mine=True)


def vote(db: Session, identity: Identity, question_id: int, *, now: datetime) -> Change:
    """Upvote once; voting again changes nothing. Not for one's own or a hidden question."""
    question, item = _load(db, identity, question_id)
    problems = []
    if item.mine:
        problems.append(Problem("question", question_id, "you cannot vote for your own question"))
    if item.hidden:
        problems.append(Problem("question", question_id, "a hidden question takes no votes"))
    if problems:
        raise InvalidInputError("the vote was not counted", problems)
    changed = store.add_vote(db, question_id, identity.person.id or 0, now=now)
    db.commit()
    return Change(_reload(db, identity, question), changed)


def unvote(db: Session, identity: Identity, question_id: int) -> Change:
    """Withdraw one's upvote; nothing happens when there was none."""
    question, _item_before = _load(db, identity, question_id)
    changed = store.remove_vote(db, question_id, identity.person.id or 0)
    db.commit()
    return Change(_reload(db, identity, question), changed)


def moderate(
    db: Session, identity: Identity, question_id: int, action: str, *, now: datetime
) -> Change:
    """Apply a moderation action; repeating one changes nothing. Audited when it changes."""
    if action not in ACTIONS:
        choices = ", ".join(ACTIONS)
        raise InvalidInputError(
            "unknown action", [Problem("action", action, f"expected one of {choices}")]
        )
    roles = ANSWERERS if action in ("answer", "reopen") else STAFF_ROLES
    require_role(identity, roles, action=f"marking a question ({action})")
    question, item = _load(db, identity, question_id)
    changed = _apply(question, action, actor=identity.person.name, now=now)
    if changed:
        db.add(question)
        db.add(
            AuditEntry(
                event_id=identity.event.id or 0,
                at=now,
                actor=identity.person.name,
                action=f"question.{action}",
                detail={
                    "question": question_id,
                    "session": item.session,
                    "author": item.author_key,
                    "text": item.text[:80],
                },
            )
        )
    db.commit()
    return Change(_reload(db, identity, question), changed)


def _apply(question: Question, action: str, *, actor: str, now: datetime) -> bool:
    before = (question.pinned, question.hidden_at, question.answered_at)
    if action == "hide" and question.hidden_at is None:
        question.hidden_at, question.hidden_by = now, actor
    elif action == "unhide":
        question.hidden_at, question.hidden_by = None, None
    elif action in ("pin", "unpin"):
        question.pinned = action == "pin"
    elif action == "answer" and question.answered_at is None:
        question.answered_at = now
    elif action == "reopen":
        question.answered_at = None
    return before != (question.pinned, question.hidden_at, question.answered_at)


def _load(db: Session, identity: Identity, question_id: int) -> tuple[Question, QuestionItem]:
    """The question and its view; a question the identity may not see does not exist."""
    question = store.get_question(db, identity.event.id or 0, question_id)
    item = _view(db, identity, question) if question else None
    if question is None or item is None:
        raise NotFoundError(f"no question {question_id} in this event")
    return question, item


def _reload(db: Session, identity: Identity, question: Question) -> QuestionItem:
    item = _view(db, identity, question)
    assert item is not None
    return item


def _view(db: Session, identity: Identity, question: Question) -> QuestionItem | None:
    author = db.get(Person, question.person_id)
    session = next(
        (s for s in event_store.list_sessions(db, identity.event) if s.id == question.session_id),
        None,
    )
    if author is None or session is None:
        return None
    qid = question.id or 0
    item = _item(
        question,
        author,
        session.key,
        store.vote_counts(db, [qid]).get(qid, 0),
        voted=qid in store.voted_by(db, identity.person.id or 0, [qid]),
        mine=author.id == identity.person.id,
    )
    return item if is_visible(item, role=identity.role, person_key=identity.person.key) else None
