"""What the clients of homelab.clients share: each is used as `with Client(...) as client:` and closed when the
block ends (`Closing`); the HTTP ones hold one httpx.Client on the service's base URL, every call bounded by
its timeout (`HttpClient`); and a failed call whose answer had an HTTP status keeps it (`StatusError`).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx


class StatusError(Exception):
    """A call failed; `status` is the HTTP status the service answered, None where it answered none."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Closing:
    """A client closed when the `with` block around it ends."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError


class HttpClient(Closing):
    """One service's HTTP API at `base_url` (a trailing / dropped), every call bounded by `timeout`; `options`
    go to httpx.Client (auth, verify)."""

    def __init__(self, base_url: str, timeout: float, transport: httpx.BaseTransport | None = None,
                 **options: Any) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport, **options)

    def close(self) -> None:
        self._http.close()
