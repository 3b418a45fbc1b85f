"""One redactor for the whole process: secret values are registered once and masked everywhere.

A value is masked in the forms it takes on its way out too: base64 (an HTTP Basic auth header, standard and
URL-safe, with and without padding, and wherever it sits inside a longer base64 text), URL-encoded, and
JSON-, HTML-, XML- and repr-escaped. `mask_streams` and `mask_log_records` put the redactor in front of the
terminal and of logging; the pytest plugin and bootstrap install them.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import logging
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO, cast
from xml.sax.saxutils import escape as xml_escape

MASK = "********"
MIN_LENGTH = 8  # shorter values (a port, "true", a name) would mask ordinary words; secrets.py refuses them
# The characters each URL encoder leaves alone: urllib's quote (path), quote(safe=""), and RFC 3986's
# sub-delimiters as HTTP clients leave them in queries.
_URL_SAFE = ("/", "", "!$&'()*+,;=:@/?")


def _base64_forms(raw: bytes) -> set[str]:
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode()
        forms |= {whole, whole.rstrip("=")}
        # Inside a longer text (`user:secret` in a Basic auth header) the value starts at one of three byte
        # offsets; the characters that encode its bits alone are the same wherever it sits, so they are masked.
        for shift in (0, 1, 2):
            text = encode(bytes(shift) + raw).decode()
            first, end = -(-8 * shift // 6), 8 * (shift + len(raw)) // 6
            forms.add(text[first:end])
    return forms


_ESCAPES: tuple[Callable[[str], str], ...] = (
    lambda text: json.dumps(text)[1:-1], lambda text: json.dumps(text, ensure_ascii=False)[1:-1],
    lambda text: repr(text)[1:-1], html.escape, lambda text: html.escape(text, quote=False),
    lambda text: xml_escape(text, {'"': "&quot;"}))


def derived_forms(value: str) -> set[str]:
    """`value` and every form of it that output can carry (see the module's docstring)."""
    # Escaped once or twice: a JSON body shown in a Python repr (an assertion about a response), in an HTML page.
    escaped = {value} | {escape(value) for escape in _ESCAPES}
    forms = escaped | {escape(text) for text in escaped for escape in _ESCAPES}
    forms |= {urllib.parse.quote(value, safe=safe) for safe in _URL_SAFE} | {urllib.parse.quote_plus(value)}
    forms |= _base64_forms(value.encode())
    return {form for form in forms if len(form) >= MIN_LENGTH}


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if len(value) >= MIN_LENGTH:
            with self._lock:
                self._values |= derived_forms(value)
                # Longest first, so a secret that contains another is masked whole.
                self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for value in self._ordered:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self._ordered)


REDACTOR = Redactor()


def basic_auth(user: str, password: str) -> tuple[str, str]:
    """`(user, password)` for an HTTP Basic auth header, whose base64 of `user:password` is registered first."""
    REDACTOR.add(password)
    REDACTOR.add(f"{user}:{password}")
    return user, password


# -- logging -----------------------------------------------------------------------------------------------------
def redact_record(record: logging.LogRecord) -> None:
    """Mask the record's message (formatted now), its traceback and its stack."""
    if not REDACTOR:
        return
    try:
        message = record.getMessage()
    except Exception:  # a bad format: left for logging to report as it always does
        return
    record.msg, record.args = REDACTOR(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = REDACTOR(record.exc_text)
    if record.stack_info:
        record.stack_info = REDACTOR(record.stack_info)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def mask_log_records() -> Callable[[], None]:
    """Mask every log record as it is made, whichever logger and handler it goes to (a filter on the root
    logger would see only records logged on the root itself); returns the function that undoes it."""
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    logging.setLogRecordFactory(factory)

    def restore() -> None:
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(previous)

    return restore


# -- terminal ----------------------------------------------------------------------------------------------------
class RedactingStream:
    """A text stream that masks secrets in what it writes; everything else is the wrapped stream's."""

    def __init__(self, stream: TextIO) -> None:
        self.wrapped = stream

    def write(self, text: str) -> int:
        self.wrapped.write(REDACTOR(text) if REDACTOR else text)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def mask_streams() -> Callable[[], None]:
    """Wrap sys.stdout and sys.stderr in redacting streams (once); returns the function that unwraps them."""
    installed: dict[str, tuple[RedactingStream, TextIO]] = {}
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            wrapper = RedactingStream(stream)
            setattr(sys, name, cast(TextIO, wrapper))
            installed[name] = (wrapper, stream)

    def restore() -> None:
        for name, (wrapper, stream) in installed.items():
            if getattr(sys, name) is wrapper:
                setattr(sys, name, stream)

    return restore


@contextlib.contextmanager
def masked_output() -> Iterator[None]:
    """sys.stdout and sys.stderr masked while the block (or the decorated function) runs."""
    restore = mask_streams()
    try:
        yield
    finally:
        restore()
