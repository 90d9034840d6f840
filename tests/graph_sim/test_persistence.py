"""With --data, what a Graph request changed is on disk before its answer goes out."""

from __future__ import annotations

from pathlib import Path

from sim.clock import ManualClock
from sim.graph.ids import ews_id
from sim.persistence import StoreFile
from sim.server import EwsServer, ServerConfig
from sim.tls import TlsFiles
from tests.graph_sim.support import Graph, graph_token, msal_app
from tests.sim.support import ALICE, APP


def test_r20_graph_writes_are_kept_before_the_answer(tmp_path: Path, graph_tls: TlsFiles) -> None:
    data = StoreFile(tmp_path / "data")
    store = data.load(clock=ManualClock())
    store.add_mailbox(ALICE)
    with EwsServer(store, ServerConfig(apps=(APP,), tls=graph_tls), data) as server:
        graph = Graph(
            server, graph_tls.certificate, graph_token(msal_app(server, graph_tls.certificate))
        )
        body = {
            "subject": "bleibt",
            "start": {"dateTime": "2026-03-10T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-03-10T10:00:00", "timeZone": "UTC"},
        }
        created = graph.ok(graph.post(f"/users/{ALICE}/events", body), 201)
        kept = StoreFile(tmp_path / "data").load()  # read while the server still runs
        graph.close()
    assert kept.get_item(ews_id(created["id"])).subject == "bleibt"
