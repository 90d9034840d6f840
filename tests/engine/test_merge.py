"""The three-way merge on its own: groups, the ERP's info text, pattern changes, dropped exceptions."""

from __future__ import annotations

from engine.merge import merge
from engine.model import Appointment
from engine.recurrence import Recurrence
from tests.engine.pairs import MEETING, MONDAYS, SERIES, moved

FORTNIGHTLY = Recurrence(pattern="weekly", weekdays=("monday",), count=6, interval=2)


def test_the_info_text_is_always_the_erps() -> None:
    erp = MEETING.replace(subject="ERP", info_text="ERP text")
    outlook = MEETING.replace(location="Outlook", info_text="Outlook body")
    merged = merge(MEETING, erp, outlook, policy="exchange_wins", erp_is_newer=False)
    assert (merged.snapshot.subject, merged.snapshot.location) == ("ERP", "Outlook")  # type: ignore[union-attr]
    assert merged.snapshot.info_text == "ERP text"


def test_without_an_erp_side_the_agreed_info_text_stays() -> None:
    outlook = MEETING.replace(location="Outlook", info_text="Outlook body")
    other = MEETING.replace(subject="Other", info_text="Outlook body")
    merged = merge(MEETING, None, outlook, policy="erp_wins", erp_is_newer=True)
    assert merged.snapshot.info_text == "Outlook body"  # the fast path: Exchange's snapshot as is
    both = merge(
        MEETING, MEETING.replace(subject="Other"), other, policy="erp_wins", erp_is_newer=True
    )
    assert both.snapshot.info_text == "Agenda"


def test_a_pattern_changed_on_one_side_while_the_other_edits_is_a_pattern_change() -> None:
    fortnightly = SERIES.replace(recurrence=FORTNIGHTLY)
    merged = merge(
        SERIES, fortnightly, SERIES.replace(location="Room 2"), policy="erp_wins", erp_is_newer=True
    )
    assert merged.pattern_changed is True
    assert merged.snapshot.recurrence == FORTNIGHTLY and merged.snapshot.location == "Room 2"  # type: ignore[union-attr]


def test_other_edits_of_a_series_on_both_sides_are_no_pattern_change() -> None:
    merged = merge(
        SERIES,
        SERIES.replace(subject="ERP"),
        SERIES.replace(location="Room 2"),
        policy="erp_wins",
        erp_is_newer=True,
    )
    assert merged.pattern_changed is False
    single = merge(
        MEETING,
        MEETING.replace(end=MEETING.end.replace(hour=MEETING.end.hour + 1)),
        MEETING.replace(location="Room 2"),
        policy="erp_wins",
        erp_is_newer=True,
    )
    assert single.pattern_changed is False  # a single appointment has no pattern


def test_an_exception_exchange_removed_itself_without_a_pattern_change_stays_removed() -> None:
    base = SERIES.replace(modified_occurrences=(moved(MONDAYS[1], "Moved"),))
    restored_in_outlook = SERIES  # the occurrence put back as the series has it
    merged = merge(
        base, base.replace(subject="ERP"), restored_in_outlook, policy="erp_wins", erp_is_newer=True
    )
    assert isinstance(merged.snapshot, Appointment)
    assert (merged.snapshot.subject, merged.snapshot.modified_occurrences) == ("ERP", ())
    assert merged.conflicts == ()


MON_FRI = Recurrence(pattern="weekly", weekdays=("monday", "friday"), count=6)


def test_exceptions_exchange_dropped_with_its_pattern_change_come_back_where_they_fit() -> None:
    for base in (
        SERIES.replace(deleted_occurrences=(MONDAYS[2],)),
        SERIES.replace(modified_occurrences=(moved(MONDAYS[2], "Moved"),)),
    ):
        outlook = SERIES.replace(recurrence=MON_FRI)  # Exchange cleared the exceptions itself
        merged = merge(base, None, outlook, policy="erp_wins", erp_is_newer=True)
        assert isinstance(merged.snapshot, Appointment)
        assert merged.snapshot.recurrence == MON_FRI
        assert merged.snapshot.deleted_occurrences == base.deleted_occurrences
        assert merged.snapshot.modified_occurrences == base.modified_occurrences
        assert merged.pattern_changed is True


def test_a_task_changed_on_both_sides_has_no_pattern_to_change() -> None:
    from engine.model import Priority, Task

    call = Task(subject="Call back")
    merged = merge(
        call,
        call.replace(subject="ERP"),
        call.replace(priority=Priority.HIGH),
        policy="erp_wins",
        erp_is_newer=True,
    )
    assert merged.pattern_changed is False
    assert (merged.snapshot.subject, merged.snapshot.priority) == ("ERP", Priority.HIGH)  # type: ignore[union-attr]
