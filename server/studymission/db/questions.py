"""Reading and writing the Q&A: questions of a session, their authors and their votes."""

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from studymission.db.tables import Person, Question, QuestionVote


def list_questions(
    db: Session, event_id: int, session_ids: Collection[int]
) -> Sequence[tuple[Question, Person]]:
    """The questions of the given sessions with their authors, oldest first."""
    query = (
        select(Question, Person)
        .join(Person, col(Person.id) == col(Question.person_id))
        .where(Question.event_id == event_id, col(Question.session_id).in_(session_ids))
        .order_by(col(Question.created_at), col(Question.id))
    )
    return db.exec(query).all()


def vote_counts(db: Session, question_ids: Collection[int]) -> dict[int, int]:
    """Upvotes per question id; a question without any is absent."""
    if not question_ids:
        return {}
    query = (
        select(QuestionVote.question_id, func.count())
        .where(col(QuestionVote.question_id).in_(question_ids))
        .group_by(col(QuestionVote.question_id))
    )
    return {int(question_id): int(count) for question_id, count in db.exec(query).all()}


def voted_by(db: Session, person_id: int, question_ids: Collection[int]) -> set[int]:
    """The ids among `question_ids` that `person_id` has upvoted."""
    if not question_ids:
        return set()
    query = select(QuestionVote.question_id).where(
        QuestionVote.person_id == person_id, col(QuestionVote.question_id).in_(question_ids)
    )
    return set(db.exec(query).all())


#: Row ids are INTEGER columns: a number outside their range names no row, and handing it to
#: the driver fails (SQLite: OverflowError; PostgreSQL: integer out of range) instead.
MAX_ROW_ID = 2**31 - 1


def get_question(db: Session, event_id: int, question_id: int) -> Question | None:
    if not 1 <= question_id <= MAX_ROW_ID:
        return None
    question = db.get(Question, question_id)
    return question if question is not None and question.event_id == event_id else None


def own_questions(db: Session, session_id: int, person_id: int) -> Sequence[Question]:
    """The person's questions in the session, hidden and answered ones included."""
    query = select(Question).where(
        Question.session_id == session_id, Question.person_id == person_id
    )
    return db.exec(query).all()


def add_vote(db: Session, question_id: int, person_id: int, *, now: datetime) -> bool:
    """Record the upvote; False when it was already there (also when a twin request won)."""
    if db.get(QuestionVote, (question_id, person_id)) is not None:
        return False
    try:
        # A savepoint: a concurrent identical vote fails only this insert, not the request.
        with db.begin_nested():
            db.add(QuestionVote(question_id=question_id, person_id=person_id, created_at=now))
    except IntegrityError:
        return False
    return True


def remove_vote(db: Session, question_id: int, person_id: int) -> bool:
    """Withdraw the upvote; False when there was none."""
    statement = delete(QuestionVote).where(
        col(QuestionVote.question_id) == question_id, col(QuestionVote.person_id) == person_id
    )
    result = db.exec(statement)
    return bool(result.rowcount)
