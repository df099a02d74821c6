"""An assembly message → the job's output set: download, compose, zip, upload, report.

The server planned every file and signed its URLs; the worker reads each done photo's input,
result and (for drafts and options) its other variants' renders, composes the template's
files with `s3api.worker.compose.sets`, stamps the free plan's watermark on them when the
message carries one (the renders already carry it), writes one zip of the renders and the
composed images, and reports the set once. A bad
photo (missing, undecodable) or a file the storage refuses fails the set with a reason; an
answer the API never took leaves the message unfinished, so it comes back.
"""

from __future__ import annotations

import asyncio
import io
import logging
import zipfile
from collections.abc import Sequence
from typing import Any, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from s3api.common.output_formats import OutputFormat
from s3api.worker.api_client import ApiCallError, RejectedApiError, WorkerApiClient
from s3api.worker.compose.sets import Photo, PlannedFile, Segment, SetContext, compose_files
from s3api.worker.engine import HeuristicSegmenter, decode_image
from s3api.worker.engine.arrays import RGBImage
from s3api.worker.messages import VariantSpec, WatermarkSpec
from s3api.worker.outcomes import short_reason

logger = logging.getLogger("s3api.worker.assembly")

OUTPUT_SET_KIND = "output_set"
COMPOSED_JPEG_QUALITY = 90
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""Every zip entry's timestamp: the same photos make the same zip."""
_DOWNLOAD_PARALLELISM = 8
_NOT_FOUND = 404
_TOO_LARGE = 413


class SetPhoto(BaseModel):
    """A done photo: where to read its input, its result and its other variants."""

    model_config = ConfigDict(extra="ignore")

    idx: int = Field(ge=0)
    input_url: str
    output_url: str
    variant_urls: list[str] = Field(default_factory=list)


class SetFile(BaseModel):
    """A file the server asked for, with the URL that accepts it."""

    model_config = ConfigDict(extra="ignore")

    name: str
    role: str
    idx: int | None = None
    variant: int | None = Field(default=None, ge=0)
    key: str
    url: str
    width: int | None = None
    height: int | None = None


class OutputSetMessage(BaseModel):
    """One set to assemble, as delivery hands it out."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["output_set"]
    set_id: str
    job_id: str
    preset: str
    template: str
    concepts: dict[str, Any] = Field(default_factory=dict)
    protect: list[str] = Field(default_factory=list)
    watermark: WatermarkSpec | None = None
    output_format: OutputFormat = OutputFormat.PNG
    variants: list[VariantSpec] = Field(default_factory=list)
    items: list[SetPhoto]
    files: list[SetFile]
    zip_key: str
    zip_url: str
    callback_url: str
    idempotency_prefix: str | None = None

    def idempotency_key(self, attempt: int) -> str:
        """`{set_id}:{attempt}`: one key per delivery."""
        return f"{self.idempotency_prefix or self.set_id}:{attempt}"


class _SetFailedError(Exception):
    """The set cannot be assembled; the reason is short and safe to report."""


def is_output_set(body: dict[str, Any]) -> bool:
    """Whether a pulled message is an assembly message."""
    return body.get("kind") == OUTPUT_SET_KIND


def engine_segment(engine: object) -> Segment | None:
    """The engine's own segmenter for product masks, when it exposes one."""
    segmenter = getattr(engine, "segmenter", None)
    segment = getattr(segmenter, "segment", None)
    return segment if callable(segment) else None


