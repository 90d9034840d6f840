"""The engine's log: one JSON object per line (or plain text), secrets never shown.

python-json-logger formats the records; a filter on the handler replaces every configured secret
value that a message, an argument or an exception text might carry (a driver quoting a URL, an
HTTP library echoing a header). R13's extended diagnostics switch on the decision log
(`einklang.decisions`: every decision with its reason, at DEBUG).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import IO

from pythonjsonlogger.json import JsonFormatter

from service.config import LoggingSection

REDACTED = "***"
DECISIONS = "einklang.decisions"
# HTTP clients that log every request at INFO (httpx: the Graph adapter's delta polls, several a
# second with many mailboxes); they speak at WARNING unless the level is debug.
CHATTY = ("httpx", "httpcore")


class Redact(logging.Filter):
    """Replaces the given secret values wherever they appear in a record's rendered text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        if record.stack_info:
            message += "\n" + record.stack_info
            record.stack_info = None
        for secret in self.secrets:
            message = message.replace(secret, REDACTED)
        record.msg, record.args = message, None
        return True


def configure(
    section: LoggingSection, secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> logging.Handler:
    """Route the root logger to `stream` (stderr) as configured; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if section.format == "json":
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redact(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(section.level.upper())
    logging.getLogger(DECISIONS).setLevel(logging.DEBUG if section.diagnostics else logging.INFO)
    for name in CHATTY:
        logging.getLogger(name).setLevel(
            logging.NOTSET if section.level == "debug" else logging.WARNING
        )
    return handler
