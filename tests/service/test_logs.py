"""The engine's log (issue 11, R13): JSON lines, extended diagnostics, secrets never shown."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from service.config import LoggingSection
from service.logs import CHATTY, DECISIONS, REDACTED, configure

SECRET = "hunter2-Sup3rSecret"


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    decisions = logging.getLogger(DECISIONS).level
    chatty = {name: logging.getLogger(name).level for name in CHATTY}
    yield
    for name, chatty_level in chatty.items():
        logging.getLogger(name).setLevel(chatty_level)
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    logging.getLogger(DECISIONS).setLevel(decisions)


def test_json_lines_with_time_level_logger_and_message() -> None:
    out = io.StringIO()
    configure(LoggingSection(format="json"), stream=out)
    logging.getLogger("einklang.engine").warning("mailbox %s unreachable", "a@example.com")
    record = json.loads(out.getvalue().strip())
    assert record["level"] == "WARNING"
    assert record["logger"] == "einklang.engine"
    assert record["message"] == "mailbox a@example.com unreachable"
    assert "time" in record


def test_secrets_are_replaced_in_messages_arguments_and_tracebacks() -> None:
    out = io.StringIO()
    configure(LoggingSection(format="json"), secrets=[SECRET], stream=out)
    log = logging.getLogger("einklang.engine")
    log.error("login failed for svc:%s", SECRET)
    try:
        raise RuntimeError(f"HTTP 401 for Authorization: Basic {SECRET}")
    except RuntimeError:
        log.exception("request failed")
    text = out.getvalue()
    assert SECRET not in text
    lines = [json.loads(line) for line in text.strip().splitlines()]
    assert lines[0]["message"] == f"login failed for svc:{REDACTED}"
    assert "RuntimeError" in lines[1]["message"] and REDACTED in lines[1]["message"]


def test_extended_diagnostics_log_every_decision() -> None:
    out = io.StringIO()
    configure(LoggingSection(format="text", diagnostics=False), stream=out)
    logging.getLogger(DECISIONS).debug("skip R5_PREEXISTING")
    assert out.getvalue() == ""
    configure(LoggingSection(format="text", diagnostics=True), stream=out)
    logging.getLogger(DECISIONS).debug("skip R5_PREEXISTING")
    assert "skip R5_PREEXISTING" in out.getvalue()


def test_http_requests_are_not_logged_one_by_one_unless_debugging() -> None:
    """The Graph adapter's delta polls go through httpx, which logs every request at INFO: at
    the info level the log would be one line per poll and folder (failed before: it was)."""
    out = io.StringIO()
    configure(LoggingSection(format="text", level="info"), stream=out)
    logging.getLogger("httpx").info("HTTP Request: GET https://graph/v1.0/users/a/events")
    logging.getLogger("httpx").warning("connection reset")
    assert "HTTP Request" not in out.getvalue() and "connection reset" in out.getvalue()
    debug = io.StringIO()
    configure(LoggingSection(format="text", level="debug"), stream=debug)
    logging.getLogger("httpx").info("HTTP Request: GET https://graph/v1.0/users/a/events")
    assert "HTTP Request" in debug.getvalue()
