"""One log format for the server, the worker and the background duties."""

from __future__ import annotations

import logging

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from s3api.observability.log_context import LogContextFilter
from s3api.settings import LogFormat

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# the record attributes every JSON line starts with (after `time`), renamed to short keys
_JSON_FIELDS = ("levelname", "name", "message")
_JSON_RENAMES = {"levelname": "level", "name": "logger"}
# uvicorn repeats each message with terminal colour codes: not for machines
_JSON_LEFT_OUT = (*RESERVED_ATTRS, "color_message")


def configure_logging(level: str = "INFO", log_format: LogFormat = LogFormat.TEXT) -> None:
    """Plain lines (or JSON objects) on stderr; uvicorn's own access log is replaced by ours."""
    handler = logging.StreamHandler()
    handler.setFormatter(build_formatter(log_format))
    handler.addFilter(LogContextFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler])
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO: one line per idle worker poll would drown the log
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # alembic names each of its plugins at INFO whenever it loads, on every start
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def build_formatter(log_format: LogFormat) -> logging.Formatter:
    """The formatter of `log_format`; JSON lines add the ids `LogContextFilter` set."""
    if log_format is LogFormat.JSON:
        return JsonFormatter(
            list(_JSON_FIELDS),
            rename_fields=_JSON_RENAMES,
            reserved_attrs=_JSON_LEFT_OUT,
            timestamp="time",
        )
    return logging.Formatter(_TEXT_FORMAT)
