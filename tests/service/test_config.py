"""The engine's configuration (DESIGN §7, R7–R11): `einklang config init | check` and loading."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from eventsourcing.application import LRUCache
from pydantic import ValidationError

from service.cli import main
from service.config import EXCHANGE_ONLINE_EWS, ConfigError, Settings, load
from service.stores import open_store

SECRET = "s3cr3t-Passw0rd!"


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def init(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "einklang.toml"
    result = run(
        "config",
        "init",
        "--erp-url",
        "sqlite:///erp.sqlite3",
        "--ews-url",
        "https://mail.example.com/EWS/Exchange.asmx",
        "--auth",
        "ntlm",
        "--username",
        "EXAMPLE\\svc-einklang",
        "--password-env",
        "EWS_PASSWORD",
        "-o",
        str(out),
        *extra,
    )
    assert result.exit_code == 0, result.output
    return out


def test_init_writes_a_file_that_check_accepts_with_the_reference_defaults(tmp_path: Path) -> None:
    path = init(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "R10" in text and "R7" in text  # commented with the rules it serves
    result = run("--config", str(path), "config", "check", env={"EWS_PASSWORD": SECRET})
    assert result.exit_code == 0, result.output
    assert "automatic synchronisation off" in result.output
    settings = load(path)
    # The reference ERP's defaults; automatic synchronisation is switched on explicitly (R10).
    assert settings.sync.automatic_sync is False
    options = settings.sync.options()
    assert (options.export_enabled, options.import_enabled) == (True, True)
    assert (options.sync_appointments, options.sync_tasks) == (True, True)
    assert options.write_info_text is False  # R7 "do not write info text" is on
    assert settings.exchange.online_oauth2 is False
    assert settings.exchange.auth == "ntlm"
    assert settings.data_dir == tmp_path.resolve()


def test_automatic_sync_flag_and_environment_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load(init(tmp_path, "--automatic-sync")).sync.automatic_sync is True
    plain = init(tmp_path / "b")
    monkeypatch.setenv("EINKLANG_SYNC__AUTOMATIC_SYNC", "true")
    monkeypatch.setenv("EINKLANG_SYNC__CONFLICT_POLICY", "newest_wins")
    settings = load(plain)
    assert settings.sync.automatic_sync is True
    assert settings.sync.conflict_policy == "newest_wins"
    assert settings.exchange.username == "EXAMPLE\\svc-einklang"  # the file still counts


def test_config_from_the_environment_variable(tmp_path: Path) -> None:
    path = init(tmp_path)
    result = run("config", "check", env={"EINKLANG_CONFIG": str(path), "EWS_PASSWORD": SECRET})
    assert result.exit_code == 0, result.output


def test_the_secret_is_read_at_start_and_never_shown(tmp_path: Path) -> None:
    path = init(tmp_path)
    assert SECRET not in path.read_text(encoding="utf-8")
    result = run("--config", str(path), "config", "check", env={"EWS_PASSWORD": SECRET})
    assert result.exit_code == 0
    settings = load(path)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EWS_PASSWORD", SECRET)
        password = settings.exchange.password()
    assert password is not None and password.get_secret_value() == SECRET
    assert SECRET not in repr(password) and SECRET not in str(password)
    assert SECRET not in result.output


def test_a_secret_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    path = tmp_path / "c.toml"
    path.write_text(
        init(tmp_path / "x")
        .read_text(encoding="utf-8")
        .replace('password_env = "EWS_PASSWORD"', f"password_file = {str(secret)!r}"),
        encoding="utf-8",
    )
    password = load(path).exchange.password()
    assert password is not None and password.get_secret_value() == SECRET


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[sync]", "[sync]\nbogus = 1"), "sync.bogus: unknown setting"),
        (('auth = "ntlm"', 'auth = "kerberos"'), "exchange.auth: Input should be"),
        (("[erp]\n", "[erp]\nurl = 1\n"), "not valid TOML"),  # a key given twice
        (('auth = "ntlm"', 'auth = "oauth2"'), 'exchange: auth = "oauth2" needs tenant_id'),
        (('mail_domain = ""', 'mail_domain = "no domain"'), "exchange.mail_domain: give"),
        (("deletion_burst_threshold = 25", "deletion_burst_threshold = 0"), "greater than"),
        (("poll_interval_s = 5.0", 'poll_interval_s = "soon"'), "exchange.poll_interval_s"),
    ],
)
def test_check_says_exactly_what_is_wrong(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = init(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    result = run("--config", str(path), "config", "check", env={"EWS_PASSWORD": SECRET})
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_check_reports_a_missing_secret_missing_file_and_bad_bytes(tmp_path: Path) -> None:
    path = init(tmp_path)
    result = run("--config", str(path), "config", "check", env={"EWS_PASSWORD": ""})
    assert result.exit_code == 0  # set, even if empty: Exchange will say whether it is right
    missing = CliRunner(env={"EWS_PASSWORD": None}).invoke(
        main, ["--config", str(path), "config", "check"]
    )
    assert missing.exit_code == 2
    assert "EWS_PASSWORD is not set" in missing.output
    nowhere = run("--config", str(tmp_path / "absent.toml"), "config", "check")
    assert nowhere.exit_code == 2 and "no such file" in nowhere.output
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(path.read_bytes().replace(b"svc-einklang", b"svc-\xe9"))
    bad = run("--config", str(latin1), "config", "check", env={"EWS_PASSWORD": SECRET})
    assert bad.exit_code == 2 and "not UTF-8" in bad.output
    none = CliRunner(env={"EINKLANG_CONFIG": None}).invoke(main, ["config", "check"])
    assert none.exit_code == 2 and "no configuration" in none.output


def test_init_does_not_overwrite_and_checks_its_answers(tmp_path: Path) -> None:
    path = init(tmp_path)
    again = run(
        "config", "init", "--erp-url", "x", "--ews-url", "https://h/EWS", "--auth", "basic",
        "-o", str(path),
    )  # fmt: skip
    assert again.exit_code == 2 and "exists" in again.output
    incomplete = run(
        "config", "init", "--erp-url", "x", "--ews-url", "https://h/EWS", "--auth", "oauth2",
        "-o", str(tmp_path / "new.toml"),
    )  # fmt: skip
    assert incomplete.exit_code == 2
    assert "needs tenant_id, client_id" in incomplete.output
    assert not (tmp_path / "new.toml").exists()


def test_exchange_online_with_oauth2_defaults_to_its_endpoint() -> None:
    settings = Settings(
        erp={"url": "sqlite:///erp.sqlite3"},
        store={"url": "sqlite:///events.sqlite3"},
        exchange={
            "online_oauth2": True,
            "auth": "oauth2",
            "tenant_id": "t",
            "client_id": "c",
            "client_secret_env": "SECRET",
        },
    )
    assert settings.exchange.endpoint == EXCHANGE_ONLINE_EWS
    with pytest.raises(ConfigError, match="SECRET is not set"):
        settings.exchange.client_secret()


def test_r9_a_postgresql_erp_in_its_own_schema_is_configurable(tmp_path: Path) -> None:
    """The ERP's tables may live in a PostgreSQL schema (as `einklang erp --schema` makes them);
    the engine must be told which, else it reads the wrong tables (failed before: no setting)."""
    out = init(tmp_path)
    text = out.read_text(encoding="utf-8").replace("# schema = ", "schema = ", 1)
    out.write_text(text, encoding="utf-8")
    settings = load(out)
    assert settings.erp.schema_ == "erp"
    plain = load(init(tmp_path / "plain"))
    assert plain.erp.schema_ is None


# ---- Exchange Online over Microsoft Graph (issue 14, R20) ---------------------------------------


def init_graph(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "graph.toml"
    result = run(
        "config", "init", "--erp-url", "sqlite:///erp.sqlite3", "--api", "graph",
        "--tenant", "contoso.onmicrosoft.com", "--client-id", "c1d2", "--secret-env",
        "GRAPH_SECRET", "-o", str(out), *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_r20_init_for_graph_writes_a_commented_file_that_check_accepts(tmp_path: Path) -> None:
    path = init_graph(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert 'api = "graph"' in text and "Application Access Policy" in text
    assert SECRET not in text
    result = run("--config", str(path), "config", "check", env={"GRAPH_SECRET": SECRET})
    assert result.exit_code == 0, result.output
    assert "Exchange over Microsoft Graph" in result.output and SECRET not in result.output
    exchange = load(path).exchange
    assert (exchange.api, exchange.tenant_id, exchange.client_id) == (
        "graph", "contoso.onmicrosoft.com", "c1d2"
    )  # fmt: skip
    assert exchange.endpoint == "https://graph.microsoft.com/v1.0"
    assert exchange.poll_interval_s == 5.0  # delta polling, the default
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GRAPH_SECRET", SECRET)
        secret = exchange.client_secret()
    assert secret is not None and secret.get_secret_value() == SECRET
    missing = CliRunner(env={"GRAPH_SECRET": None}).invoke(
        main, ["--config", str(path), "config", "check"]
    )
    assert missing.exit_code == 2 and "GRAPH_SECRET is not set" in missing.output


def test_r20_graph_with_a_certificate_reads_its_key_at_check(tmp_path: Path) -> None:
    key = tmp_path / "app-key.pem"
    path = tmp_path / "cert.toml"
    result = run(
        "config", "init", "--erp-url", "sqlite:///erp.sqlite3", "--api", "graph", "--tenant",
        "t", "--client-id", "c", "--certificate-key-file", str(key),
        "--certificate-thumbprint", "AB12", "-o", str(path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    absent = run("--config", str(path), "config", "check")
    assert absent.exit_code == 2 and "certificate_key_file: cannot read" in absent.output
    key.write_text("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
    assert run("--config", str(path), "config", "check").exit_code == 0
    certificate = load(path).exchange.certificate_key()
    assert certificate is not None and "PRIVATE KEY" in certificate.get_secret_value()
    assert "PRIVATE KEY" not in repr(load(path))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--api", "graph", "--client-id", "c", "--secret-env", "S"),
         'api = "graph" needs tenant_id'),
        (("--api", "graph", "--tenant", "t", "--client-id", "c"),
         "needs client_secret_env (or client_secret_file, or a certificate)"),
        (("--api", "graph", "--tenant", "t", "--client-id", "c", "--secret-env", "S",
          "--certificate-key-file", "k.pem", "--certificate-thumbprint", "AB"),
         "a client secret or a certificate, not both"),
        (("--api", "graph", "--tenant", "t", "--client-id", "c", "--secret-env", "S",
          "--auth", "ntlm"), "--auth: EWS only"),
        (("--api", "graph", "--tenant", "t", "--client-id", "c", "--secret-env", "S",
          "--ews-url", "https://h/EWS/Exchange.asmx"), "--ews-url: EWS only"),
        (("--auth", "ntlm", "--username", "u", "--password-env", "P"), "--api ews needs --ews-url"),
        (("--ews-url", "https://h/EWS", "--auth", "basic", "--username", "u", "--password-env",
          "P", "--graph-url", "https://g/v1.0"), "--graph-url: only with --api graph"),
    ],
)  # fmt: skip
def test_r20_init_refuses_bad_combinations_in_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "bad.toml"
    result = run("config", "init", "--erp-url", "sqlite:///e.sqlite3", "-o", str(out), *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('tenant_id = "contoso.onmicrosoft.com"', 'tenant_id = ""'),
         'exchange: api = "graph" needs tenant_id'),
        (("[exchange]", '[exchange]\nauth = "ntlm"'), 'remove auth = "ntlm"'),
        (("[exchange]", '[exchange]\nurl = "https://h/EWS/Exchange.asmx"'),
         'url: EWS only, not with api = "graph"'),
        (("[exchange]", '[exchange]\nnotifications = "streaming"'), "Graph polls delta"),
        (("[exchange]", '[exchange]\ndelete_to = "hard"'), 'delete_to = "hard": EWS only'),
        (('api = "graph"', 'api = "ews"'), "graph_url: only with api = \"graph\""),
        (("graph_url = ", 'graph_url = "graph.example"\n# '), "graph_url must start with"),
    ],
)  # fmt: skip
def test_r20_check_says_exactly_what_is_wrong_with_a_graph_file(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = init_graph(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    result = run("--config", str(path), "config", "check", env={"GRAPH_SECRET": SECRET})
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_the_memory_the_engine_keeps_is_configured_in_the_store_section(tmp_path: Path) -> None:
    """Issue 12: the aggregate cache (items in memory) and SQLite's page cache per connection
    are bounded by `[store]`, with defaults written by `config init`."""
    out = init(tmp_path)
    defaults = load(out)
    assert (defaults.store.aggregate_cache, defaults.store.sqlite_cache_kb) == (20_000, 16_384)
    text = out.read_text(encoding="utf-8")
    text = text.replace("aggregate_cache = 20000", "aggregate_cache = 500")
    text = text.replace("sqlite_cache_kb = 16384", "sqlite_cache_kb = 2048")
    out.write_text(text, encoding="utf-8")
    settings = load(out)
    store = open_store(settings, must_exist=False)
    try:
        cache = store.repository.cache
        assert isinstance(cache, LRUCache) and cache.maxsize == 500
        with store.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute("PRAGMA cache_size")
            assert cursor.fetchone()[0] == -2048
    finally:
        store.close()
    with pytest.raises(ValidationError, match="aggregate_cache"):
        Settings(
            erp={"url": "sqlite:///erp.sqlite3"},
            store={"url": "sqlite:///events.sqlite3", "aggregate_cache": 10},
            exchange={"url": "https://h/EWS"},
        )
