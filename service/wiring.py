"""The engine process put together from its configuration: store, read models, ERP, Exchange.

The only place that knows every concrete part. Each part is built from its section of the
configuration; secrets are read here, once, and handed on as `SecretStr`. `[exchange] api`
chooses the Exchange side (R20): EWS (exchangelib, streaming or pull notifications) or Microsoft
Graph (httpx + msal, delta polling); everything else is the same engine.
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
from adapters.exchange.graph.client import GraphClient
from adapters.exchange.graph.port import GraphExchange
from adapters.exchange.graph.settings import GraphSettings
from adapters.exchange.graph.watch import GraphWatcher
from engine.eligibility import MailboxIdentity
from engine.model import ItemKind
from engine.ports import ExchangePort
from engine.runtime import Engine
from engine.store import EventStore
from projections.projector import Projector
from service.config import ConfigError, ExchangeSection, Settings
from service.stores import erp_url, open_store

_DELETE = {"deleted_items": MOVE_TO_DELETED_ITEMS, "hard": HARD_DELETE}
API_CHECKPOINT = "exchange_api"  # the protocol the store's Exchange positions and ids are of


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


def graph_settings(section: ExchangeSection) -> GraphSettings:
    """The Graph adapter's settings from the `[exchange]` section (api = "graph"), secrets read
    now: the client secret, or the certificate's private key."""
    values: dict[str, Any] = {
        name: getattr(section, name)
        for name in (
            "tenant_id", "client_id", "certificate_thumbprint", "authority", "graph_url",
            "ca_bundle", "verify_tls", "poll_interval_s", "use_exchange_mailboxes", "mail_domain",
        )
    }  # fmt: skip
    values["client_secret"] = section.client_secret()
    values["certificate_key"] = section.certificate_key()
    return GraphSettings(**values)


def graph_secrets(settings: GraphSettings) -> list[str]:
    """The values of the Graph settings that must never appear in a log line."""
    secrets = (settings.client_secret, settings.certificate_key)
    return [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]


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
    connection: EwsConnection | GraphClient
    exchange: ExchangePort
    watcher: ExchangeWatcher | GraphWatcher
    engine: Engine
    secret_values: list[str]

    def secrets(self) -> list[str]:
        return list(self.secret_values)

    def stop_watching(self) -> None:
        """End the watcher; EWS subscriptions are kept, they outlive a restart."""
        if isinstance(self.watcher, ExchangeWatcher):
            self.watcher.close(unsubscribe_all=False)
        else:
            self.watcher.close()

    def close(self) -> None:
        parts = (self.watcher, self.connection, self.views, self.store, self.erp)
        for part in parts:
            with contextlib.suppress(Exception):
                part.close()


def assemble(settings: Settings) -> Process:
    """Build the process's parts (nothing is read or written yet)."""
    section = settings.exchange
    options = settings.sync.options()
    kinds = [kind for kind in ItemKind if options.kind_enabled(kind)]
    connection: EwsConnection | GraphClient
    exchange: ExchangePort
    watcher: ExchangeWatcher | GraphWatcher
    if section.api == "graph":
        graph = graph_settings(section)
        connection = GraphClient(graph)
        exchange = GraphExchange(connection, graph)
        watcher = GraphWatcher(connection, graph, kinds=kinds)
        secrets = graph_secrets(graph)
    else:
        ews = ews_settings(section)
        connection = EwsConnection(ews)
        exchange = EwsExchange(
            connection.account,
            mailbox_for=ews.mailbox_of,
            delete_type=_DELETE[section.delete_to],
            renew_token=connection.renew_token,
        )
        watcher = ExchangeWatcher(connection, kinds)
        secrets = connection.secrets()
    who = identity(section)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings, must_exist=False)
    views = Projector(store, row_cache=settings.store.row_cache)
    erp = ErpStore(erp_url(settings), schema=settings.erp.schema_)
    engine = Engine(store, erp, exchange, options, index=views, identity=who)
    return Process(settings, store, views, erp, connection, exchange, watcher, engine, secrets)


def claim_api(store: EventStore, api: str) -> None:
    """Record which protocol this event store's Exchange ids and positions belong to, and refuse
    another: EWS and Graph item ids differ, and a To Do task's sync id does not cross protocols
    (assumption GA5), so a store written over EWS would duplicate tasks over Graph. A store with
    Exchange positions but no record was written over EWS (the only protocol before Graph)."""
    checkpoints = store.checkpoints()
    recorded = checkpoints.get(API_CHECKPOINT)
    if recorded is None and any(name.startswith("exchange:") for name in checkpoints):
        recorded = "ews"
    if recorded is not None and recorded != api:
        raise ConfigError(
            f'exchange.api = "{api}": this event store was written over {recorded.upper()}, '
            "whose item ids and task sync ids do not carry over (GA5); give [store] a new "
            f'url for {api.upper()}, or keep api = "{recorded}"'
        )
    if recorded is None or API_CHECKPOINT not in checkpoints:
        store.save_batch((), {API_CHECKPOINT: api})
