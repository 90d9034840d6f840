"""Graph's error envelope and the errors the simulator answers with.

Every error body is `{"error": {"code", "message", "innerError": {"request-id", "date",
"client-request-id"}}}` (errors.md; OpenAPI `ODataError`). Clients branch on `code`, so the codes
are the ones Graph (or Exchange behind it) is documented or observed to send; see
`sim/graph/README.md` for which are which.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any


class GraphError(Exception):
    """An HTTP error answer: status, Graph error code, message and extra response headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        inner: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.inner = inner or {}


def envelope(error: GraphError, now: datetime, client_request_id: str | None) -> dict[str, Any]:
    inner: dict[str, str] = {
        "date": now.strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": str(uuid.uuid4()),
        "client-request-id": client_request_id or str(uuid.uuid4()),
        **error.inner,
    }
    return {"error": {"code": error.code, "message": error.message, "innerError": inner}}


def not_found(what: str = "The specified object was not found in the store.") -> GraphError:
    return GraphError(404, "ErrorItemNotFound", what)


def bad_request(message: str, code: str = "ErrorInvalidRequest") -> GraphError:
    return GraphError(400, code, message)


def invalid_property(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidProperty", message)


def access_denied(
    message: str = "Access is denied. Check credentials and try again.",
) -> GraphError:
    return GraphError(403, "ErrorAccessDenied", message)
