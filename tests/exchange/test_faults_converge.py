"""After every named fault the two sides converge with nothing lost or duplicated (issue 10's
and issue 14's acceptance suite, one suite over EWS and Graph).

Each case links items on both sides (an appointment, a weekly series, a task each way), then
makes the fault happen while people edit on both sides — an ERP user moves an appointment,
modifies one occurrence of the series and deletes another, sets a task in progress with a new
due date, deletes an appointment and creates one; a user in Outlook renames an appointment and
types in its body, completes a task, deletes an appointment and creates one. The engine goes on
with its rounds through the fault; once the fault is over it catches up, and then: every edit
arrived once, every item on either side has exactly one counterpart with equal synced fields,
the Outlook body never reached the ERP (R6), and where the fault made a write fail, the
transfer log says why.

The simulator fails the way Exchange does (sim/faults.py, sim/graph/faults.py); the engine's
side goes over the wire with the real exchangelib or httpx, and the real msal. Faults that
exist on one protocol only run on that one (streaming-subscription faults, which need the
watcher, are in test_faults_engine_loop.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from exchangelib.protocol import BaseProtocol

from sim.faults import ResponseError, ServerBusy
from sim.graph.faults import Throttled
from tests.exchange.fault_world import MUELLER, Api, FaultWorld, Workload, failures, fault_world

Step = Callable[[FaultWorld], None]


@pytest.fixture(autouse=True)
def _restore_http_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    """An EWS connection sets exchangelib's process-wide HTTP adapter: put it back after."""
    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", BaseProtocol.HTTP_ADAPTER_CLS)


def _nothing(world: FaultWorld) -> None:
    pass


@dataclass(frozen=True)
class Fault:
    """How to make it happen and how it ends; what the transfer log says meanwhile."""

    name: str
    apis: tuple[Api, ...]
    inject: Step
    clear: Step = _nothing
    evidence: dict[str, str] | None = None  # per API: in a failed transfer-log row's error
    oauth: bool = False  # EWS with OAuth2 through msal instead of Basic
    edits_after_inject: bool = True  # False: people edit before the fault starts


# ---- the faults ----------------------------------------------------------------------------


def _deny(world: FaultWorld) -> None:
    if world.api == "graph":
        assert world.server.graph is not None
        world.server.graph.settings.deny(MUELLER)  # Application Access Policy
    else:
        world.server.faults.add(
            ResponseError("ErrorImpersonateUserDenied"), mailbox=MUELLER, times=None
        )


def _allow(world: FaultWorld) -> None:
    if world.api == "graph":
        assert world.server.graph is not None
        world.server.graph.settings.allow(MUELLER)
    else:
        world.server.faults.clear()


def _deny_and_restart(world: FaultWorld) -> None:
    """Denied, and the engine restarts meanwhile: it finds the mailbox unreachable (R12)."""
    _deny(world)
    world.harness.restart()


def _busy(world: FaultWorld) -> None:
    world.server.faults.add(ServerBusy(back_off_ms=2000), times=None)


def _throttle(world: FaultWorld) -> None:
    assert world.server.graph is not None
    world.server.graph.faults.add(Throttled(retry_after=1), times=None)


def _unthrottle(world: FaultWorld) -> None:
    assert world.server.graph is not None
    world.server.graph.faults.clear()


def _clear_ews(world: FaultWorld) -> None:
    world.server.faults.clear()


def _expire_token(world: FaultWorld) -> None:
    # The simulator's tokens live 60 minutes on its clock; msal's cache still holds the old one.
    world.harness.clock.advance(minutes=61)


def _invalidate_sync_states(world: FaultWorld) -> None:
    """Every sync state (EWS) or delta token (Graph, 410 syncStateNotFound) handed out so far
    is refused from now on."""
    world.harness.exchange.invalidate_sync_states()


def _sync_states_valid_again(world: FaultWorld) -> None:
    if world.api == "ews":  # the simulator's age limit back to its default
        store = world.outlook.store
        store.settings = type(store.settings)()


def _stop_simulator(world: FaultWorld) -> None:
    world.simulator_down()


def _start_simulator(world: FaultWorld) -> None:
    world.simulator_up()


FAULTS = [
    Fault(
        "impersonation_denied",
        ("ews", "graph"),
        _deny,
        _allow,
        evidence={"ews": "ErrorImpersonateUserDenied", "graph": "MailboxDenied: ErrorAccessDenied"},
    ),
    Fault(
        "impersonation_denied_across_a_restart",
        ("ews", "graph"),
        _deny_and_restart,
        _allow,
        edits_after_inject=False,
    ),
    Fault("token_expiry", ("ews", "graph"), _expire_token, oauth=True),
    Fault("server_busy", ("ews",), _busy, _clear_ews, evidence={"ews": "ErrorServerBusy"}),
    Fault(
        "throttled_429",
        ("graph",),
        _throttle,
        _unthrottle,
        evidence={"graph": "Throttled: TooManyRequests"},
    ),
    Fault(
        "invalid_sync_state",
        ("ews", "graph"),
        _invalidate_sync_states,
        _sync_states_valid_again,
        edits_after_inject=False,
    ),
    Fault(
        "simulator_restart",
        ("ews", "graph"),
        _stop_simulator,
        _start_simulator,
        evidence={"ews": "ConnectionError", "graph": "ConnectError"},
        edits_after_inject=False,
    ),
]


def _cases() -> Iterator[object]:
    for fault in FAULTS:
        for api in ("ews", "graph"):
            marks = [] if api in fault.apis else [pytest.mark.skip(reason=f"no such {api} fault")]
            yield pytest.param(api, fault, id=f"{api}-{fault.name}", marks=marks)


@pytest.mark.parametrize(("api", "fault"), list(_cases()))
def test_after_the_fault_both_sides_converge_with_nothing_lost_or_duplicated(
    tmp_path: Path, api: Api, fault: Fault
) -> None:
    with fault_world(tmp_path, api, oauth=fault.oauth) as world:
        work = Workload(world)
        work.before()
        if not fault.edits_after_inject:
            work.edit_erp()
            work.edit_outlook()
        fault.inject(world)
        if fault.edits_after_inject:
            work.edit_erp()
            work.edit_outlook()
        world.rounds(3)  # the engine keeps running through the fault
        fault.clear(world)
        world.settle()
        work.check()
        if fault.evidence is not None:
            said = fault.evidence[api]
            assert any(said in error for error in failures(world)), failures(world)
