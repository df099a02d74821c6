"""The demo's steps, in the order a user goes through them, over the HTTP API only."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from s3api.auth.schemas import AnonSession
from s3api.demo.client import ApiClient, DemoError
from s3api.demo.follow import start_following
from s3api.demo.photos import PhotoFolder, write_sample_photos
from s3api.jobs.schemas import JobCreated, JobDetail
from s3api.presets.schemas import PresetDetail
from s3api.rules.schemas import RulePublic

DEFAULT_SAMPLE_COUNT = 3
DEFAULT_OUTPUT_ROOT = Path("demo-output")
DEMO_RULE_CONCEPTS: dict[str, dict[str, dict[str, str]]] = {
    "interior": {
        "Floor": {"action": "recolor", "value": "oak_a"},
        "Wall": {"action": "tone", "value": "warm"},
    },
    "seller": {"Body": {"action": "recolor", "value": "#C0392B"}},
}


class Reporter(Protocol):
    """Where the flow tells the user what it is doing."""

    def note(self, message: str) -> None:
        """A line about a step just taken."""

    def tracking(self, total_items: int) -> AbstractContextManager[Callable[[JobDetail], None]]:
        """A live progress display; the callable is given every state the job streams."""


@dataclass(frozen=True)
class DemoOptions:
    """What the user asked for on the command line."""

    preset_id: str
    photo_folder: PhotoFolder | None
    count: int | None
    out: Path | None
    timeout_seconds: float
    device_hash: str | None
    template: str | None = None
    options: list[str] | None = None
    """옵션보드's colours, sent as given: the server says what is wrong with them."""


@dataclass
class DemoOutcome:
    """Everything the summary reports."""

    session: AnonSession
    rule: RulePublic
    is_rule_reused: bool
    credits_before: int
    credits_after: int
    job: JobDetail
    photo_names: dict[int, str]
    out_folder: Path
    elapsed_seconds: float
    has_timed_out: bool
    saved_files: dict[int, list[Path]] = field(default_factory=dict)


def demo_rule_name(preset_id: str) -> str:
    """The name of the rule the demo saves for a preset."""
    return f"s3api demo ({preset_id})"


def prepare_rule(client: ApiClient, preset: PresetDetail) -> tuple[RulePublic, bool]:
    """The demo's rule: its own from an earlier run, a new one, or (no free slot) any of the preset."""
    preset_id = preset.id
    existing = client.rules()
    for rule in existing:
        if rule.name == demo_rule_name(preset_id) and rule.preset_id == preset_id:
            return rule, True
    try:
        # the preset's defaults (e.g. grout), named so the demo can say what it protected
        created = client.create_rule(
            demo_rule_name(preset_id),
            preset_id,
            DEMO_RULE_CONCEPTS[preset_id],
            protect=preset.protect_defaults,
        )
    except DemoError as error:
        if error.code != "RULE_SLOT_LIMIT":
            raise
        for rule in existing:
            if rule.preset_id == preset_id:
                return rule, True
        raise DemoError(
            error.code, f"{error.message}, and none of your rules is for preset {preset_id}"
        ) from error
    return created, False


def choose_item_count(options: DemoOptions, max_items: int, credits: int) -> int:
    """How many photos to send: as asked, else all available within the plan and the credits."""
    if options.count is not None:
        if options.photo_folder is not None:
            return min(options.count, len(options.photo_folder.photos))
        return options.count
    available = len(options.photo_folder.photos) if options.photo_folder else DEFAULT_SAMPLE_COUNT
    return max(1, min(available, max_items, credits))


def wait_for_job(
    client: ApiClient, job_id: str, options: DemoOptions, on_poll: Callable[[JobDetail], None]
) -> tuple[JobDetail, bool]:
    """Follow the job's event stream until it ends or the timeout passes (then cancel it).

    Returns the final job (read once more for its download URLs) and True if canceled.
    """
    deadline = time.monotonic() + options.timeout_seconds
    updates = start_following(client, job_id)
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            update = updates.get(timeout=remaining)
        except queue.Empty:
            break
        if isinstance(update, DemoError):
            raise update
        if update is None:
            state = client.job(job_id)
            on_poll(state)
            return state, False
        on_poll(update)
    is_canceled = True
    try:
        client.cancel(job_id)
    except DemoError as error:
        # It may have finished between the last poll and the cancel: then it did not time out.
        if error.code != "JOB_INVALID_TRANSITION":
            raise
        is_canceled = False
    state = client.job(job_id)
    on_poll(state)
    return state, is_canceled


