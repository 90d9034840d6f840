"""The engine process's configuration: a TOML file plus environment variables (DESIGN §7).

Sources, strongest first: environment variables `EINKLANG_<SECTION>__<KEY>` (for example
`EINKLANG_SYNC__AUTOMATIC_SYNC=true`), then the TOML file named by `--config` or
`EINKLANG_CONFIG`, then the defaults below, which follow the reference ERP: export, import,
appointments and tasks on, "do not write info text" on, OAuth2 off — and automatic
synchronisation off until the administrator switches it on (R10).

Secrets (the service account's password, the app's client secret) are never written in the file:
the file names an environment variable (`password_env`) or a file (`password_file`) to read them
from when the engine starts. They are held as `SecretStr`, so no repr, log line or event shows
them. Server settings take effect at start (R11); ERP users are followed live.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from engine.options import ConflictPolicy, SyncOptions
from engine.store import AGGREGATE_CACHE, SQLITE_CACHE_KB
from projections.projector import ROW_CACHE

CONFIG_ENV = "EINKLANG_CONFIG"
EXCHANGE_ONLINE_EWS = "https://outlook.office365.com/EWS/Exchange.asmx"
GRAPH_ENDPOINT = "https://graph.microsoft.com/v1.0"
GRAPH_POLL_INTERVAL_S = 5.0  # delta polling per mailbox (issue 14: configurable, 5 s default)


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line naming the field and the fix."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(Section):
    """Where a secret comes from: an environment variable or a file, read at start."""

    env: str = ""
    file: Path | None = None

    def read(self, what: str) -> SecretStr | None:
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"{what}: the environment variable {self.env} is not set")
            return SecretStr(value)
        if self.file is not None:
            try:
                return SecretStr(self.file.read_text(encoding="utf-8").strip())
            except OSError as exc:
                raise ConfigError(f"{what}: cannot read {self.file}: {exc.strerror}") from None
        return None


class ErpSection(Section):
    url: str = Field(description="the ERP database (SQLAlchemy URL: sqlite:///… or postgresql://…)")
    schema_: str | None = Field(default=None, alias="schema")  # PostgreSQL: the ERP's schema


class StoreSection(Section):
    url: str = Field(description="the event store (sqlite:///… or postgresql://…)")
    # Items kept in memory, least recently used evicted (the others are read when touched).
    aggregate_cache: int = Field(default=AGGREGATE_CACHE, ge=100, le=10_000_000)
    # SQLite's page cache per connection, in KiB (resident memory; more helps a big store).
    sqlite_cache_kb: int = Field(default=SQLITE_CACHE_KB, ge=1024, le=4_194_304)
    # Item rows the read models keep in memory between pages (about 1.6 KB each); more only
    # saves reading back rows of items that change again (issue 12).
    row_cache: int = Field(default=ROW_CACHE, ge=0)


class ExchangeSection(Section):
    """`[exchange]`: EWS (on-premises, or Exchange Online while it allows EWS) or Microsoft
    Graph (Exchange Online, R20). Graph is app-only OAuth2: tenant, client id, and a client
    secret or a certificate; changes are found by delta polling every `poll_interval_s`."""

    api: Literal["ews", "graph"] = "ews"  # R20
    url: str = ""  # the EWS endpoint; with online_oauth2 Exchange Online's is the default
    graph_url: str = GRAPH_ENDPOINT  # api = "graph": the Graph endpoint (…/v1.0)
    online_oauth2: bool = False  # R10 "Exchange Online with OAuth2" (EWS)
    auth: Literal["ntlm", "basic", "oauth2"] = "ntlm"  # api = "graph" is always oauth2
    username: str = ""  # the service account with impersonation rights (R9)
    password_env: str = ""
    password_file: Path | None = None
    tenant_id: str = ""
    client_id: str = ""
    client_secret_env: str = ""
    client_secret_file: Path | None = None
    certificate_key_file: Path | None = None  # api = "graph": the app certificate's PEM key
    certificate_thumbprint: str = ""  # … and its SHA-1 thumbprint (hex)
    authority: str = "https://login.microsoftonline.com"
    ca_bundle: Path | None = None  # trust these CAs too (exchangelib, msal, httpx alike)
    verify_tls: bool = True
    use_exchange_mailboxes: bool = True  # R9: the mailbox stored on the ERP user
    mail_domain: str = ""  # R9 otherwise: login name @ this domain
    notifications: Literal["streaming", "pull"] = "streaming"  # R3 (EWS; Graph polls delta)
    poll_interval_s: float = Field(default=GRAPH_POLL_INTERVAL_S, gt=0, le=3600)  # pull, delta
    delete_to: Literal["deleted_items", "hard"] = "deleted_items"

    @field_validator("mail_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().lstrip("@")
        if value and ("." not in value or any(c.isspace() or c == "@" for c in value)):
            raise ValueError("give a mail domain such as example.com")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> ExchangeSection:
        if self.api == "graph":
            self._graph_coherent()
        else:
            self._ews_coherent()
        if not self.use_exchange_mailboxes and not self.mail_domain:
            raise ValueError("use_exchange_mailboxes = false needs mail_domain")
        return self

    def _ews_coherent(self) -> None:
        graph_only = [
            k for k in ("certificate_key_file", "certificate_thumbprint") if getattr(self, k)
        ]
        if "graph_url" in self.model_fields_set:
            graph_only.append("graph_url")
        if graph_only:
            raise ValueError(f'{", ".join(graph_only)}: only with api = "graph"')
        if self.online_oauth2 and self.auth != "oauth2":
            raise ValueError('online_oauth2 = true needs auth = "oauth2"')
        if self.auth == "oauth2":
            missing = [k for k in ("tenant_id", "client_id") if not getattr(self, k)]
            if not (self.client_secret_env or self.client_secret_file):
                missing.append("client_secret_env (or client_secret_file)")
            if missing:
                raise ValueError(f'auth = "oauth2" needs {", ".join(missing)}')
        else:
            missing = [] if self.username else ["username"]
            if not (self.password_env or self.password_file):
                missing.append("password_env (or password_file)")
            if missing:
                raise ValueError(f'auth = "{self.auth}" needs {", ".join(missing)}')
        if not self.endpoint:
            raise ValueError("url is required (the EWS endpoint, …/EWS/Exchange.asmx)")
        if not self.endpoint.startswith(("https://", "http://")):
            raise ValueError("url must start with https:// (or http:// for a test server)")

    def _graph_coherent(self) -> None:
        """api = "graph": app-only OAuth2; the EWS-only settings are refused, not ignored."""
        given = self.model_fields_set
        if "auth" in given and self.auth != "oauth2":
            raise ValueError(f'api = "graph" signs in with OAuth2: remove auth = "{self.auth}"')
        ews = ("url", "username", "password_env", "password_file", "online_oauth2")
        ews_only = [k for k in ews if getattr(self, k)]
        if "notifications" in given and self.notifications == "streaming":
            ews_only.append('notifications = "streaming" (Graph polls delta)')
        if "delete_to" in given and self.delete_to == "hard":
            ews_only.append('delete_to = "hard"')
        if ews_only:
            raise ValueError(f'{", ".join(ews_only)}: EWS only, not with api = "graph"')
        missing = [k for k in ("tenant_id", "client_id") if not getattr(self, k)]
        secret = bool(self.client_secret_env or self.client_secret_file)
        certificate = bool(self.certificate_key_file or self.certificate_thumbprint)
        if not (secret or certificate):
            missing.append("client_secret_env (or client_secret_file, or a certificate)")
        if missing:
            raise ValueError(f'api = "graph" needs {", ".join(missing)}')
        if secret and certificate:
            raise ValueError("give a client secret or a certificate, not both")
        if certificate and not (self.certificate_key_file and self.certificate_thumbprint):
            raise ValueError("a certificate needs certificate_key_file and certificate_thumbprint")
        if not self.graph_url.startswith(("https://", "http://")):
            raise ValueError("graph_url must start with https:// (…/v1.0)")

    @property
    def endpoint(self) -> str:
        if self.api == "graph":
            return self.graph_url
        return self.url or (EXCHANGE_ONLINE_EWS if self.online_oauth2 else "")

    @property
    def uses_oauth2(self) -> bool:
        return self.api == "graph" or self.auth == "oauth2"

    def password(self) -> SecretStr | None:
        return Secret(env=self.password_env, file=self.password_file).read("exchange.password")

    def client_secret(self) -> SecretStr | None:
        secret = Secret(env=self.client_secret_env, file=self.client_secret_file)
        return secret.read("exchange.client_secret")

    def certificate_key(self) -> SecretStr | None:
        return Secret(file=self.certificate_key_file).read("exchange.certificate_key_file")


class SyncSection(Section):
    """The switches of R7, R10, R16, R17; the engine records them with every decision."""

    automatic_sync: bool = False  # R10: the administrator switches it on explicitly
    export_enabled: bool = True
    import_enabled: bool = True
    sync_appointments: bool = True
    sync_tasks: bool = True
    write_info_text: bool = False  # R7: "do not write info text" is on
    info_text_format: Literal["text", "html"] = "text"
    conflict_policy: ConflictPolicy = "erp_wins"
    deletion_burst_threshold: int = Field(default=25, ge=1)
    deletion_burst_window_s: int = Field(default=600, ge=1)

    def options(self) -> SyncOptions:
        return SyncOptions.model_validate(self.model_dump())


class LoggingSection(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    diagnostics: bool = False  # R13: extended diagnostics (every decision in the log)
    format: Literal["json", "text"] = "json"


class HttpSection(Section):
    """`/healthz` and `/metrics` on a local port."""

    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)


class Settings(BaseSettings):
    """The whole configuration of one engine process."""

    model_config = SettingsConfigDict(
        env_prefix="EINKLANG_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    erp: ErpSection
    store: StoreSection
    exchange: ExchangeSection
    sync: SyncSection = SyncSection()
    logging: LoggingSection = LoggingSection()
    http: HttpSection = HttpSection()
    data_dir: Path = Path(".")  # relative sqlite paths and the engine's files live here

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment is stronger.
        return (env_settings, init_settings)


def config_path(given: str | Path | None) -> Path:
    """The configuration file: `--config`, else `EINKLANG_CONFIG`."""
    chosen = given or os.environ.get(CONFIG_ENV)
    if not chosen:
        raise ConfigError(
            f"no configuration: give --config FILE or set {CONFIG_ENV} "
            "(`einklang config init` writes one)"
        )
    return Path(chosen)


def load(path: str | Path) -> Settings:
    """Read and validate a configuration file (and the environment); ConfigError if unusable."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (`einklang config init` writes one)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from None
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe(exc)}") from None
    return settings.model_copy(update={"data_dir": _anchored(path, settings.data_dir)})


def describe(exc: ValidationError) -> str:
    """The first problem of a validation error, as `section.key: what to do`."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "missing: add it"
    elif error["type"] == "extra_forbidden":
        message = "unknown setting: remove it or check its spelling"
    more = len(exc.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{where}: {message}{tail}" if where else f"{message}{tail}"


def secrets_present(settings: Settings) -> None:
    """Read the secrets once, so that a missing one is reported at check time, not mid-run."""
    exchange = settings.exchange
    if exchange.uses_oauth2:
        exchange.client_secret()
        exchange.certificate_key()
    else:
        exchange.password()


def _anchored(config: Path, data_dir: Path) -> Path:
    return data_dir if data_dir.is_absolute() else (config.parent / data_dir).resolve()
