"""`einklang sim` / `python -m sim`: run the Exchange simulator (EWS and Microsoft Graph on one
port) for people and outside test clients.

    einklang sim --host 127.0.0.1 --port PORT [--tls] --admin USER:PASSWORD [--ntlm] [--ews | --graph]
                 --mailbox ADDR [--mailbox ADDR ...] [--tenant T --client-id ID --client-secret S]

Both protocols are served by default; `--ews` or `--graph` serves only that one. Prints
`EWS endpoint: <url>` and/or `Graph endpoint: <url>/v1.0` once it accepts requests (and
`Token endpoint: <url>` with OAuth2 (Graph takes Bearer tokens only),
`TLS certificate: <path>` with --tls), then serves until SIGTERM or SIGINT and exits 0. With
--schema each violation is logged as `schema violation: ...` (WARNING) when it happens, and
`Schema violations: <count>` is printed when it stops.
The admin may impersonate every listed mailbox (Basic, or NTLM with --ntlm: `sim.ntlm`); the
OAuth2 app may access all of them.
Without options it serves a few demo mailboxes to the admin `admin` (password `demo`).
With --data DIR the mailboxes are kept in DIR (see `sim.persistence`) and survive a restart,
even a kill -9; --mailbox adds mailboxes to those kept.
Passwords, client secrets and tokens are never printed or logged.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from sim.auth import AdminAccount, OAuthApp
from sim.graph.context import GraphSettings
from sim.operations import StreamTiming
from sim.persistence import StoreFile
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore
from sim.tls import TlsFiles, generate_self_signed

DEMO_MAILBOXES = ("anna.schmidt@example.com", "ben.mueller@example.com", "carla.weber@example.com")
DEMO_ADMIN = "admin:demo"
DEFAULT_PORT = 8765


def _admin(value: str) -> AdminAccount:
    username, separator, password = value.partition(":")
    if not separator or not username or not password:
        raise argparse.ArgumentTypeError("expected USER:PASSWORD")
    return AdminAccount(username, password)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError("expected a number above 0")
    return number


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of seconds") from None
    if not number > 0:
        raise argparse.ArgumentTypeError("expected a number above 0")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="einklang sim",
        description="Run the local Exchange simulator (EWS and Graph) until SIGTERM/SIGINT.",
    )
    protocols = parser.add_mutually_exclusive_group()
    protocols.add_argument("--ews", action="store_true", help="serve EWS only")
    protocols.add_argument("--graph", action="store_true", help="serve Microsoft Graph only")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (0 picks a free one and prints it)"
    )
    parser.add_argument(
        "--tls", action="store_true", help="serve https with a generated certificate"
    )
    parser.add_argument(
        "--cert", type=Path, help="TLS certificate (PEM) instead of a generated one"
    )
    parser.add_argument("--key", type=Path, help="private key (PEM) for --cert")
    parser.add_argument(
        "--admin",
        type=_admin,
        action="append",
        metavar="USER:PASSWORD",
        help=f"admin account that may impersonate every mailbox (default {DEMO_ADMIN})",
    )
    parser.add_argument(
        "--ntlm",
        action="store_true",
        help="the admins may also authenticate with NTLM, on-premises Exchange's default "
        "(an admin given as 'DOMAIN\\USER:PASSWORD' logs on in that domain)",
    )
    parser.add_argument(
        "--mailbox", action="append", metavar="ADDR", help="mailbox to create (repeatable)"
    )
    parser.add_argument("--tenant", help="OAuth2 tenant of the app registration")
    parser.add_argument("--client-id", help="OAuth2 client id")
    parser.add_argument("--client-secret", help="OAuth2 client secret (never printed)")
    parser.add_argument(
        "--schema", type=Path, help="validate all traffic against this messages.xsd"
    )
    parser.add_argument(
        "--stream-minute",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="length of one ConnectionTimeout minute of streaming requests (default 60)",
    )
    parser.add_argument(
        "--max-body",
        type=_positive_int,
        default=ServerConfig.max_body_bytes,
        metavar="BYTES",
        help="largest request body accepted; larger ones get 413 (default 32 MiB)",
    )
    parser.add_argument(
        "--body-timeout",
        type=_positive_float,
        default=ServerConfig.body_timeout_s,
        metavar="SECONDS",
        help="time a request body may take to arrive; slower ones get 408 (default 60)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="keep the mailboxes in DIR: they survive a restart (default: in memory only)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level for stderr")
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    oauth = (args.tenant, args.client_id, args.client_secret)
    if any(oauth) and not all(oauth):
        parser.error("--tenant, --client-id and --client-secret go together")
    if bool(args.cert) != bool(args.key):
        parser.error("--cert and --key go together")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    mailboxes = args.mailbox or list(DEMO_MAILBOXES)
    admins = args.admin or [_admin(DEMO_ADMIN)]
    apps = (OAuthApp(args.tenant, args.client_id, args.client_secret),) if all(oauth) else ()
    if apps and not (args.tls or args.cert):
        logging.getLogger("sim.cli").warning("msal only talks to https authorities; add --tls")

    store_file = StoreFile(args.data) if args.data else None
    try:
        store = store_file.load() if store_file else MailboxStore()
    except (OSError, ValueError) as error:
        parser.exit(2, f"einklang sim: error: --data {args.data}: cannot use it: {error}\n")
    if not apps and not args.ews:
        logging.getLogger("sim.cli").warning(
            "Graph takes Bearer tokens only; add --tenant, --client-id and --client-secret"
        )
    if args.mailbox or not store.mailbox_addresses():  # kept mailboxes replace the demo ones
        for address in mailboxes:
            if not store.has_mailbox(address):
                store.add_mailbox(address)
    with tempfile.TemporaryDirectory(prefix="ews-sim-") as workdir:
        tls: TlsFiles | None = None
        if args.cert:
            tls = TlsFiles(args.cert, args.key)
        elif args.tls:
            tls = generate_self_signed(Path(workdir), args.host)
        config = ServerConfig(
            host=args.host,
            port=args.port,
            tls=tls,
            admins=tuple(AdminAccount(a.username, a.password) for a in admins),
            apps=apps,
            schema=args.schema,
            timing=StreamTiming(minute_seconds=args.stream_minute),
            max_body_bytes=args.max_body,
            body_timeout_s=args.body_timeout,
            ews=not args.graph,
            graph=None if args.ews else GraphSettings(),
            ntlm=args.ntlm,
        )
        try:
            server = EwsServer(store, config, store_file)
        except (
            ValueError
        ) as error:  # e.g. an NTLM password with ':' (its credential file's separator)
            print(f"einklang sim: error: {error}", file=sys.stderr)
            return 2
        server.persist()  # the mailboxes just added, before anyone is told they exist
        return _serve(server, args.tenant if apps else None, tls, store.mailbox_addresses())


def _serve(
    server: EwsServer, tenant: str | None, tls: TlsFiles | None, mailboxes: list[str]
) -> int:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server.start()
    try:
        if server.config.ews:
            print(f"EWS endpoint: {server.url}")
        if server.graph is not None:
            print(f"Graph endpoint: {server.graph_url}")
        if tenant is not None:
            print(f"Token endpoint: {server.token_url(tenant)}")
        if tls is not None:
            print(f"TLS certificate: {tls.certificate}")
        print(f"Mailboxes: {', '.join(mailboxes)}")
        sys.stdout.flush()
        while not stop.wait(timeout=0.5):
            pass
    finally:
        server.stop()
    if server.validator is not None:
        # The contract line for test clients: anything but 0 means bad traffic (see the log).
        print(f"Schema violations: {len(server.violations)}", flush=True)
    return 0
