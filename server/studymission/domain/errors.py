"""Errors the use cases raise, each with a stable ``code`` that APIs and sockets repeat.

    DomainError(code, detail)
     ├── UnauthenticatedError code "unauthenticated"  no valid join link, cookie or bearer token
     ├── NotFoundError        code "not_found"        an event, person or link that does not exist
     ├── ForbiddenError       code "forbidden"        the person's role may not do this
     │    └── CsrfError       code "csrf"             a cookie write without its CSRF token
     ├── InvalidInputError    code "invalid"          every Problem found; nothing was written
     └── TooLargeError        code "too_large"        an upload over the size limit

The web layer maps each class to one status (web/errors.py); nothing else decides that.
"""

from collections.abc import Sequence

from studymission.domain.values import Problem


class DomainError(Exception):
    code = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnauthenticatedError(DomainError):
    code = "unauthenticated"


class NotFoundError(DomainError):
    code = "not_found"


class ForbiddenError(DomainError):
    code = "forbidden"


class CsrfError(ForbiddenError):
    code = "csrf"


class InvalidInputError(DomainError):
    code = "invalid"

    def __init__(self, detail: str, problems: Sequence[Problem]) -> None:
        super().__init__(detail)
        self.problems = tuple(problems)


class TooLargeError(DomainError):
    code = "too_large"
