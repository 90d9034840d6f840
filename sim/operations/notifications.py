"""Rendering notifications (m:Notification with its events) for GetEvents and streaming.

Not an operation itself: the operation registry skips modules without an `OPERATION`.
"""

from __future__ import annotations

from sim.envelope import Element, build, m, t
from sim.events import DeliveredEvent, EventType, Notification


def event_element(delivered: DeliveredEvent) -> Element:
    event = delivered.event
    elem = t(event.event_type)
    if delivered.watermark is not None:
        elem.append(t("Watermark", delivered.watermark))
    elem.append(t("TimeStamp", event.timestamp))
    if event.item_id is not None:
        elem.append(t("ItemId", Id=event.item_id, ChangeKey=event.change_key))
    else:
        elem.append(t("FolderId", Id=event.folder_id, ChangeKey=event.change_key))
    elem.append(t("ParentFolderId", Id=event.parent_folder_id))
    if event.event_type in (EventType.MOVED, EventType.COPIED):
        elem.append(t("OldItemId", Id=event.old_item_id))
        elem.append(t("OldParentFolderId", Id=event.old_parent_folder_id))
    if event.event_type is EventType.MODIFIED and event.unread_count is not None:
        elem.append(t("UnreadCount", event.unread_count))
    return elem


def notification_element(notification: Notification) -> Element:
    """m:Notification — Exchange uses the messages namespace in both GetEvents and streaming."""
    elem = build(
        m("Notification"),
        t("SubscriptionId", notification.subscription_id),
        t("PreviousWatermark", notification.previous_watermark)
        if notification.previous_watermark
        else None,
        None if notification.more_events is None else t("MoreEvents", notification.more_events),
    )
    for delivered in notification.events:
        elem.append(event_element(delivered))
    if not notification.events:
        elem.append(build(t("StatusEvent"), t("Watermark", notification.status_watermark)))
    return elem
