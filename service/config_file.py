"""`einklang config init`: a commented configuration file from a few answers.

The file is the documentation an administrator reads later: every option of DESIGN §7 is in it,
with its default and the rule it serves. Secrets are not written, only where to read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


def _toml(value: str | Path) -> str:
    """A TOML basic string (JSON's escapes are TOML's, and it never writes `\\/`)."""
    return json.dumps(str(value), ensure_ascii=False)


GRAPH_URL = "https://graph.microsoft.com/v1.0"


@dataclass(frozen=True)
class Answers:
    erp_url: str
    ews_url: str = ""
    auth: Literal["basic", "ntlm", "oauth2"] = "ntlm"
    api: Literal["ews", "graph"] = "ews"
    graph_url: str = ""
    authority: str = ""  # graph: the sign-in authority (a test server's; default Microsoft's)
    ca_bundle: Path | None = None
    certificate_key_file: Path | None = None
    certificate_thumbprint: str = ""
    username: str = ""
    password_env: str = ""
    tenant_id: str = ""
    client_id: str = ""
    client_secret_env: str = ""
    mail_domain: str = ""
    data_dir: Path = Path(".")
    automatic_sync: bool = False
    store_url: str = ""


def _graph_exchange(a: Answers) -> str:
    """`[exchange]` for Exchange Online over Microsoft Graph (R20)."""
    if a.certificate_key_file is not None or a.certificate_thumbprint:
        key = _toml(a.certificate_key_file or "")
        secret = (
            f"client_secret_env = {_toml(a.client_secret_env)}"  # load() refuses both
            if a.client_secret_env
            else '# client_secret_env = "EINKLANG_CLIENT_SECRET"   # a secret instead'
        )
        credential = f"""\
{secret}
certificate_key_file = {key}   # the certificate's PEM private key (mode 0600)
certificate_thumbprint = {_toml(a.certificate_thumbprint)}
"""
    else:
        credential = f"""\
client_secret_env = {_toml(a.client_secret_env)}
# client_secret_file = "/etc/einklang/client-secret"   # instead of the variable
# certificate_key_file = "/etc/einklang/app-key.pem"    # or a certificate instead of a secret
# certificate_thumbprint = "…"                          # (its SHA-1 thumbprint, hex)
"""
    use_mailboxes = "false" if a.mail_domain else "true"
    authority = (
        f"authority = {_toml(a.authority)}"
        if a.authority
        else '# authority = "https://login.microsoftonline.com"   # the sign-in authority'
    )
    ca_bundle = (
        f"ca_bundle = {_toml(a.ca_bundle)}"
        if a.ca_bundle is not None
        else '# ca_bundle = "/etc/ssl/certs/company-ca.pem"   # trust this CA as well (a TLS proxy)'
    )
    return f"""\
[exchange]
api = "graph"                     # Exchange Online over Microsoft Graph (R20); ews: EWS
graph_url = {_toml(a.graph_url or GRAPH_URL)}
# The app registration: app-only access (client credentials) with the application permissions
# Calendars.ReadWrite and Tasks.ReadWrite.All; an Application Access Policy may limit it to
# the synchronised mailboxes (a mailbox it denies is shown in `einklang status`, R9, R12).
# The secret (or the certificate's key) is read at start; it is never written here or logged.
tenant_id = {_toml(a.tenant_id)}
client_id = {_toml(a.client_id)}
{credential}{authority}
verify_tls = true                 # TLS certificates are checked
{ca_bundle}
use_exchange_mailboxes = {use_mailboxes}      # R9: the mailbox stored on the ERP user
mail_domain = {_toml(a.mail_domain)}        # R9 otherwise: login name @ mail_domain
poll_interval_s = 5.0             # R3: each mailbox's changes are polled (delta) this often
"""


def _ews_exchange(a: Answers) -> str:
    """`[exchange]` for EWS: on-premises, or Exchange Online while it allows EWS."""
    use_mailboxes = "false" if a.mail_domain else "true"
    if a.auth == "oauth2":
        credentials = f"""\