def save_results(client: ApiClient, job: JobDetail, folder: Path) -> dict[int, list[Path]]:
    """Download each done item's result and preview as `<idx>_result.png` and `<idx>_thumb.jpg`."""
    folder.mkdir(parents=True, exist_ok=True)
    saved: dict[int, list[Path]] = {}
    for links in job.download_urls:
        result_path = folder / f"{links.idx}_result.png"
        preview_path = folder / f"{links.idx}_thumb.jpg"
        result_path.write_bytes(client.download(links.output_url))
        preview_path.write_bytes(client.download(links.preview_url))
        saved[links.idx] = [result_path, preview_path]
    return saved


def save_output_set(client: ApiClient, job: JobDetail, folder: Path, reporter: Reporter) -> None:
    """Download a ready set's zip as `set_package.zip` and say where it landed."""
    output_set = job.output_set
    if output_set is None:
        return
    if output_set.zip_url is None:
        reason = f": {output_set.error}" if output_set.error else ""
        reporter.note(f"Output set {output_set.template} is {output_set.status.value}{reason}")
        return
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "set_package.zip"
    target.write_bytes(client.download(output_set.zip_url))
    reporter.note(
        f"Output set {output_set.template} is ready: {len(output_set.files)} files, "
        f"saved to {target}"
    )


def _cancel_quietly(client: ApiClient, job_id: str) -> None:
    """Best effort: give back the credits of a job the flow abandons."""
    with suppress(DemoError):
        client.cancel(job_id)


def _photo_paths(
    options: DemoOptions, item_count: int, out_folder: Path, reporter: Reporter
) -> list[Path]:
    """The files to upload: the folder's first images, or samples drawn into `out/inputs`."""
    folder = options.photo_folder
    if folder is None:
        samples = write_sample_photos(options.preset_id, item_count, out_folder / "inputs")
        reporter.note(f"Photos: {item_count} samples drawn into {out_folder / 'inputs'}")
        return samples
    for skipped in folder.skipped:
        reporter.note(f"Skipped {skipped.name}: {skipped.reason}")
    reporter.note(f"Photos: {item_count} of the {len(folder.photos)} images in {folder.folder}")
    return folder.photos[:item_count]


def _upload_and_execute(
    client: ApiClient,
    job: JobCreated,
    photos: list[Path],
    rule: RulePublic,
    reporter: Reporter,
    options: DemoOptions,
) -> None:
    """PUT every photo to its URL, confirm the upload and queue the job with the rule."""
    for target in job.presigned_urls:
        client.upload(target.url, photos[target.idx].read_bytes())
    reporter.note(f"Uploaded {len(photos)} photos to job {job.job_id}")
    client.confirm_upload(job.job_id)
    template = options.template
    client.execute(job.job_id, rule.id, template, options.options)
    asked = f" and template {template}" if template else ""
    if options.options:
        asked += f" in {len(options.options)} options"
    reporter.note(f"Job {job.job_id} queued with rule '{rule.name}'{asked}")


def run_flow(client: ApiClient, options: DemoOptions, reporter: Reporter) -> DemoOutcome:
    """Sign in, save a rule, run one job over the photos and download its results."""
    client.check_health()
    session = client.sign_in(options.device_hash)
    account = client.account()
    who = "new anonymous user" if session.is_new else "returning anonymous user"
    reporter.note(
        f"Signed in as {who} {session.user_id}: plan {account.plan}, {account.credits} credits"
    )
    preset = client.preset(options.preset_id)
    reporter.note(f"Preset {preset.id} ({preset.name}): {', '.join(preset.concepts)}")
    rule, is_rule_reused = prepare_rule(client, preset)
    reporter.note(f"Rule '{rule.name}' {'reused' if is_rule_reused else 'created'} ({rule.id})")

    item_count = choose_item_count(options, account.max_items_per_job, account.credits)
    started_at = time.monotonic()
    created = client.create_job(preset.id, item_count)
    out_folder = options.out or DEFAULT_OUTPUT_ROOT / created.job_id
    try:
        photos = _photo_paths(options, item_count, out_folder, reporter)
        _upload_and_execute(client, created, photos, rule, reporter, options)
        with reporter.tracking(item_count) as on_poll:
            job, has_timed_out = wait_for_job(client, created.job_id, options, on_poll)
    except BaseException:
        _cancel_quietly(client, created.job_id)
        raise
    elapsed_seconds = time.monotonic() - started_at

    saved_files = save_results(client, job, out_folder)
    save_output_set(client, job, out_folder, reporter)
    return DemoOutcome(
        session=session,
        rule=rule,
        is_rule_reused=is_rule_reused,
        credits_before=account.credits,
        credits_after=client.account().credits,
        job=job,
        photo_names={index: path.name for index, path in enumerate(photos)},
        out_folder=out_folder,
        elapsed_seconds=elapsed_seconds,
        has_timed_out=has_timed_out,
        saved_files=saved_files,
    )
