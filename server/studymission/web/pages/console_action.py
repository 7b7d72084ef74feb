"""What every button of the moderator console does around its change: run it in a worker
thread, announce it on the bus when it went through, and answer with the panel again —
its problems listed and status 422 when it did not — or, without htmx, go back to the
console. The run of show, the breakout rooms and the site visit share it."""

from collections.abc import Callable

from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from studymission.domain.errors import InvalidInputError
from studymission.domain.values import Problem
from studymission.web.api.run_of_show import announce
from studymission.web.pages.desk import Desk
from studymission.web.templating import is_htmx

#: Renders a panel of the console with these problems and this status.
Panel = Callable[[tuple[Problem, ...], int], Response]


async def apply_change(desk: Desk, code: str, change: Callable[[], object]) -> tuple[Problem, ...]:
    """Run `change`; tell every process when it went through, else return its problems."""
    try:
        await run_in_threadpool(change)
    except InvalidInputError as error:
        return tuple(error.problems)
    await announce(desk.request, code)
    return ()


async def answer(desk: Desk, code: str, problems: tuple[Problem, ...], panel: Panel) -> Response:
    if not is_htmx(desk.request) and not problems:
        return RedirectResponse(f"/events/{code}/console", status_code=303)
    return await run_in_threadpool(panel, problems, 422 if problems else 200)
