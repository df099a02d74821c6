"""FastAPI dependencies: collaborators kept on `app.state`, and the GPU side's secret.

`create_app` stores each service on `app.state` under a fixed name; routes ask for the one
they use through `service_dependency`, so no route or service sees the whole wiring.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Header, Request

from s3api.observability.log_context import bind_job_id
from s3api.security.shared_secret import presented_secret, require_shared_secret

ServiceT = TypeVar("ServiceT")


def service_dependency(name: str, _kind: type[ServiceT]) -> Any:
    """A dependency returning the collaborator `create_app` stored as `app.state.<name>`."""

    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop per request
    async def get(request: Request) -> ServiceT:
        return cast(ServiceT, getattr(request.app.state, name))

    return Depends(get)


async def require_gpu_secret(
    request: Request,
    x_callback_secret: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """The GPU side's shared secret, from `X-Callback-Secret` or `Authorization: Bearer`."""
    expected: str = request.app.state.callback_secret
    require_shared_secret(expected, presented_secret(x_callback_secret, authorization))


GpuSecret = Depends(require_gpu_secret)


async def bind_path_job_id(request: Request) -> None:
    """Log records of a request on `/jobs/{job_id}/…` carry its `job_id`."""
    bind_job_id(request.path_params.get("job_id"))


JobLogContext = Depends(bind_path_job_id)
