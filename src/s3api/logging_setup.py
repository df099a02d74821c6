"""One log format for the server, the worker and the background duties."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    """Plain key=value lines on stderr; uvicorn's own access log is replaced by ours."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO: one line per idle worker poll would drown the log
    logging.getLogger("httpx").setLevel(logging.WARNING)
