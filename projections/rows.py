"""What each event changes in the read models: one handler per event type, applied in memory.

The follower (`projections.projector`) reads a page of events as plain JSON (no pydantic on
this path) and hands each to the handler of its type (`HANDLERS`); `PageRows` collects the
effect — item rows, deviating occurrences, transfer-log rows and their outcomes, user-status
changes — for one transaction. An item's status, pending writes, retry time and link are folded
by the engine's own rules (`engine.state.Progress`); everything else is carried by the events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from eventsourcing.utils import get_topic

from engine import aggregates as ev
from engine import state as st
from engine.model import Side
from engine.state import Progress, Status, Verdict

Event = dict[str, Any]  # an event's state as recorded (JSON)
Row = dict[str, Any]
Outcome = tuple[str, str | None, str | None, str | None]  # outcome, error, erp_id, exchange_id

STATUS = {s.value: s for s in Status}
VERDICT = {v.value: v for v in Verdict}
SIDE = {s.value: s for s in Side}

# The mapping's columns that a decision or an outcome rewrites (no index covers them), in the
# order `progress_values` gives them; then every column, in the order of `item_values`.
PROGRESS_COLUMNS = (
    "subject",
    "status",
    "reason",
    "sentence",
    "linked",
    "pending",
    "settled",
    "transfer_id",
    "next_retry_at",
    "updated_at",
    "exceptions",
)
ITEM_COLUMNS = ("item", "stream_id", "user", "kind", "erp_id", "exchange_id", *PROGRESS_COLUMNS)


# The transfer log's columns in the order `PageRows` builds its rows (lists, for speed).
LOG_COLUMNS = (
    "id",
    "at",
    "user",
    "item",
    "stream_id",
    "kind",
    "erp_id",
    "exchange_id",
    "subject",
    "trigger",
    "verdict",
    "direction",
    "operation",
    "changed_fields",
    "reason",
    "sentence",
    "outcome",
    "error",
    "details",
    "options_hash",
)
_ERP_ID, _EXCHANGE_ID = LOG_COLUMNS.index("erp_id"), LOG_COLUMNS.index("exchange_id")
_OUTCOME, _ERROR = LOG_COLUMNS.index("outcome"), LOG_COLUMNS.index("error")
_AT, _USER, _DIRECTION = (
    LOG_COLUMNS.index("at"),
    LOG_COLUMNS.index("user"),
    LOG_COLUMNS.index("direction"),
)

# The user-status column that keeps when a transfer last went that way (R12).
LAST_DONE = {"erp_to_exchange": "last_export", "exchange_to_erp": "last_import"}
Transfer = tuple[str, str, str]  # user, direction, at (the decision's time)


def done_in_page(log_rows: Sequence[Sequence[Any]]) -> list[Transfer]:
    """The transfers among a page's new log rows that are done already."""
    return [(r[_USER], r[_DIRECTION], r[_AT]) for r in log_rows if r[_OUTCOME] == "done"]


def last_done(transfers: Sequence[Transfer]) -> list[tuple[str, str | None, str | None]]:
    """Per user, the latest of these done transfers each way: (user, last export, last import)."""
    latest: dict[str, dict[str, str]] = {}
    for user, direction, at in transfers:
        column = LAST_DONE.get(direction)
        if column is not None:
            times = latest.setdefault(user, {})
            if at > times.get(column, ""):
                times[column] = at
    return [(u, t.get("last_export"), t.get("last_import")) for u, t in latest.items()]


def progress_values(row: Row) -> tuple[Any, ...]:
    """An item row's `PROGRESS_COLUMNS`, then its key."""
    p: Progress = row["progress"]
    return (
        row["subject"],
        p.status.value,
        p.reason,
        p.sentence,
        p.linked,
        " ".join(sorted(side.value for side in p.pending)),
        p.settled.value if p.settled is not None else None,
        row["transfer_id"],
        _iso(p.next_retry_at) if p.next_retry_at is not None else None,
        row["updated_at"],
        row["exceptions"],
        row["item"],
    )


def item_values(row: Row) -> tuple[Any, ...]:
    """An item row as the mapping stores it, in `ITEM_COLUMNS` order."""
    progress = progress_values(row)
    return (
        row["item"],
        row["stream_id"],
        row["user"],
        row["kind"],
        row["erp_id"],
        row["exchange_id"],
        *progress[:-1],
    )


def item_row(stored: Mapping[Any, Any]) -> Row:
    """An item row as `PageRows` keeps it, from the mapping's columns."""
    retry = stored["next_retry_at"]
    settled = stored["settled"]
    return {
        "item": stored["item"],
        "stored": (stored["erp_id"], stored["exchange_id"]),
        "stream_id": stored["stream_id"],
        "user": stored["user"],
        "kind": stored["kind"],
        "erp_id": stored["erp_id"],
        "exchange_id": stored["exchange_id"],
        "subject": stored["subject"],
        "progress": Progress(
            status=STATUS[stored["status"]],
            reason=stored["reason"],
            sentence=stored["sentence"],
            pending=frozenset(SIDE[s] for s in stored["pending"].split()),
            settled=STATUS[settled] if settled is not None else None,
            linked=bool(stored["linked"]),
            next_retry_at=datetime.fromisoformat(retry) if retry is not None else None,
        ),
        "transfer_id": stored["transfer_id"],
        "updated_at": stored["updated_at"],
        "exceptions": stored["exceptions"],
    }