class SetAssembler:
    """Assembles sets with the engine's segmenter (or the heuristic one) for product masks."""

    def __init__(self, api: WorkerApiClient, segment: Segment | None = None) -> None:
        self.api = api
        self.segment = segment or HeuristicSegmenter().segment

    async def assemble(self, message: OutputSetMessage, attempt: int) -> bool:
        """Assemble and report the set; False when the report never reached the API."""
        key = message.idempotency_key(attempt)
        try:
            try:
                files = await self._assembled(message)
                body: dict[str, Any] = {
                    "set_id": message.set_id,
                    "status": "ready",
                    "idempotency_key": key,
                    "files": files,
                    "zip_key": message.zip_key,
                }
            except _SetFailedError as exc:
                logger.info("job=%s set failed: %s", message.job_id, exc)
                body = {
                    "set_id": message.set_id,
                    "status": "failed",
                    "idempotency_key": key,
                    "error": str(exc),
                }
            answer = await self.api.report_output_set(message.callback_url, body)
        except ApiCallError as exc:
            logger.warning("job=%s set not reported: %s", message.job_id, exc)
            return False
        except Exception:
            logger.exception("job=%s set assembly crashed", message.job_id)
            return False
        logger.info(
            "job=%s set %s (processed=%s duplicate=%s)",
            message.job_id,
            answer.get("set_status"),
            answer.get("processed"),
            answer.get("duplicate"),
        )
        return True

    async def _assembled(self, message: OutputSetMessage) -> list[dict[str, Any]]:
        """Compose, upload and zip every file; what the callback reports of them."""
        photos, renders = await self._downloads(message.items)
        planned = [PlannedFile(f.name, f.role, f.idx, f.variant) for f in message.files]
        labels = [variant.label for variant in message.variants]
        context = SetContext(message.preset, message.concepts, message.protect, labels)
        watermark = None if message.watermark is None else message.watermark.to_watermark()
        try:
            images = await asyncio.to_thread(
                compose_files, planned, photos, context, self.segment, watermark
            )
        except ValueError as exc:
            raise _SetFailedError(short_reason(exc)) from exc
        encoded = [await asyncio.to_thread(_jpeg, image) for image in images]
        archive = await asyncio.to_thread(
            _zip,
            message,
            renders,
            [(f.name, data) for f, data in zip(message.files, encoded, strict=True)],
        )
        try:
            await asyncio.gather(
                *(
                    self.api.upload(f.url, data, "image/jpeg")
                    for f, data in zip(message.files, encoded, strict=True)
                )
            )
            await self.api.upload(message.zip_url, archive, "application/zip")
        except RejectedApiError as exc:
            if exc.status_code != _TOO_LARGE:
                raise
            raise _SetFailedError("a file of the set is larger than the storage accepts") from exc
        return [
            {"name": f.name, "key": f.key, "width": image.shape[1], "height": image.shape[0]}
            for f, image in zip(message.files, images, strict=True)
        ]

    async def _downloads(
        self, items: Sequence[SetPhoto]
    ) -> tuple[dict[int, Photo], dict[int, list[bytes]]]:
        """Each photo decoded, and its renders' bytes as stored (for the zip): the result,
        then variants 1..n-1."""
        gate = asyncio.Semaphore(_DOWNLOAD_PARALLELISM)

        async def fetch(url: str, what: str) -> bytes:
            async with gate:
                try:
                    return await self.api.download(url)
                except RejectedApiError as exc:
                    if exc.status_code != _NOT_FOUND:
                        raise
                    raise _SetFailedError(f"{what} is missing from storage") from exc

        async def photo(item: SetPhoto) -> tuple[Photo, list[bytes]]:
            before_bytes, *render_bytes = await asyncio.gather(
                fetch(item.input_url, f"input {item.idx}"),
                fetch(item.output_url, f"result {item.idx}"),
                *(
                    fetch(url, f"variant {number} of photo {item.idx}")
                    for number, url in enumerate(item.variant_urls, start=1)
                ),
            )
            try:
                before, after, *variants = await asyncio.gather(
                    *(
                        asyncio.to_thread(decode_image, data)
                        for data in (before_bytes, *render_bytes)
                    )
                )
            except ValueError as exc:
                raise _SetFailedError(f"photo {item.idx}: {short_reason(exc)}") from exc
            return Photo(before, after, tuple(variants)), render_bytes

        fetched = await asyncio.gather(*(photo(item) for item in items))
        photos = {item.idx: pair[0] for item, pair in zip(items, fetched, strict=True)}
        results = {item.idx: pair[1] for item, pair in zip(items, fetched, strict=True)}
        return photos, results


def _jpeg(image: RGBImage) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=COMPOSED_JPEG_QUALITY)
    return buffer.getvalue()


def _zip(
    message: OutputSetMessage, renders: dict[int, list[bytes]], composed: list[tuple[str, bytes]]
) -> bytes:
    """`results/<idx>_result.<ext>` by idx, then `results/<idx>_variant_<n>.<ext>` by idx and
    n, then `set/<name>` in the plan's order; stored, not deflated (the images are compressed
    already), with one fixed timestamp."""
    extension = message.output_format.extension
    ordered = sorted(renders)
    entries = [(f"results/{idx}_result.{extension}", renders[idx][0]) for idx in ordered]
    entries += [
        (f"results/{idx}_variant_{number}.{extension}", data)
        for idx in ordered
        for number, data in enumerate(renders[idx][1:], start=1)
    ]
    entries += [(f"set/{name}", data) for name, data in composed]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_DATE), data)
    return buffer.getvalue()
