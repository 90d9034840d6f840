"""The HTTP layer: authentication before the body, body limits, bad framing, many clients."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from tests.sim.sim_process import SimStarter
from tests.sim.support import ADMIN, ALICE, envelope, impersonating

GET_CALENDAR = (
    "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>'
)
BASIC = "Basic " + base64.b64encode(f"{ADMIN.username}:{ADMIN.password}".encode()).decode()


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def head(url: str, *lines: str) -> bytes:
    path = urlsplit(url).path
    return ("\r\n".join((f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *lines)) + "\r\n\r\n").encode()


def status_of(sock: socket.socket) -> int:
    answer = b""
    while b"\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return int(answer.split(b" ", 2)[1])


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_an_unauthenticated_300_mb_post_is_refused_without_reading_its_body(
    start_sim: SimStarter,
) -> None:
    sim = start_sim("--port", "0", python_m=True)
    url = sim.wait_for("EWS endpoint:")
    sim.wait_for("Mailboxes:")
    before = peak_rss_kb(sim.process.pid)
    size = 300 * 1024 * 1024
    sent = 0
    with connect(url) as sock:
        sock.sendall(head(url, f"Content-Length: {size}", "Content-Type: text/xml"))
        megabyte = b"<" * (1024 * 1024)
        try:
            while sent < size:
                sock.sendall(megabyte)
                sent += len(megabyte)
        except OSError:
            pass  # the server answered and closed the connection: what we want
    grown_mb = (peak_rss_kb(sim.process.pid) - before) / 1024

    assert grown_mb < 40, f"the simulator grew by {grown_mb:.0f} MB"
    assert sent < size, "the whole body was accepted"
    with connect(url) as sock:  # and it still answers
        sock.sendall(head(url, "Content-Length: 0"))
        assert status_of(sock) == 401
    sim.stop_without_violations()


@pytest.fixture
def small_bodies(store: MailboxStore, server_config: ServerConfig) -> EwsServer:
    config = replace(server_config, max_body_bytes=4096, body_timeout_s=0.5)
    return EwsServer(store, config)


def test_an_authenticated_body_over_the_cap_is_413(small_bodies: EwsServer) -> None:
    with small_bodies as server:
        padded = envelope(GET_CALENDAR + "<!--" + "x" * 5000 + "-->", impersonating(ALICE))
        declared = requests.post(server.url, data=padded, auth=(ADMIN.username, ADMIN.password))
        chunked = requests.post(
            server.url, data=iter([padded]), auth=(ADMIN.username, ADMIN.password)
        )
        small = requests.post(
            server.url,
            data=envelope(GET_CALENDAR, impersonating(ALICE)),
            auth=(ADMIN.username, ADMIN.password),
        )

    assert (declared.status_code, chunked.status_code, small.status_code) == (413, 413, 200)


def test_a_slow_body_is_cut_off_with_408(small_bodies: EwsServer) -> None:
    with small_bodies as server, connect(server.url) as sock:
        sock.sendall(head(server.url, "Content-Length: 100", f"Authorization: {BASIC}"))
        sock.sendall(b"<s:Envelope")  # and nothing more
        started = time.monotonic()

        assert status_of(sock) == 408
        assert time.monotonic() - started < 5


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "12, 13", "99999999999999999999"])
def test_a_malformed_content_length_is_400(server: EwsServer, length: str) -> None:
    with connect(server.url) as sock:
        sock.sendall(head(server.url, f"Content-Length: {length}", f"Authorization: {BASIC}"))

        assert status_of(sock) == 400


def test_a_huge_content_length_is_refused_at_once(server: EwsServer) -> None:
    with connect(server.url) as sock:
        sock.sendall(head(server.url, "Content-Length: 9000000000", f"Authorization: {BASIC}"))
        started = time.monotonic()

        assert status_of(sock) == 413
        assert time.monotonic() - started < 5


def test_a_thousand_parallel_clients_are_all_answered(
    store: MailboxStore, server_config: ServerConfig
) -> None:
    request = head(
        "http://127.0.0.1/EWS/Exchange.asmx",
        "Content-Length: 0",
        "Authorization: Basic bm9ib2R5Om5vdGhpbmc=",  # refused at once: the test is the TCP side
        "Connection: close",
    )

    async def one_client(port: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return int(status_line.split(b" ", 2)[1])

    async def clients(port: int) -> list[int | BaseException]:
        return await asyncio.gather(
            *(one_client(port) for _ in range(1000)), return_exceptions=True
        )

    with EwsServer(store, replace(server_config, schema=None)) as server:
        port = urlsplit(server.url).port
        assert port is not None
        started = time.monotonic()
        answers = asyncio.run(asyncio.wait_for(clients(port), timeout=60))

    failures = [answer for answer in answers if not isinstance(answer, int)]
    assert failures == []
    assert set(answers) == {401}
    assert time.monotonic() - started < 60


def test_idle_keep_alive_connections_are_reused(server: EwsServer) -> None:
    session = requests.Session()
    data = envelope(GET_CALENDAR, impersonating(ALICE))
    first = session.post(server.url, data=data, auth=(ADMIN.username, ADMIN.password), stream=True)
    first_socket = first.raw.connection.sock
    first.content  # noqa: B018 (read the body: the connection returns to the pool)
    second = session.post(server.url, data=data, auth=(ADMIN.username, ADMIN.password), stream=True)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.raw.connection.sock is first_socket
    second.close()