def log_time(text: str) -> str:
    """A JSON time as the transfer log keeps it: always with microseconds, so text order is
    time order ("…00Z" would sort after "…00.5Z")."""
    if "." not in text and text.endswith("Z"):
        return text[:-1] + ".000000Z"
    return text


def decision_time(at: str | None, timestamp: str) -> str:
    """The transfer log's time of a decision: the time the decision carries (the engine's
    injected clock, from its observation or trigger), in UTC; the event's timestamp for
    decisions recorded before they carried one."""
    if at is None:
        return log_time(timestamp)
    return _utc_log_time(at)


@lru_cache(maxsize=1024)  # the decisions of a tick share their time
def _utc_log_time(at: str) -> str:
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return log_time(_iso(moment.astimezone(UTC)))


def _iso(value: datetime) -> str:
    """Sortable UTC text, the same form JSON events carry."""
    return value.isoformat().replace("+00:00", "Z")


_ONE_SIDE = {s.value: frozenset((s,)) for s in Side}
_NO_SIDE: frozenset[Side] = frozenset()


def _sides(writes: Sequence[Event]) -> frozenset[Side]:
    """The sides a decision writes to (mostly one, or none)."""
    if not writes:
        return _NO_SIDE
    if len(writes) == 1:
        return _ONE_SIDE[writes[0]["side"]]
    return frozenset(SIDE[w["side"]] for w in writes)


