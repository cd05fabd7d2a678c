"""Structured logging: one `event=name key=value ...` line per event (or JSON with --log-json)."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

log = logging.getLogger("agora")


def _fmt(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' ="'):
        return json.dumps(text, ensure_ascii=False)
    return text


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None) or {}
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        if self.as_json:
            return json.dumps({"ts": ts, "level": record.levelname.lower(), "event": record.getMessage(), **fields},
                              default=str, ensure_ascii=False)
        parts = [f"ts={ts}", f"level={record.levelname.lower()}", f"event={_fmt(record.getMessage())}"]
        parts += [f"{k}={_fmt(v)}" for k, v in fields.items()]
        if record.exc_info:
            parts.append("exc=" + json.dumps(self.formatException(record.exc_info)))
        return " ".join(parts)


def setup_logging(level: str = "INFO", as_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(as_json))
    root = logging.getLogger("agora")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def event(_event: str, /, level: int = logging.INFO, exc_info: bool = False, **fields: Any) -> None:
    """Log one structured event."""
    log.log(level, _event, extra={"fields": fields}, exc_info=exc_info)