auth = "oauth2"
# The app registration (client credentials, full mailbox access — R9). The secret is read from
# this environment variable at start; it is never written here or logged.
tenant_id = {_toml(a.tenant_id)}
client_id = {_toml(a.client_id)}
client_secret_env = {_toml(a.client_secret_env)}
# client_secret_file = "/etc/einklang/client-secret"   # instead of the variable
"""
    else:
        credentials = f"""\
auth = {_toml(a.auth)}   # ntlm or basic (on-premises)
# The service account with ApplicationImpersonation rights (R9). Its password is read from this
# environment variable at start; it is never written here or logged.
username = {_toml(a.username)}
password_env = {_toml(a.password_env)}
# password_file = "/etc/einklang/password"   # instead of the variable
"""
    online = "true" if a.auth == "oauth2" and "office365.com" in a.ews_url else "false"
    return f"""\
[exchange]
api = "ews"                       # ews (on-premises, and Exchange Online while it allows EWS)
url = {_toml(a.ews_url)}
online_oauth2 = {online}              # "Exchange Online with OAuth2" (R10)
{credentials}verify_tls = true                 # TLS certificates are checked
# ca_bundle = "/etc/ssl/certs/company-ca.pem"   # trust this CA as well
use_exchange_mailboxes = {use_mailboxes}      # R9: impersonate the mailbox stored on the ERP user
mail_domain = {_toml(a.mail_domain)}        # R9 otherwise: login name @ mail_domain
notifications = "streaming"       # streaming (under a second), or pull
poll_interval_s = 5.0             # pull only
delete_to = "deleted_items"       # deleted_items, or hard
"""


def render(answers: Answers) -> str:
    a = answers
    store = a.store_url or "sqlite:///events.sqlite3"
    exchange = _graph_exchange(a) if a.api == "graph" else _ews_exchange(a)
    return f"""\
# einklang configuration (written by `einklang config init`).
# Every value can be overridden by an environment variable EINKLANG_<SECTION>__<KEY>,
# for example EINKLANG_SYNC__AUTOMATIC_SYNC=true. Server settings take effect at the next
# start (R11); changes to ERP users are followed live.

# Where the engine keeps its event store and files (relative to this file). Relative SQLite
# paths below (sqlite:///name.sqlite3) are taken relative to this directory.
data_dir = {_toml(a.data_dir)}

[erp]
# The ERP database (SQLAlchemy URL): sqlite:///path or postgresql://user@host/db
url = {_toml(a.erp_url)}
# schema = "erp"   # PostgreSQL: the schema of the ERP's tables (default: the search path)

[store]
# The event store: the engine's log of observations and decisions (SQLite or PostgreSQL).
url = {_toml(store)}
# Items kept in memory, least recently used evicted: the others are read from the store when
# something happens to them (about 5 KB each in memory).
aggregate_cache = 20000
# SQLite's page cache per connection, in KiB: resident memory; more helps a store of millions.
sqlite_cache_kb = 16384
# row_cache = 20000   # item rows the read models keep in memory (about 1.6 KB each)

{exchange}
[sync]
automatic_sync = {"true" if a.automatic_sync else "false"}   # R10 master switch: nothing syncs until it is on
export_enabled = true             # R10 ERP → Exchange
import_enabled = true             # R10 Exchange → ERP
sync_appointments = true          # R1, R10
sync_tasks = true                 # R1, R10
write_info_text = false           # R7: false = "do not write info text" (Outlook's text stays)
info_text_format = "text"         # R7: text or html
conflict_policy = "erp_wins"      # R16: erp_wins, exchange_wins or newest_wins
deletion_burst_threshold = 25     # R17: more deletions than this per user and window are held
deletion_burst_window_s = 600

[logging]
level = "info"                    # debug, info, warning, error
diagnostics = false               # R13: extended diagnostics (every decision in the log)
format = "json"                   # json (one object per line) or text

[http]
# /healthz and /metrics (Prometheus); port 0 switches them off.
host = "127.0.0.1"
port = 9464
"""
