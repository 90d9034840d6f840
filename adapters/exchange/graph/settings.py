"""What the Graph adapter needs to reach Exchange Online over Microsoft Graph (issue 14, R20).

Field names follow `EwsSettings` where they mean the same. Secrets arrive as `SecretStr` (no
repr, log line or exception shows them). App-only access: a client secret or a certificate
(PEM private key + thumbprint, msal's `client_credential` dict).

Assumption GA1 — the calendarView/delta window: Graph needs one (a delta round is bound to the
window of its first request). Events are read from `window_past_days` (365) before now to
`window_future_days` (730) after; a series is read through its occurrences in that window, so a
series entirely outside it is not seen.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from engine.model import User

MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
GRAPH_V1 = "https://graph.microsoft.com/v1.0"
GRAPH_SCOPES = ["https://graph.microsoft.com/.default"]


class GraphSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str
    client_id: str
    client_secret: SecretStr | None = None
    certificate_key: SecretStr | None = None  # PEM private key of the app's certificate
    certificate_thumbprint: str = ""
    authority: str = MICROSOFT_AUTHORITY  # msal's authority host (a test server's for tests)
    graph_url: str = GRAPH_V1
    ca_bundle: Path | None = None
    verify_tls: bool = True
    poll_interval_s: float = Field(default=5.0, gt=0, le=3600)  # delta polling (R3)
    max_connections: int = Field(default=20, ge=1, le=256)  # the HTTP pool, all mailboxes
    per_mailbox_concurrency: int = Field(default=4, ge=1, le=4)  # Graph's Outlook limit
    request_timeout_s: float = Field(default=60.0, gt=0)
    transient_attempts: int = Field(default=4, ge=1)  # 429/503/timeouts, Retry-After honoured
    transient_max_s: float = Field(default=30.0, gt=0)
    window_past_days: int = Field(default=365, ge=1)  # assumption GA1
    window_future_days: int = Field(default=730, ge=1)
    page_size: int = Field(default=100, ge=1, le=1000)  # Prefer: odata.maxpagesize
    use_exchange_mailboxes: bool = True  # R9: the mailbox stored on the ERP user
    mail_domain: str = ""  # R9 otherwise: login name @ this domain

    @model_validator(mode="after")
    def _coherent(self) -> GraphSettings:
        if not self.tenant_id or not self.client_id:
            raise ValueError("graph needs tenant_id and client_id")
        if (self.client_secret is None) == (self.certificate_key is None):
            raise ValueError("graph needs exactly one of client_secret and certificate_key")
        if self.certificate_key is not None and not self.certificate_thumbprint:
            raise ValueError("certificate_key needs certificate_thumbprint")
        if not self.graph_url.startswith(("https://", "http://")):
            raise ValueError("graph_url must be the Graph endpoint, https://…/v1.0")
        if not self.use_exchange_mailboxes and not self.mail_domain.strip("@ "):
            raise ValueError("use_exchange_mailboxes = false needs mail_domain")
        return self

    def mailbox_of(self, user: User) -> str | None:
        """The mailbox to act in for `user` (R9); None when there is none to use."""
        if self.use_exchange_mailboxes:
            return user.mailbox.strip() if user.mailbox and user.mailbox.strip() else None
        return f"{user.login}@{self.mail_domain.strip('@ ')}" if self.mail_domain else None

    @property
    def verify(self) -> bool | str:
        if not self.verify_tls:
            return False
        return str(self.ca_bundle) if self.ca_bundle is not None else True