class PageRows:
    """The effect of one page of events, accumulated in memory before one transaction.

    An item row is keyed by its stream id here and carries its number (`item`, the next free
    one, `next_item`, for an item the page starts) and, once stored, the ids it was stored with
    (`stored`: None for a new row, which is inserted; the others are updated)."""

    def __init__(self, items: dict[str, Row], next_item: int) -> None:
        self.items = items  # the item rows the page touches, as loaded
        self.next_item = next_item
        self.occurrences: dict[int, list[tuple[int, str, str]]] = {}  # replaced per item
        self.log_rows: list[list[Any]] = []  # in `LOG_COLUMNS` order
        self.log_index: dict[int, list[Any]] = {}
        self.outcomes: dict[int, Outcome] = {}  # of decisions logged on earlier pages
        self.users: dict[str, dict[str, Any]] = {}

    # ---- items ------------------------------------------------------------------------------

    def decided(self, stream_id: str, note_id: int, event: Event) -> None:
        decision = event["decision"]
        item = decision["item"]
        at = decision_time(decision.get("at"), event["timestamp"])
        row = self.items.get(stream_id)
        if row is None:  # an item's stream starts with a decision
            row = self.items[stream_id] = {
                "item": self.next_item,
                "stored": None,
                "stream_id": stream_id,
                "user": item["user"],
                "kind": item["kind"],
                "erp_id": None,
                "exchange_id": None,
                "subject": None,
                "progress": Progress(),
                "transfer_id": None,
                "updated_at": at,
                "exceptions": 0,
            }
            self.next_item += 1
        row["updated_at"] = at
        row["erp_id"] = item["erp_id"] or row["erp_id"]
        row["exchange_id"] = item["exchange_id"] or row["exchange_id"]
        row["subject"] = item["subject"] or row["subject"]
        writes = decision["writes"]
        verdict = VERDICT[decision["verdict"]]
        before: Progress = row["progress"]
        if not st.keeps_pending(verdict):
            if before.pending and before.status is not Status.FAILED:
                self._outcome(row, "superseded", None)  # its writes are replaced by these
            row["transfer_id"] = note_id  # the outcomes to come complete this decision
        row["progress"] = st.progress_decided(
            before,
            verdict,
            STATUS[decision["status"]],
            STATUS[decision["settled"]],
            _sides(writes),
            decision["reason"],
            decision["sentence"],
        )
        base = decision.get("base")
        if base is not None:
            row["subject"] = base.get("subject") or row["subject"]
            self._exceptions(row, base)
        self._log(stream_id, note_id, row, decision, at)

    def written(self, stream_id: str, note_id: int, event: Event) -> None:
        row = self.items.get(stream_id)
        if row is None:
            return  # an outcome is always preceded by its decision; nothing to attach it to
        outcome = event["outcome"]
        row["updated_at"] = decision_time(outcome.get("at"), event["timestamp"])
        side = SIDE[outcome["side"]]
        row["erp_id" if side is Side.ERP else "exchange_id"] = outcome["native_id"]
        progress = row["progress"] = st.progress_written(row["progress"], side)
        if not progress.pending:
            self._outcome(row, "done", None)

    def write_failed(self, stream_id: str, note_id: int, event: Event) -> None:
        row = self.items.get(stream_id)
        if row is None:
            return
        outcome = event["outcome"]
        row["updated_at"] = decision_time(outcome.get("at"), event["timestamp"])
        retry = outcome.get("next_retry_at")
        row["progress"] = st.progress_failed(
            row["progress"],
            outcome["error_class"],
            outcome["message"],
            outcome["transient"],
            datetime.fromisoformat(retry) if retry is not None else None,
        )
        error = f"{outcome['side']} {outcome['operation']}: {outcome['error_class']}: {outcome['message']}"
        self._outcome(row, "failed", error)

    def _exceptions(self, row: Row, base: Event) -> None:
        """The series' deviating occurrences as last agreed (R2), replacing those before."""
        modified = base.get("modified_occurrences") or ()
        deleted = base.get("deleted_occurrences") or ()
        if modified or deleted or row["exceptions"]:
            item = row["item"]
            self.occurrences[item] = [(item, o["original_start"], "modified") for o in modified] + [
                (item, d, "deleted") for d in deleted
            ]
            row["exceptions"] = len(modified) + len(deleted)

    def _log(self, stream_id: str, note_id: int, row: Row, decision: Event, at: str) -> None:
        details: dict[str, Any] = {}
        if decision["conflicts"]:
            details["conflicts"] = decision["conflicts"]
        if decision["dropped_occurrences"]:
            details["dropped_occurrences"] = decision["dropped_occurrences"]
        log_row = [
            note_id,
            at,
            row["user"],
            row["item"],
            stream_id,
            row["kind"],
            row["erp_id"],
            row["exchange_id"],
            row["subject"],
            decision["trigger"],
            decision["verdict"],
            decision["direction"],
            decision["operation"],
            ",".join(decision["changed_fields"]),
            decision["reason"],
            decision["sentence"],
            "pending" if decision["writes"] else "none",
            None,
            orjson.dumps(details).decode() if details else None,
            decision["options"]["hash"],
        ]
        self.log_rows.append(log_row)
        self.log_index[note_id] = log_row

    def _outcome(self, row: Row, outcome: str, error: str | None) -> None:
        """Complete the transfer's log row: its outcome and the ids the item has now."""
        decision_id = row["transfer_id"]
        if decision_id is None:
            return
        values = (outcome, error, row["erp_id"], row["exchange_id"])
        in_page = self.log_index.get(decision_id)
        if in_page is not None:
            in_page[_OUTCOME], in_page[_ERROR], in_page[_ERP_ID], in_page[_EXCHANGE_ID] = values
        else:
            self.outcomes[decision_id] = values

    # ---- users ------------------------------------------------------------------------------

    def ledger_started(self, stream_id: str, note_id: int, event: Event) -> None:
        self.users.setdefault(event["user"], {"updated_at": event["timestamp"]})

    def set_up(self, stream_id: str, note_id: int, event: Event) -> None:
        self._user(event)["set_up_at"] = event["at"]

    def scope_changed(self, stream_id: str, note_id: int, event: Event) -> None:
        self._user(event).update(
            eligible=event["eligible"],
            reason=event["reason"],
            mailbox=event.get("mailbox"),
            reachable=event.get("reachable", True),
        )

    def subscription_changed(self, stream_id: str, note_id: int, event: Event) -> None:
        self._user(event).update(
            subscribed=event["alive"],
            subscription_reason=event["reason"],
            subscription_mode=event["mode"],
        )

    def deletions_paused(self, stream_id: str, note_id: int, event: Event) -> None:
        self._user(event).update(deletions_paused=True, paused_at=event["at"])

    def deletions_released(self, stream_id: str, note_id: int, event: Event) -> None:
        self._user(event).update(deletions_paused=False, paused_at=None)

    def _user(self, event: Event) -> dict[str, Any]:
        changes = self.users.setdefault(event["user"], {})
        changes["updated_at"] = decision_time(event.get("at"), event["timestamp"])
        return changes


Handler = Callable[[PageRows, str, int, Event], None]

# One handler per event type the read models follow; other events change nothing here.
ITEM_HANDLERS: dict[str, Handler] = {
    get_topic(ev.Decided): PageRows.decided,
    get_topic(ev.Written): PageRows.written,
    get_topic(ev.WriteFailedEvent): PageRows.write_failed,
}
HANDLERS: dict[str, Handler] = {
    **ITEM_HANDLERS,
    get_topic(ev.LedgerStarted): PageRows.ledger_started,
    get_topic(ev.SetUp): PageRows.set_up,
    get_topic(ev.ScopeChanged): PageRows.scope_changed,
    get_topic(ev.SubscriptionChanged): PageRows.subscription_changed,
    get_topic(ev.DeletionsPaused): PageRows.deletions_paused,
    get_topic(ev.DeletionsReleased): PageRows.deletions_released,
}
