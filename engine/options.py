"""The switches that shape decisions (R7, R10, R16, R17, retries), and their recorded stamp.

Every decision records the stamp of the options it was made under, so that replay can verify it
with the same options and a what-if can compare against others.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from engine.model import ItemKind

ConflictPolicy = Literal["erp_wins", "exchange_wins", "newest_wins"]


class SyncOptions(BaseModel):
    """Decision-relevant configuration. Defaults follow the reference ERP."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    automatic_sync: bool = True  # R10 master switch
    export_enabled: bool = True  # R10 ERP → Exchange
    import_enabled: bool = True  # R10 Exchange → ERP
    sync_appointments: bool = True  # R10
    sync_tasks: bool = True  # R10
    write_info_text: bool = False  # R7: "do not write info text" is ON by default
    info_text_format: Literal["text", "html"] = "text"  # R7
    conflict_policy: ConflictPolicy = "erp_wins"  # R16, for fields changed on both sides
    deletion_burst_threshold: int = Field(default=25, ge=1)  # R17: deletes per user and window
    deletion_burst_window_s: int = Field(default=600, ge=1)  # R17
    # A write that keeps failing for a passing reason is tried this often; then the item is
    # parked until its next change on either side (a race with an edit there never parks it).
    max_attempts: int = Field(default=12, ge=1)

    def kind_enabled(self, kind: ItemKind) -> bool:
        return self.sync_appointments if kind is ItemKind.APPOINTMENT else self.sync_tasks

    def stamp(self) -> OptionsStamp:
        switches: dict[str, Any] = self.model_dump(mode="json")
        digest = hashlib.sha256(orjson.dumps(switches, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return OptionsStamp(hash=digest[:16], switches=switches)


class OptionsStamp(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    hash: str
    switches: dict[str, Any]

    def options(self) -> SyncOptions:
        return SyncOptions.model_validate(self.switches)
