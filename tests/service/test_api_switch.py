"""An event store belongs to one Exchange protocol (R20, assumption GA5): its item ids are EWS
ids or Graph ids, and a To Do task's sync id does not cross protocols — so `einklang run` over
Graph on a store written over EWS (or the reverse) would duplicate tasks. It is refused with one
line, exit 2, and the store is left as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.store import EventStore, StoreLocation
from service.cli import main
from service.config import ConfigError
from service.wiring import API_CHECKPOINT, claim_api


def store(path: Path) -> EventStore:
    return EventStore(StoreLocation(str(path)))


def test_r20_a_fresh_store_is_claimed_by_the_first_api_and_refuses_the_other(
    tmp_path: Path,
) -> None:
    events = store(tmp_path / "events.sqlite3")
    try:
        claim_api(events, "graph")
        assert events.checkpoints()[API_CHECKPOINT] == "graph"
        claim_api(events, "graph")  # the same protocol again: fine
        with pytest.raises(ConfigError, match=r'written over GRAPH.*keep api = "graph"'):
            claim_api(events, "ews")
    finally:
        events.close()


def test_r20_a_store_written_over_ews_before_the_record_existed_refuses_graph(
    tmp_path: Path,
) -> None:
    events = store(tmp_path / "events.sqlite3")
    try:
        events.save_batch((), {"exchange:mueller:task": "changes H4sIAAAAAAAEAO29B2A"})
        with pytest.raises(ConfigError, match=r"written over EWS.*task sync ids"):
            claim_api(events, "graph")
        assert API_CHECKPOINT not in events.checkpoints()  # left as it was
        claim_api(events, "ews")
        assert events.checkpoints()[API_CHECKPOINT] == "ews"
    finally:
        events.close()


def test_r20_einklang_run_over_graph_on_an_ews_store_is_one_line_exit_2(tmp_path: Path) -> None:
    events = store(tmp_path / "events.sqlite3")
    claim_api(events, "ews")
    events.close()
    config = tmp_path / "einklang.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\n[erp]\nurl = "sqlite:///erp.sqlite3"\n'
        '[store]\nurl = "sqlite:///events.sqlite3"\n'
        '[exchange]\napi = "graph"\ntenant_id = "t"\nclient_id = "c"\n'
        'client_secret_env = "SWITCH_SECRET"\n[sync]\nautomatic_sync = true\n[http]\nport = 0\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main, ["--config", str(config), "run"], env={"SWITCH_SECRET": "s3cret-value"}
    )
    assert result.exit_code == 2, result.output
    assert 'exchange.api = "graph": this event store was written over EWS' in result.output
    assert len(result.output.strip().splitlines()) == 1 and "s3cret-value" not in result.output
