"""Structured logging: one `event=name key=value ...` line per event (or JSON with --log-json).

Every logger in the project is "agora" or below it ("agora.store.writer", ...), so the one
handler `setup_logging` installs formats all of their lines; a module logs under its own
child with `event(..., logger=log)`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

ROOT = "agora"
log = logging.getLogger(ROOT)


def _fmt(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' ="\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields = dict(getattr(record, "fields", None) or {})
        if record.name != ROOT:
            fields = {"logger": record.name, **fields}     # which part of the server said it
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        # A traceback is part of the event in both forms: JSON readers lose nothing key=value has.
        exc = self.formatException(record.exc_info) if record.exc_info else None
        if self.as_json:
            line = {"ts": ts, "level": record.levelname.lower(), "event": record.getMessage(), **fields}
            if exc:
                line["exc"] = exc
            return json.dumps(line, default=str, ensure_ascii=False)
        parts = [f"ts={ts}", f"level={record.levelname.lower()}", f"event={_fmt(record.getMessage())}"]
        parts += [f"{k}={_fmt(v)}" for k, v in fields.items()]
        if exc:
            parts.append("exc=" + json.dumps(exc))
        return " ".join(parts)


def setup_logging(level: str = "INFO", as_json: bool = False, stream: TextIO | None = None) -> None:
    """Send every "agora.*" logger's lines, formatted, to `stream` (stderr); ValueError for an unknown level."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(_Formatter(as_json))
    root = logging.getLogger(ROOT)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    root.handlers[:] = [handler]
    root.propagate = False


def event(_event: str, /, level: int = logging.INFO, exc_info: bool = False,
          logger: logging.Logger | None = None, **fields: Any) -> None:
    """Log one structured event (under `logger`, a child of "agora", if given)."""
    (logger or log).log(level, _event, extra={"fields": fields}, exc_info=exc_info)
