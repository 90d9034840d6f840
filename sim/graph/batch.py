"""JSON batching: `POST /v1.0/$batch` with up to 20 requests (json-batching.md).

Each request has `id`, `method`, `url` (relative: `/users/...`), optional `headers`, `body` and
`dependsOn`. The batch itself is authenticated; each request is then answered by the same
handler as a direct one (its own permission, policy, fault and throttling checks), with the
batch's Authorization. Requests run one after another in the order given, a request after the
ones it depends on; one whose dependency failed (status 400 or above) is not run and gets 424
Failed Dependency — a throttled request is 429 inside a 200 batch answer, and SDKs do not retry
it by themselves (reference §3.7). More than 20 requests, duplicate ids, unknown or circular
dependencies are 400 for the whole batch. The batch envelope has no schema in the reference; the
bodies inside are checked as the direct requests' are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sim.graph.context import Answer, GraphRequest
from sim.graph.errors import GraphError, bad_request

if TYPE_CHECKING:
    from sim.graph.handler import GraphHandler

_METHODS = frozenset({"GET", "POST", "PATCH", "DELETE", "PUT"})


def _order(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {entry["id"]: entry for entry in requests}
    done: list[dict[str, Any]] = []
    seen: set[str] = set()
    visiting: set[str] = set()

    def visit(entry: dict[str, Any]) -> None:
        if entry["id"] in seen:
            return
        if entry["id"] in visiting:
            raise bad_request("The batch has circular dependencies.", "BadRequest")
        visiting.add(entry["id"])
        for dependency in entry.get("dependsOn") or []:
            if dependency not in by_id:
                raise bad_request(f"Unknown dependency '{dependency}'.", "BadRequest")
            visit(by_id[dependency])
        visiting.discard(entry["id"])
        seen.add(entry["id"])
        done.append(entry)

    for entry in requests:
        visit(entry)
    return done


def _checked(body: Any, limit: int) -> list[dict[str, Any]]:
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        raise bad_request("A batch needs a list of requests.", "BadRequest")
    if len(requests) > limit:
        raise bad_request(f"The number of batch requests exceeds {limit}.", "BadRequest")
    ids: set[str] = set()
    for entry in requests:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise bad_request("Every batch request needs an id.", "BadRequest")
        if entry["id"] in ids:
            raise bad_request(f"Duplicate batch request id '{entry['id']}'.", "BadRequest")
        ids.add(entry["id"])
        if str(entry.get("method", "")).upper() not in _METHODS or not isinstance(
            entry.get("url"), str
        ):
            raise bad_request("Every batch request needs a method and a url.", "BadRequest")
        headers = entry.get("headers")
        if headers is not None and not (
            isinstance(headers, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
        ):
            raise bad_request("headers is an object of strings.", "BadRequest")
        depends = entry.get("dependsOn")
        if depends is not None and not (
            isinstance(depends, list) and all(isinstance(d, str) for d in depends)
        ):
            raise bad_request("dependsOn is a list of request ids.", "BadRequest")
    return requests


def _inner(outer: GraphRequest, entry: dict[str, Any]) -> GraphRequest:
    url = urlsplit(entry["url"])
    path = unquote(url.path if url.path.startswith("/") else "/" + url.path)
    if path.lower().startswith("/v1.0/"):
        path = path[len("/v1.0") :]
    raw_headers = entry.get("headers") or {}
    headers = {str(k).lower(): str(v) for k, v in raw_headers.items()}
    headers["authorization"] = outer.headers.get("authorization", "")
    return GraphRequest(
        method=str(entry["method"]).upper(),
        path=path,
        query=dict(parse_qsl(url.query, keep_blank_values=True)),
        headers=headers,
        body=entry.get("body"),
        base_url=outer.base_url,
    )


def run_batch(handler: GraphHandler, request: GraphRequest) -> Answer:
    if request.method != "POST":
        raise GraphError(405, "Request_BadRequest", "A batch is sent with POST.")
    requests = _order(_checked(request.body, handler.settings.max_batch))
    statuses: dict[str, int] = {}
    responses: list[dict[str, Any]] = []
    for entry in requests:
        failed = [d for d in entry.get("dependsOn") or [] if statuses.get(d, 0) >= 400]
        if failed:
            answer = handler.error_answer(
                GraphError(424, "FailedDependency", f"Depends on failed request(s) {failed}."),
                request,
            )
        else:
            answer = handler.handle(_inner(request, entry), in_batch=True)
        statuses[entry["id"]] = answer.status
        response: dict[str, Any] = {
            "id": entry["id"],
            "status": answer.status,
            "headers": {"Content-Type": "application/json", **answer.headers},
        }
        if answer.body is not None:
            response["body"] = answer.body
        responses.append(response)
    return Answer(200, {"responses": responses})
