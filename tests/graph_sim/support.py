"""Helpers for the Graph simulator tests: the strict schema check, msal tokens, an httpx client."""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import msal
import requests
from referencing import Registry, Resource

from sim.server import EwsServer
from tests.sim.support import APP, PROJECT_ROOT, TENANT

STRICT_SCHEMA = PROJECT_ROOT / ".." / "shared" / "graph-reference" / "graph_schemas.strict.json"
GRAPH_SCOPES = ["https://graph.microsoft.com/.default"]
SCHEMA_ID = "urn:graph-sim:strict"


class GraphSchema:
    """graph_schemas.strict.json, Draft 2020-12 with format checking, by $defs name."""

    def __init__(self, path: Path = STRICT_SCHEMA) -> None:
        document = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(document)
        self.registry: Registry[Any] = Registry().with_resource(SCHEMA_ID, resource)
        self.names = set(document["$defs"])
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}

    def errors(self, name: str, instance: Any) -> list[str]:
        if name not in self.names:
            return [f"no schema named {name}"]
        validator = self._validators.get(name)
        if validator is None:
            validator = jsonschema.Draft202012Validator(
                {"$ref": f"{SCHEMA_ID}#/$defs/{name}"},
                registry=self.registry,
                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
            )
            self._validators[name] = validator
        return [
            f"{name} at /{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(instance)
        ]


@dataclass
class SchemaCheck:
    """Collects schema violations of everything the simulator accepts and sends."""

    schema: GraphSchema
    checked: int = 0
    violations: list[str] = field(default_factory=list)

    def __call__(self, direction: str, name: str, body: Any) -> None:
        self.checked += 1
        self.violations += [f"{direction}: {e}" for e in self.schema.errors(name, body)]

    def take(self) -> list[str]:
        taken, self.violations = self.violations, []
        return taken


def msal_app(server: EwsServer, certificate: Path, secret: str = APP.client_secret) -> Any:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(certificate)
    return msal.ConfidentialClientApplication(
        APP.client_id,
        client_credential=secret,
        authority=server.authority(TENANT),
        instance_discovery=False,
        http_client=session,
    )


def graph_token(app: Any) -> str:
    result = app.acquire_token_for_client(scopes=GRAPH_SCOPES)
    if "access_token" not in result:
        raise RuntimeError(f"msal could not get a token: {result.get('error')}")
    return str(result["access_token"])


class Graph:
    """A thin httpx client for the simulator's /v1.0 with msal's Bearer token."""

    def __init__(self, server: EwsServer, certificate: Path, token: str) -> None:
        context = ssl.create_default_context(cafile=str(certificate))
        self.token = token
        self.http = httpx.Client(base_url=server.graph_url, verify=context, trust_env=False)

    def request(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        return self.http.request(method, url, headers=sent, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, json=body, **kwargs)

    def patch(self, url: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, json=body, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def close(self) -> None:
        self.http.close()
