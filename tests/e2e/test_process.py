"""`einklang run` as a process: changes on both sides, SIGKILL mid-stream, changes while it is
down, a restart — and the two sides converge with nothing lost or duplicated (R15); SIGTERM ends
it cleanly (issue 11). The same story with the engine over Microsoft Graph (R20, issue 14)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.conftest import MUELLER, SCHMIDT, World
from tests.e2e.support import at, sync_id, wait_for

LOGINS = {"mueller": MUELLER, "schmidt": SCHMIDT}
INFO = "Kalenderinformation: nur intern"


def utc(moment: Any) -> datetime:
    if isinstance(moment, str):  # UtcTimestamp reads back as text on SQLite
        moment = datetime.fromisoformat(moment).replace(tzinfo=UTC)
    assert isinstance(moment, datetime), moment
    return datetime.fromtimestamp(moment.timestamp(), UTC)  # EWSDateTime too


def differences(world: World) -> list[str]:
    """Every way the two sides disagree (empty: converged). R15: each ERP item has exactly one
    Exchange item carrying a sync id, each Exchange item one ERP row, contents agree."""
    problems: list[str] = []
    erp_appointments = world.erp.appointments()
    erp_tasks = world.erp.tasks()
    seen_ids: Counter[str] = Counter()
    for login, mailbox in LOGINS.items():
        items = world.outlook.appointments(mailbox)
        rows = [r for r in erp_appointments if r["user_login"] == login]
        by_subject = Counter(item.subject for item in items)
        problems += [f"{mailbox}: {n} × {s!r}" for s, n in by_subject.items() if n > 1]
        problems += [f"{login}: {n} ERP rows {s!r}" for s, n in
                     Counter(r["subject"] for r in rows).items() if n > 1]  # fmt: skip
        exchange = {item.subject: item for item in items}
        erp = {row["subject"]: row for row in rows}
        if set(exchange) != set(erp):
            problems.append(
                f"{login}: only in ERP {sorted(set(erp) - set(exchange))}, "
                f"only in Exchange {sorted(set(exchange) - set(erp))}"
            )
        for subject in set(exchange) & set(erp):
            item, row = exchange[subject], erp[subject]
            problems += _identity_differences(subject, sync_id(item), row, seen_ids)
            if (utc(item.start), utc(item.end)) != (utc(row["starts_at"]), utc(row["ends_at"])):
                problems.append(f"{subject!r}: Exchange {item.start}–{item.end}, "
                                f"ERP {row['starts_at']}–{row['ends_at']}")  # fmt: skip
            if (item.location or "") != row["location"]:
                problems.append(f"{subject!r}: location {item.location!r} ≠ {row['location']!r}")
            if row["rrule"]:
                problems += _series_differences(world, item, row)
        tasks = world.outlook.tasks(mailbox)
        over_graph = world.graph.task_sync_ids(mailbox) if world.graph is not None else None
        task_rows = {r["subject"]: r for r in erp_tasks if r["user_login"] == login}
        by_task = Counter(t.subject for t in tasks)
        problems += [f"{mailbox}: {n} × task {s!r}" for s, n in by_task.items() if n > 1]
        if set(by_task) != set(task_rows):
            problems.append(f"{login}: tasks ERP {sorted(task_rows)} ≠ Exchange {sorted(by_task)}")
        for task in tasks:
            task_row = task_rows.get(task.subject)
            if task_row is None:
                continue
            exchange_id = sync_id(task) if over_graph is None else over_graph.get(task.subject)
            problems += _identity_differences(task.subject, exchange_id, task_row, seen_ids)
            if (task.status == "Completed") != (task_row["status"] == "completed"):
                problems.append(f"task {task.subject!r}: {task.status} ≠ ERP {task_row['status']}")
    problems += [f"sync id {sid} on {n} pairs" for sid, n in seen_ids.items() if n > 1]
    return problems


def _identity_differences(
    subject: str, exchange_id: str | None, row: Any, seen: Counter[str]
) -> list[str]:
    """The pair shares one sync id: written on the Exchange item for what the engine exported,
    on the ERP row for what it imported (an item made in Outlook keeps its own id there)."""
    erp_id = row["sync_id"]
    if exchange_id is None and erp_id is None:
        return [f"{subject!r}: neither side carries a sync id"]
    if exchange_id is not None and erp_id is not None and exchange_id != erp_id:
        return [f"{subject!r}: ERP sync id {erp_id} ≠ Exchange {exchange_id}"]
    seen[exchange_id or erp_id] += 1
    return []


def _series_differences(world: World, item: Any, row: Any) -> list[str]:
    exceptions = [e for e in world.erp.exceptions() if e["appointment_id"] == row["id"]]
    deleted = sorted(utc(e["original_start"]) for e in exceptions if e["deleted"])
    moved = sorted(utc(e["original_start"]) for e in exceptions if not e["deleted"])
    in_exchange_deleted = sorted(utc(o.start) for o in item.deleted_occurrences or [])
    in_exchange_moved = sorted(utc(o.original_start) for o in item.modified_occurrences or [])
    if (deleted, moved) != (in_exchange_deleted, in_exchange_moved):
        return [f"series {row['subject']!r}: ERP deleted {deleted} moved {moved}, Exchange "
                f"deleted {in_exchange_deleted} moved {in_exchange_moved}"]  # fmt: skip
    return []


def converge(world: World, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    problems: list[str] = []
    while time.monotonic() < deadline:
        problems = differences(world)
        if not problems:
            return
        assert world.engine.running(), f"the engine ended: {world.engine.output()}"
        time.sleep(0.3)
    raise AssertionError("no convergence:\n" + "\n".join(problems) + "\n" + world.engine.output())


def subscribed(world: World, *logins: str) -> None:
    def all_subscribed() -> bool:
        rows = {row["user"]: row for row in world.engine.status()}
        return all(rows.get(login, {}).get("subscribed") is True for login in logins)

    try:
        wait_for(f"{logins} subscribed", all_subscribed, timeout_s=120)
    except AssertionError as failed:  # say what the engine said (seen once under a full load)
        raise AssertionError(f"{failed}\nengine output:\n{world.engine.output()[-4000:]}") from None


@pytest.mark.parametrize(
    "world", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "graph"],
    indirect=True,
)  # fmt: skip
def test_r15_r20_killed_and_restarted_the_engine_converges_with_nothing_lost_or_duplicated(
    world: World,
) -> None:
    erp, outlook, engine = world.erp, world.outlook, world.engine
    erp.add_user("mueller", MUELLER)
    erp.add_user("schmidt", SCHMIDT)
    engine.start()
    subscribed(world, "mueller", "schmidt")
    over = "Graph, delta polling" if world.graph is not None else "EWS, streaming"
    assert over in engine.log.read_text(), engine.output()  # the API configured (R20)

    # Both sides change while the engine runs.
    review = erp.appointment("mueller", "Review", at(1, 9), info_text=INFO)
    erp.task("schmidt", "Angebot schreiben")
    series_start = at(2, 8)
    weekly = erp.appointment("mueller", "Jour fixe", series_start, rrule="FREQ=WEEKLY;COUNT=5")
    moved = series_start + timedelta(days=7)
    erp.editor.set_exception(weekly, moved, {"starts_at": moved + timedelta(hours=2),
                                             "ends_at": moved + timedelta(hours=3)})  # fmt: skip
    erp.editor.set_exception(weekly, series_start + timedelta(days=14), {"deleted": True})
    outlook.create_appointment(MUELLER, "Zahnarzt", at(1, 15), body="privat: nicht ins ERP")
    outlook.create_task(SCHMIDT, "Rückruf Kunde")
    converge(world)

    # Outlook edits an exported item: location and body; a task is completed in Outlook.
    item = outlook.appointment(MUELLER, "Review")
    assert item is not None
    outlook.edit(item, location="Raum 7", body="edited in Outlook")
    task = outlook.task(SCHMIDT, "Angebot schreiben")
    assert task is not None
    outlook.edit(task, status="Completed", percent_complete=Decimal(100))
    # R2 the other way: Outlook moves the 4th occurrence of the series and deletes the 5th.
    series = outlook.appointment(MUELLER, "Jour fixe")
    assert series is not None
    fourth = series.occurrence(index=4)
    fourth.refresh()
    outlook.edit(fourth, start=series_start + timedelta(days=21, hours=1),
                 end=series_start + timedelta(days=21, hours=2))  # fmt: skip
    fifth = series.occurrence(index=5)
    fifth.refresh()
    fifth.delete()
    converge(world)
    exceptions = erp.exceptions()
    assert len(exceptions) == 4, exceptions

    # A burst of ERP work, and SIGKILL while the engine has it in hand.
    burst = [erp.appointment("schmidt", f"Termin {n}", at(3, 7 + n)) for n in range(8)]
    wait_for("the first of the burst in Exchange",
             lambda: outlook.appointment(SCHMIDT, "Termin 0"), timeout_s=30)  # fmt: skip
    engine.kill()

    # Both sides change while it is down.
    erp.editor.edit("appointment", review, {"starts_at": at(1, 10), "ends_at": at(1, 11)})
    erp.editor.delete("appointment", burst[3])
    erp.appointment("mueller", "Planung", at(4, 9))
    zahnarzt = outlook.appointment(MUELLER, "Zahnarzt")
    assert zahnarzt is not None
    outlook.edit(zahnarzt, start=at(1, 16), end=at(1, 17))
    callback = outlook.task(SCHMIDT, "Rückruf Kunde")
    assert callback is not None
    outlook.delete(callback)
    outlook.create_appointment(SCHMIDT, "Messe", at(5, 9))

    engine.start()
    converge(world)

    # R6: the info text went ERP → Exchange only; Outlook's bodies never reached the ERP.
    rows = {row["subject"]: row for row in erp.appointments()}
    assert rows["Review"]["info_text"] == INFO
    assert rows["Review"]["location"] == "Raum 7"
    assert rows["Zahnarzt"]["info_text"] == ""
    assert utc(rows["Zahnarzt"]["starts_at"]) == at(1, 16)
    assert "Termin 3" not in rows and "Rückruf Kunde" not in {t["subject"] for t in erp.tasks()}
    assert {t["subject"]: t["status"] for t in erp.tasks()} == {"Angebot schreiben": "completed"}

    # SIGTERM: the round in flight finishes, the process exits 0 within seconds.
    erp.appointment("mueller", "Nachzügler", at(6, 9))
    started = time.monotonic()
    assert engine.terminate(timeout_s=15) == 0, engine.output()
    took = time.monotonic() - started
    assert took < 8, f"{took:.1f} s\n{engine.output()}"  # 11 s before watcher.close was fixed
    assert "finishing the round in flight" in engine.output()
    engine.start()
    converge(world)
