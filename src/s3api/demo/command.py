"""`s3api demo`: the Typer command that runs the whole user flow against a server."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class DemoPreset(StrEnum):
    """The presets the demo knows a rule for."""

    INTERIOR = "interior"
    SELLER = "seller"


def demo(
    server: Annotated[
        str | None,
        typer.Option(help="Base URL of a running server; without it a local one is started."),
    ] = None,
    photos: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            file_okay=False,
            dir_okay=True,
            help="Folder of JPEG/PNG/WebP photos to send; without it sample photos are drawn.",
        ),
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="How many photos to send (default: 3 samples, or all --photos the plan allows).",
        ),
    ] = None,
    preset: Annotated[DemoPreset, typer.Option(help="Preset to edit with.")] = (
        DemoPreset.INTERIOR
    ),
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the results (default: ./demo-output/<job_id>)."),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(min=0.1, help="Seconds to wait for the job before canceling it."),
    ] = 300.0,
    template: Annotated[
        str | None,
        typer.Option(help="Output template to ask for (e.g. 전후비교); its set is saved too."),
    ] = None,
    options: Annotated[
        str | None,
        typer.Option(
            help="옵션보드's colours, comma-separated recolor values (e.g. navy,#C0392B,sage_green)."
        ),
    ] = None,
    device_hash: Annotated[
        str | None,
        typer.Option(help="Sign in as this device's anonymous user (same user every run)."),
    ] = None,
) -> None:
    """Drive the whole user flow against a server: sign in, rule, upload, execute, download."""
    # Imported here so that loading the command line stays fast for the other commands.
    from s3api.demo.run import DemoRequest, run_demo

    request = DemoRequest(
        server_url=server,
        photos=photos,
        count=count,
        preset_id=preset.value,
        out=out,
        timeout_seconds=timeout,
        device_hash=device_hash,
        template=template,
        options=None if options is None else [value.strip() for value in options.split(",")],
    )
    raise typer.Exit(code=run_demo(request))
