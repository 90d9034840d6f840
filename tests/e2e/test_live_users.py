"""Users followed live (R11) with their state in `einklang status` (R12): while `einklang run`
runs, the ERP switches a user's allow-sync flag and locks the login; the subscription goes and
comes back without a restart, and `status --json` says why — over EWS, and with the engine over
Microsoft Graph (R20: delta polling starts and stops with the user)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import MUELLER, SCHMIDT, World
from tests.e2e.support import at, wait_for


def _state(world: World, login: str) -> dict[str, Any] | None:
    return world.engine.user_status(login)


def _until(world: World, login: str, **expected: Any) -> dict[str, Any]:
    seen: list[dict[str, Any] | None] = [None]

    def matches() -> dict[str, Any] | None:
        row = seen[0] = _state(world, login)
        if row is not None and all(row.get(k) == v for k, v in expected.items()):
            return row
        assert world.engine.running(), world.engine.output()
        return None

    try:
        return wait_for(f"{login} with {expected}", matches, timeout_s=45)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nstatus: {seen[0]}\n{world.engine.output()}") from None


@pytest.mark.parametrize("world", ["sqlite", "graph"], indirect=True)
def test_r11_r12_allow_sync_and_lock_toggled_live_subscribe_and_unsubscribe(world: World) -> None:
    erp, engine, outlook = world.erp, world.engine, world.outlook
    mueller = erp.add_user("mueller", MUELLER)
    erp.add_user("schmidt", SCHMIDT, allow_sync=False)
    engine.start()

    row = _until(world, "mueller", eligible=True, subscribed=True)
    assert row["mailbox"] == MUELLER and row["failed_items"] == 0
    off = _until(world, "schmidt", eligible=False)
    assert "allow automatic Exchange sync" in off["reason"] and off["subscribed"] is not True

    # Allowed in the ERP: schmidt is subscribed without a restart, and Outlook reaches the ERP.
    erp.editor.edit("user", erp.user_id("schmidt"), {"allow_exchange_sync": True})
    _until(world, "schmidt", eligible=True, subscribed=True, reason="eligible")
    outlook.create_appointment(SCHMIDT, "Besprechung", at(1, 9))
    wait_for("schmidt's Outlook item in the ERP",
             lambda: [r for r in erp.appointments() if r["subject"] == "Besprechung"])  # fmt: skip

    # The flag taken away again: the subscription ends, the reason shows.
    erp.editor.edit("user", erp.user_id("schmidt"), {"allow_exchange_sync": False})
    row = _until(world, "schmidt", eligible=False, subscribed=False)
    assert "allow automatic Exchange sync" in row["reason"]

    # mueller's login locked, then unlocked.
    erp.editor.edit("user", mueller, {"locked": True})
    row = _until(world, "mueller", eligible=False, subscribed=False)
    assert row["reason"] == "the login is locked"
    erp.editor.edit("user", mueller, {"locked": False})
    _until(world, "mueller", eligible=True, subscribed=True, reason="eligible")
    outlook.create_appointment(MUELLER, "Wieder da", at(2, 9))
    wait_for("mueller's Outlook item in the ERP",
             lambda: [r for r in erp.appointments() if r["subject"] == "Wieder da"])  # fmt: skip
    assert engine.running(), "users came and went without a restart"
