"""The walls around a secretariat's certificate template.

A template is text the secretariat uploads, so it runs with nothing but its own context:
Jinja2's immutable sandbox with no loader (``include``/``import``/``extends`` have nothing
to reach) and no globals (``cycler``, ``lipsum`` … carry ``__globals__``), and WeasyPrint
with a URL fetcher that serves ``data:`` URIs only, so neither the HTML nor the CSS can read
a file or call out. Whatever is refused, and whatever fails, becomes a plain-words problem.
"""

from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from weasyprint.urls import URLFetcher, URLFetcherResponse  # type: ignore[import-untyped]


class TemplateError(Exception):
    """A certificate template that does not compile, fails to render or breaks the sandbox."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class DataOnlyFetcher(URLFetcher):  # type: ignore[misc]
    """Serves ``data:`` URIs; refuses, and remembers, every other URL without touching it."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("data",), allow_redirects=False)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse:
        if not url.lower().startswith("data:"):
            # Refused before any handler runs: a file:, http: or relative URL is never opened.
            self.refused.append(url)
            raise ValueError(f"{url} is not allowed on a certificate")
        return super().fetch(url, headers)

    def problems(self) -> list[str]:
        return [
            f"the design refers to {_shorten(url)}; only images uploaded on this page "
            "(or data: URIs) may be used, nothing is read from files or the web"
            for url in dict.fromkeys(self.refused)
        ]


def _hours(value: float) -> str:
    """Hours as a person reads them: 6, 5.5, 2.75."""
    return f"{round(value, 2):g}"


def make_environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        autoescape=True,
        loader=None,
        # A misspelt or forbidden name is a problem to show, not an empty string.
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.clear()
    env.filters["hours"] = _hours
    return env


_ENV = make_environment()


def compile_template(source: str) -> jinja2.Template:
    """The template compiled in the sandbox, or TemplateError saying where it is wrong."""
    try:
        return _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError([f"line {error.lineno}: {error.message}"]) from error


def render_template(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    """The HTML, or TemplateError: a sandbox refusal, an unknown name, anything raised."""
    try:
        return template.render(context)
    except SecurityError as error:
        raise TemplateError([f"the template reaches outside what it is given: {error}"]) from error
    except jinja2.UndefinedError as error:
        raise TemplateError([f"the template uses something it is not given: {error}"]) from error
    except TypeError as error:
        if "no loader" in str(error):
            reason = "the template includes, imports or extends another one; it must be whole"
            raise TemplateError([reason]) from error
        raise TemplateError([f"the template failed: {error}"]) from error
    except Exception as error:  # A template can raise anything; none of it may escape.
        raise TemplateError([f"the template failed: {type(error).__name__}: {error}"]) from error


def _shorten(url: str, limit: int = 80) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"
