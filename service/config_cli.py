"""`einklang config init | check`: write a commented configuration file, and check one."""

from __future__ import annotations

import os
from pathlib import Path

import click

from adapters.erp.cli import OneLineErrors, UserError
from service.config import ConfigError, config_path, load, secrets_present
from service.config_file import Answers, render


@click.group(cls=OneLineErrors)
def config() -> None:
    """Write (init) and check the engine's configuration file."""


@config.command()
@click.option("--erp-url", required=True, help="the ERP database (sqlite:///… or postgresql://…)")
@click.option("--api", type=click.Choice(["ews", "graph"]), default="ews", show_default=True,
              help="EWS (on-premises) or Microsoft Graph (Exchange Online, R20)")  # fmt: skip
@click.option("--ews-url", default="", help="the EWS endpoint (https://host/EWS/Exchange.asmx)")
@click.option("--auth", type=click.Choice(["basic", "ntlm", "oauth2"]), help="EWS sign-in")
@click.option("--username", default="", help="the service account (basic, ntlm)")
@click.option("--password-env", default="", help="the variable holding its password")
@click.option("--tenant-id", "--tenant", default="", help="the tenant (oauth2, graph)")
@click.option("--client-id", default="", help="the app's client id (oauth2, graph)")
@click.option("--client-secret-env", "--secret-env", default="",
              help="the variable holding the app's secret (oauth2, graph)")  # fmt: skip
@click.option("--certificate-key-file", type=click.Path(path_type=Path),
              help="graph: the app certificate's PEM private key, instead of a secret")  # fmt: skip
@click.option("--certificate-thumbprint", default="", help="graph: that certificate's thumbprint")
@click.option("--graph-url", default="", help="graph: the endpoint (default Microsoft's)")
@click.option("--mail-domain", default="", help="mailbox = login name @ this domain (R9)")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("."))
@click.option("--store-url", default="", help="the event store (default: DATA_DIR/events.sqlite3)")
@click.option("--automatic-sync", is_flag=True, help="switch automatic synchronisation on (R10)")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
@click.option("--force", is_flag=True, help="overwrite an existing file")
def init(
    erp_url: str,
    api: str,
    ews_url: str,
    auth: str | None,
    username: str,
    password_env: str,
    tenant_id: str,
    client_id: str,
    client_secret_env: str,
    certificate_key_file: Path | None,
    certificate_thumbprint: str,
    graph_url: str,
    mail_domain: str,
    data_dir: Path,
    store_url: str,
    automatic_sync: bool,
    output: Path,
    force: bool,
) -> None:
    """Write a commented configuration file that `einklang --config FILE run` uses as it is."""
    if output.exists() and not force:
        raise UserError(f"{output} exists: choose another path or add --force")
    if api == "graph":
        ews_only = {"--ews-url": ews_url, "--auth": auth, "--username": username,
                    "--password-env": password_env}  # fmt: skip
        given = [name for name, value in ews_only.items() if value]
        if given:
            raise UserError(
                f"{', '.join(given)}: EWS only; --api graph signs in as the app "
                "(--tenant, --client-id, --secret-env or --certificate-key-file)"
            )
    else:
        graph_only = {"--graph-url": graph_url, "--certificate-key-file": certificate_key_file,
                      "--certificate-thumbprint": certificate_thumbprint}  # fmt: skip
        given = [name for name, value in graph_only.items() if value]
        if given:
            raise UserError(f"{', '.join(given)}: only with --api graph")
        if not ews_url or auth is None:
            missing = [n for n, v in (("--ews-url", ews_url), ("--auth", auth)) if not v]
            raise UserError(f"--api ews needs {' and '.join(missing)} (or give --api graph)")
    answers = Answers(
        erp_url=erp_url,
        api=api,  # type: ignore[arg-type]  # click.Choice narrowed it
        ews_url=ews_url,
        auth=auth or "ntlm",  # type: ignore[arg-type]  # click.Choice narrowed it
        username=username,
        password_env=password_env,
        tenant_id=tenant_id,
        client_id=client_id,
        client_secret_env=client_secret_env,
        certificate_key_file=certificate_key_file,
        certificate_thumbprint=certificate_thumbprint,
        graph_url=graph_url,
        mail_domain=mail_domain,
        data_dir=data_dir,
        automatic_sync=automatic_sync,
        store_url=store_url,
    )
    text = render(answers)
    temporary = output.with_name(output.name + ".tmp")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text, encoding="utf-8")
        try:
            load(temporary)  # what we write must be what `run` accepts (secrets aside)
        except ConfigError as exc:
            raise UserError(str(exc).replace(str(temporary), "the answers")) from None
        os.replace(temporary, output)
    except OSError as exc:
        raise UserError(f"{output}: cannot write it: {exc.strerror}") from None
    finally:
        temporary.unlink(missing_ok=True)
    click.echo(f"wrote {output}; check it with: einklang --config {output} config check")


@config.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate the configuration file and its secrets; say exactly what is wrong."""
    try:
        path = config_path(ctx.find_root().params.get("config"))
        settings = load(path)
        secrets_present(settings)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    sync = "on" if settings.sync.automatic_sync else "off (switch it on with [sync] automatic_sync)"
    api = "Microsoft Graph" if settings.exchange.api == "graph" else "EWS"
    click.echo(f"{path}: ok — Exchange over {api}, automatic synchronisation {sync}")
