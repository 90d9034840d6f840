"""The Graph simulator's HTTP endpoint under `/v1.0/...`, mounted by `sim.asgi.HttpFront`.

The body (JSON; capped and timed like EWS bodies: `max_body_bytes` is the only upload limit,
assumption G2) is read after the route is known; malformed
JSON is 400 BadRequest. The synchronous `GraphHandler` answers in a worker thread. Answers are
JSON (`application/json`), 204 without a body; `Retry-After`, `Location`, `WWW-Authenticate`
and `Preference-Applied` are sent as the handler sets them, with `request-id` and
`client-request-id` on every answer as Graph does.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from sim.graph.context import GraphRequest
from sim.graph.errors import GraphError
from sim.graph.handler import GraphHandler

log = logging.getLogger("sim.graph")

BodyReader = Callable[[Request], Awaitable[bytes]]
Runner = Callable[..., Awaitable[Any]]


async def graph_endpoint(
    request: Request,
    handler: GraphHandler,
    read: BodyReader,
    run: Runner,
    base_url: str,
) -> Response:
    started = time.monotonic()
    headers = {name.lower(): value for name, value in request.headers.items()}
    path = "/" + request.path_params.get("path", "")
    graph_request = GraphRequest(
        method=request.method,
        path=path,
        query=dict(request.query_params),
        headers=headers,
        body=None,
        base_url=base_url,
    )
    body: Any = None
    try:  # a refused caller's body is never read (as for EWS)
        handler.authenticate(headers.get("authorization"))
    except GraphError as refused:
        answer = handler.error_answer(refused, graph_request)
        return _response(answer.status, answer.body, answer.headers, headers)
    if request.method in ("POST", "PATCH", "PUT"):
        try:
            raw = await read(request)
        except ClientDisconnect:
            return Response(b"", 400)
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                answer = handler.error_answer(
                    GraphError(400, "BadRequest", "Unable to read JSON request payload."),
                    graph_request,
                )
                return _response(answer.status, answer.body, answer.headers, headers)
    graph_request = GraphRequest(
        graph_request.method, path, graph_request.query, headers, body, base_url
    )
    answer = await run(handler.handle, graph_request)
    log.info(
        "Graph %s %s %d in %.0f ms",
        request.method,
        path,
        answer.status,
        (time.monotonic() - started) * 1000,
    )
    return _response(answer.status, answer.body, answer.headers, headers)


def _response(
    status: int, body: Any, extra: dict[str, str], request_headers: dict[str, str]
) -> Response:
    headers = {
        **extra,
        "request-id": str(uuid.uuid4()),
        "client-request-id": request_headers.get("client-request-id", str(uuid.uuid4())),
    }
    if body is None:
        return Response(b"", status, headers=headers)
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return Response(content, status, headers=headers, media_type="application/json")
