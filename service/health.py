"""What the running engine tells its operators: `/healthz` and Prometheus `/metrics`.

prometheus_client keeps the figures (its own registry per process, so tests can run several);
Starlette routes the two paths and uvicorn serves them from a background thread on a local port.
`/healthz` answers 200 while the engine loop has completed a round recently, 503 otherwise —
what a service manager or a load balancer's probe needs.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn
from prometheus_client import CollectorRegistry, Counter, Gauge, make_asgi_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route


@dataclass
class Metrics:
    """The engine's figures, by the names an operator's dashboard uses."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        self.queue_depth = Gauge(
            "einklang_queue_depth", "items waiting for a write or a retry", registry=r
        )
        self.transfers = Counter(
            "einklang_transfers", "transfers made, by direction and reason", ["direction", "reason"],
            registry=r,
        )  # fmt: skip
        self.failures = Counter(
            "einklang_failures", "failed or parked items, by reason", ["reason"], registry=r
        )
        self.subscriptions_alive = Gauge(
            "einklang_subscriptions_alive",
            "mailboxes whose change subscription is alive",
            registry=r,
        )
        self.users_eligible = Gauge(
            "einklang_users_eligible", "ERP users synchronised now (R8)", registry=r
        )
        self.rounds = Counter("einklang_rounds", "engine rounds completed", registry=r)
        self.last_round = Gauge(
            "einklang_last_round_timestamp_seconds", "when the last round completed", registry=r
        )

    def round_done(self, at: float | None = None) -> None:
        self.rounds.inc()
        self.last_round.set(time.time() if at is None else at)


class HealthServer:
    """`/healthz` and `/metrics` on `host:port` (port 0: a free one), served from a thread."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stale_after_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self.stale_after_s = stale_after_s
        self.clock = clock
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/healthz", self._healthz),
                Mount("/metrics", app=make_asgi_app(self.metrics.registry)),
            ]
        )

    async def _healthz(self, request: Request) -> Response:
        last = self.metrics.registry.get_sample_value("einklang_last_round_timestamp_seconds")
        age = self.clock() - last if last else None
        healthy = age is not None and age <= self.stale_after_s
        body = {
            "status": "ok" if healthy else "stalled" if age is not None else "starting",
            "last_round_age_s": None if age is None else round(age, 3),
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    def start(self) -> HealthServer:
        sock = socket.create_server((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app(), loop="asyncio", http="h11", lifespan="off", log_config=None,
            log_level="warning", access_log=False,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="health", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"cannot serve /healthz on {self.host}:{self.port}")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
