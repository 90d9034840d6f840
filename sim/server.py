"""The running simulator: EWS at /EWS/Exchange.asmx and Microsoft Graph at /v1.0 over one
mailbox store, plus their OAuth2 authority, over uvicorn (`ServerConfig.ews`/`.graph` switch
either protocol off).

uvicorn serves the Starlette application of `sim.asgi` from a background thread with its own
event loop (plain HTTP or TLS), on a socket bound before `start` returns, with a real listen
backlog, HTTP/1.1 keep-alive and chunked streaming. Each EWS request is authenticated before its
body is read, then answered by `sim.ews.EwsHandler` in a worker thread.

Requests, responses and schema violations are recorded for tests; logs never contain
credentials, tokens or request bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import uvicorn

from sim.asgi import Gate, HttpFront, Limits
from sim.auth import AdminAccount, OAuthApp
from sim.envelope import Element
from sim.ews import DropConnection, EwsHandler, RequestRecord
from sim.faults import FaultInjector
from sim.graph.context import GraphSettings
from sim.graph.handler import GraphHandler
from sim.ntlm import NtlmAcceptor
from sim.oauth import TokenService
from sim.operations import StreamTiming
from sim.persistence import StoreFile
from sim.schema import SchemaValidator, SchemaViolation
from sim.store import MailboxStore
from sim.tls import TlsFiles

__all__ = ["EwsServer", "RequestRecord", "ServerConfig"]

log = logging.getLogger("sim.server")

# Connections the kernel queues before they are accepted (1,000 clients at once must fit).
LISTEN_BACKLOG = 2048
# IIS closes idle keep-alive connections after 120 s.
KEEP_ALIVE_S = 120


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 0
    tls: TlsFiles | None = None
    admins: tuple[AdminAccount, ...] = ()
    apps: tuple[OAuthApp, ...] = ()
    # messages.xsd to validate every request and response against (None: no validation).
    schema: Path | None = None
    timing: StreamTiming = field(default_factory=StreamTiming)
    token_lifetime: timedelta = timedelta(minutes=60)
    # Larger request bodies are refused with 413 (authenticated callers only; others get 401).
    max_body_bytes: int = 32 * 1024 * 1024
    # A body not complete this many seconds after the headers is refused with 408.
    body_timeout_s: float = 60.0
    # Serve EWS at /EWS/Exchange.asmx; serve Graph at /v1.0 with these settings (None: no Graph).
    ews: bool = True
    # The admins may also authenticate with NTLM (`sim.ntlm`), on-premises Exchange's default.
    ntlm: bool = False
    graph: GraphSettings | None = field(default_factory=GraphSettings)


class _QuietDrops(logging.Filter):
    """uvicorn logs the exception that cuts a stream on purpose (DropStream); that is no error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DropConnection))


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, told to exit at once rather than noticing it within 0.1 s, and closing
    at once when nothing is in flight (tests start and stop hundreds of servers)."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wakeup: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._wakeup = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), 0.1)

    def exit_now(self, idle: bool) -> None:
        self.should_exit = True
        self.force_exit = idle  # nothing in flight: no connection to wait for
        if self._loop is not None and self._wakeup is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                self._loop.call_soon_threadsafe(self._wakeup.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if not self.force_exit:
            await super().shutdown(sockets)
            return
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive connections: closed
            connection.transport.close()  # and any still sending a request's head
        for _ in range(2):
            await asyncio.sleep(0)  # the transports finish closing before the loop ends


class EwsServer:
    """A running EWS simulator over a `MailboxStore`."""

    def __init__(
        self,
        store: MailboxStore | None = None,
        config: ServerConfig | None = None,
        store_file: StoreFile | None = None,
    ) -> None:
        """`store_file` (see `sim.persistence`): where every change is written through."""
        self.store = store or MailboxStore()
        self.store_file = store_file
        self.config = config or ServerConfig()
        self.faults = FaultInjector()
        self.tokens = TokenService(
            self.store.clock, list(self.config.apps), self.config.token_lifetime
        )
        self.validator = SchemaValidator(self.config.schema) if self.config.schema else None
        self._violations: list[SchemaViolation] = []
        self._records: list[RequestRecord] = []
        self._record_lock = threading.Lock()
        self._gate = Gate()
        self._ntlm_files: tempfile.TemporaryDirectory[str] | None = None
        self.handler = EwsHandler(
            self.store,
            self.config.admins,
            self.tokens,
            self.faults,
            self.config.timing,
            check=lambda envelope, direction, operation: self._check(
                envelope, direction, operation
            ),
            record=self._record,
            persist=self.persist,
            ntlm=self._ntlm_acceptor(),
        )
        self.graph = (
            GraphHandler(self.store, self.tokens, self.config.graph, self.persist)
            if self.config.graph is not None
            else None
        )
        self._address: tuple[str, int] | None = None
        self._uvicorn: _Uvicorn | None = None
        self._thread: threading.Thread | None = None

    def _ntlm_acceptor(self) -> NtlmAcceptor | None:
        if not self.config.ntlm:
            return None
        self._ntlm_files = tempfile.TemporaryDirectory(prefix="sim-ntlm-")
        return NtlmAcceptor(self.config.admins, Path(self._ntlm_files.name))

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> EwsServer:
        """Listen and serve; returns once requests are answered."""
        sock = socket.create_server((self.config.host, self.config.port), backlog=LISTEN_BACKLOG)
        self._address = sock.getsockname()[:2]
        front = HttpFront(
            self.handler,
            self.tokens,
            self._gate,
            Limits(self.config.max_body_bytes, self.config.body_timeout_s),
            lambda: self.base_url,
            graph=self.graph,
            ews=self.config.ews,
        )
        tls = self.config.tls
        server = _Uvicorn(
            uvicorn.Config(
                front,
                loop="asyncio",
                http="h11",
                lifespan="off",
                backlog=LISTEN_BACKLOG,
                timeout_keep_alive=KEEP_ALIVE_S,
                timeout_graceful_shutdown=10,
                ssl_certfile=str(tls.certificate) if tls else None,
                ssl_keyfile=str(tls.private_key) if tls else None,
                log_config=None,
                log_level="warning",
                access_log=False,
                server_header=False,
                headers=[("Server", "Microsoft-IIS/10.0")],
            )
        )
        self._uvicorn = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="ews-sim", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError("the simulator's HTTP server did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop accepting requests and wait (at most `timeout_s`) for those being answered.

        Open streams are woken and send their closing envelope; once `stop` returns, every
        envelope they sent has been checked. Idle keep-alive connections are not waited for.
        """
        self._gate.stop()
        self.store.wake_streams()
        if not self._gate.wait_idle(timeout_s):
            log.warning("%d request(s) still running after %.0f s", self.in_flight, timeout_s)
        if self._uvicorn is not None:
            self._uvicorn.exit_now(idle=self.in_flight == 0)
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
        self.persist()
        if self._ntlm_files is not None:
            self._ntlm_files.cleanup()

    def persist(self) -> None:
        """Write the store through to its file (with --data); a no-op without one."""
        if self.store_file is None:
            return
        try:
            self.store_file.save(self.store)
        except OSError:
            log.exception("could not save the mailboxes to %s", self.store_file.path)

    @property
    def in_flight(self) -> int:
        """Requests being answered right now (a streaming request until its body ends)."""
        return self._gate.in_flight

    def __enter__(self) -> EwsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._address is None:
            raise RuntimeError("server not started")
        host, port = self._address
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{host}:{port}"

    @property
    def url(self) -> str:
        """The EWS endpoint, e.g. http://127.0.0.1:PORT/EWS/Exchange.asmx."""
        return f"{self.base_url}/EWS/Exchange.asmx"

    @property
    def graph_url(self) -> str:
        """The Graph endpoint, e.g. http://127.0.0.1:PORT/v1.0."""
        return f"{self.base_url}/v1.0"

    def authority(self, tenant: str) -> str:
        """The OAuth2 authority for msal: https://127.0.0.1:PORT/{tenant}."""
        return f"{self.base_url}/{tenant}"

    def token_url(self, tenant: str) -> str:
        return f"{self.authority(tenant)}/oauth2/v2.0/token"

    # --- records ----------------------------------------------------------------------------

    @property
    def violations(self) -> list[SchemaViolation]:
        with self._record_lock:
            return list(self._violations)

    def take_violations(self) -> list[SchemaViolation]:
        """Return the violations seen so far and forget them (for tests that provoke one)."""
        with self._record_lock:
            taken, self._violations = self._violations, []
            return taken

    @property
    def requests(self) -> list[RequestRecord]:
        with self._record_lock:
            return list(self._records)

    def _record(self, record: RequestRecord) -> None:
        with self._record_lock:
            self._records.append(record)

    def _check(self, envelope: Element, direction: str, operation: str) -> list[SchemaViolation]:
        if self.validator is None:
            return []
        violations = self.validator.check_envelope(envelope, direction, operation)
        with self._record_lock:
            self._violations.extend(violations)
        for violation in violations:
            log.warning("schema violation: %s", violation)
        return violations
