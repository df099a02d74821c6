"""An app served over real HTTP by uvicorn inside the test's event loop.

The ASGI transport of httpx collects a whole response before returning it, so an endless
event stream needs a real socket.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """Serve `app` (lifespan off, as in the `app` fixture) on 127.0.0.1; yields its base URL.

    The socket listens before uvicorn starts, so a client may connect at once: the kernel
    holds the connection until uvicorn accepts it.
    """
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen(128)
    port = listening.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True
        await task
        listening.close()
