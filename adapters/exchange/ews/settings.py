"""What the EWS adapter needs to know to reach Exchange: endpoint, credentials, TLS, limits.

The field names follow the `[exchange]` section of the engine's configuration
(`service/config.py`), which resolves the secrets (from an environment variable or a file) and
hands them here as `SecretStr`: no repr, log line or exception of this model shows them.
"Exchange Online with OAuth2" (R10) makes Exchange Online's EWS endpoint the default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from engine.eligibility import mailbox_address
from engine.model import User

EXCHANGE_ONLINE_EWS = "https://outlook.office365.com/EWS/Exchange.asmx"
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
EXCHANGE_2016_BUILD = "15.1.2507.6"  # pinned: exchangelib then sends no version probes


class EwsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = ""  # the EWS endpoint, …/EWS/Exchange.asmx
    online_oauth2: bool = False  # R10: Exchange Online with OAuth2
    auth: Literal["ntlm", "basic", "oauth2"] = "ntlm"
    username: str = ""  # the service account with impersonation rights (R9)
    password: SecretStr | None = None
    tenant_id: str = ""
    client_id: str = ""
    client_secret: SecretStr | None = None
    authority: str = MICROSOFT_AUTHORITY  # msal's authority host (a test server's for tests)
    ca_bundle: Path | None = None  # PEM bundle trusted by exchangelib and msal alike
    verify_tls: bool = True
    version_build: str = Field(default=EXCHANGE_2016_BUILD, pattern=r"^\d+(\.\d+){1,3}$")
    # Streaming connections hold a pooled session each for their whole life; workers need more.
    max_connections: int = Field(default=16, ge=2, le=256)
    workers: int = Field(default=4, ge=1, le=64)  # subscribe / poll concurrency
    request_timeout_s: float = Field(default=60.0, gt=0)
    use_exchange_mailboxes: bool = True  # R9: the mailbox stored on the ERP user
    mail_domain: str = ""  # R9 otherwise: login name @ this domain
    # Change detection (R3): streaming, or pull as the fallback.
    notifications: Literal["streaming", "pull"] = "streaming"
    poll_interval_s: float = Field(default=5.0, gt=0, le=3600)
    pull_timeout_min: int = Field(default=30, ge=1, le=1440)
    # A streaming connection asks for this ConnectionTimeout (1-30 minutes) and is renewed when
    # the server closes it, before its subscriptions could expire (30 idle minutes).
    connection_timeout_min: int = Field(default=29, ge=1, le=30)
    mailboxes_per_group: int = Field(default=200, ge=1, le=200)  # Microsoft's limit
    max_streaming_connections: int = Field(default=10, ge=1, le=10)  # hanging connections
    # A mailbox that cannot be reached is retried after a growing, capped back-off (R12).
    retry_initial_s: float = Field(default=30.0, gt=0)
    retry_max_s: float = Field(default=900.0, gt=0)
    # Transient errors of one request (ErrorServerBusy, timeouts) are retried this many times.
    transient_attempts: int = Field(default=4, ge=1)
    transient_initial_s: float = Field(default=0.5, gt=0)
    transient_max_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _coherent(self) -> EwsSettings:
        if self.online_oauth2 and self.auth != "oauth2":
            raise ValueError('online_oauth2 needs auth = "oauth2"')
        if self.auth == "oauth2":
            missing = [name for name in ("tenant_id", "client_id") if not getattr(self, name)]
            if self.client_secret is None:
                missing.append("client_secret")
        else:
            missing = [] if self.username else ["username"]
            if self.password is None:
                missing.append("password")
        if missing:
            raise ValueError(f'auth = "{self.auth}" needs {", ".join(missing)}')
        if not self.endpoint.startswith(("https://", "http://")):
            raise ValueError("url must be the EWS endpoint, https://…/EWS/Exchange.asmx")
        if not self.use_exchange_mailboxes and not self.mail_domain.strip("@ "):
            raise ValueError("use_exchange_mailboxes = false needs mail_domain")
        streams = self.max_streaming_connections if self.notifications == "streaming" else 0
        needed = streams + self.workers + 1
        if self.max_connections < needed:
            raise ValueError(
                f"max_connections must be at least {needed}: each streaming connection holds "
                "a pooled session, and the workers and the item reads need theirs"
            )
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s must not be below retry_initial_s")
        return self

    @property
    def endpoint(self) -> str:
        return self.url or (EXCHANGE_ONLINE_EWS if self.online_oauth2 else "")

    def mailbox_of(self, user: User) -> str | None:
        """The mailbox to impersonate for `user` (R9), by the engine's one rule; None when
        there is none to use."""
        return mailbox_address(
            user,
            use_exchange_mailboxes=self.use_exchange_mailboxes,
            mail_domain=self.mail_domain or None,
        )

    @property
    def build(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.version_build.split("."))

    @property
    def verify(self) -> bool | str:
        """What requests' `verify=` gets: the CA bundle, else whether to verify at all."""
        if not self.verify_tls:
            return False
        return str(self.ca_bundle) if self.ca_bundle is not None else True
