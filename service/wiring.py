"""The engine process put together from its configuration: store, read models, ERP, Exchange.

The only place that knows every concrete part. Each part is built from its section of the
configuration; secrets are read here, once, and handed on as `SecretStr`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from exchangelib.items.base import HARD_DELETE, MOVE_TO_DELETED_ITEMS

from adapters.erp.store import ErpStore
from adapters.exchange.ews.connection import EwsConnection
from adapters.exchange.ews.port import EwsExchange
from adapters.exchange.ews.settings import EwsSettings
from adapters.exchange.ews.watch import ExchangeWatcher
from engine.eligibility import MailboxIdentity
from engine.model import ItemKind
from engine.runtime import Engine
from engine.store import EventStore
from projections.projector import Projector
from service.config import ExchangeSection, Settings
from service.stores import erp_url, open_store

_DELETE = {"deleted_items": MOVE_TO_DELETED_ITEMS, "hard": HARD_DELETE}


def ews_settings(section: ExchangeSection) -> EwsSettings:
    """The EWS adapter's settings from the `[exchange]` section, secrets read now."""
    values: dict[str, Any] = {
        name: getattr(section, name)
        for name in (
            "url", "online_oauth2", "auth", "username", "tenant_id", "client_id", "authority",
            "ca_bundle", "verify_tls", "use_exchange_mailboxes", "mail_domain", "notifications",
            "poll_interval_s",
        )
    }  # fmt: skip
    if section.auth == "oauth2":
        values["client_secret"] = section.client_secret()
    else:
        values["password"] = section.password()
    return EwsSettings(**values)


def identity(section: ExchangeSection) -> MailboxIdentity:
    return MailboxIdentity(
        use_exchange_mailboxes=section.use_exchange_mailboxes,
        mail_domain=section.mail_domain or None,
    )


@dataclass
class Process:
    """Everything one engine process runs on."""

    settings: Settings
    store: EventStore
    views: Projector
    erp: ErpStore
    connection: EwsConnection
    exchange: EwsExchange
    watcher: ExchangeWatcher
    engine: Engine

    def secrets(self) -> list[str]:
        return self.connection.secrets()

    def close(self) -> None:
        parts = (self.watcher, self.connection, self.views, self.store, self.erp)
        for part in parts:
            with contextlib.suppress(Exception):
                part.close()


def assemble(settings: Settings) -> Process:
    """Build the process's parts (nothing is read or written yet)."""
    if settings.exchange.api != "ews":
        raise NotImplementedError('exchange.api = "graph" comes with the Graph adapter')
    ews = ews_settings(settings.exchange)
    who = identity(settings.exchange)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings, must_exist=False)
    views = Projector(store, row_cache=settings.store.row_cache)
    erp = ErpStore(erp_url(settings), schema=settings.erp.schema_)
    connection = EwsConnection(ews)
    exchange = EwsExchange(
        connection.account,
        mailbox_for=ews.mailbox_of,
        delete_type=_DELETE[settings.exchange.delete_to],
    )
    options = settings.sync.options()
    kinds = [kind for kind in ItemKind if options.kind_enabled(kind)]
    watcher = ExchangeWatcher(connection, kinds)
    engine = Engine(store, erp, exchange, options, index=views, identity=who)
    return Process(settings, store, views, erp, connection, exchange, watcher, engine)
