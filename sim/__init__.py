"""A local Exchange simulator: EWS (SOAP) and Microsoft Graph (REST, `sim.graph`) over one
mailbox store with Exchange semantics.

Start one in a test:

    store = MailboxStore(clock=ManualClock())
    store.add_mailbox("alice@example.com")
    with EwsServer(store, ServerConfig(admins=(AdminAccount("admin", "pw"),))) as server:
        ...  # point exchangelib at server.url

See sim/README.md for the Python API, the operations covered and the known gaps.
"""

from sim.auth import AdminAccount, OAuthApp
from sim.clock import Clock, ManualClock, SystemClock
from sim.errors import EwsError, ResponseCode
from sim.server import EwsServer, ServerConfig
from sim.store import MailboxStore, StoreSettings

__all__ = [
    "AdminAccount",
    "Clock",
    "EwsError",
    "EwsServer",
    "MailboxStore",
    "ManualClock",
    "OAuthApp",
    "ResponseCode",
    "ServerConfig",
    "StoreSettings",
    "SystemClock",
]
