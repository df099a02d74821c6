"""Rich output of the demo: step notes, the live progress bar, the summary and errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from s3api.demo.client import DemoError
from s3api.demo.flow import DemoOutcome
from s3api.jobs.schemas import JobDetail
from s3api.rules.schemas import RulePublic

SERVER_HINTS = {
    "SERVER_UNREACHABLE": "Is `s3api serve` running there? Leave out --server to start a local one.",
}


class RichReporter:
    """Prints the flow's notes and shows job progress as a rich progress bar."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def note(self, message: str) -> None:
        """A line about a step just taken."""
        self.console.print(f"[green]✓[/] {escape(message)}")

    @contextmanager
    def tracking(self, total_items: int) -> Iterator[Callable[[JobDetail], None]]:
        """A progress bar of finished items, labelled with the job's status."""
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task("waiting", total=total_items, failed=0)

            def show(job: JobDetail) -> None:
                progress.update(
                    task,
                    description=job.status,
                    completed=job.done_items + job.failed_items,
                    failed=job.failed_items,
                )

            yield show


def edited_concepts(rule: RulePublic) -> str:
    """Each edited concept with what it became: `Floor: recolor oak_a, Wall: tone warm`."""
    return ", ".join(
        f"{name}: {edit.action}" + (f" {edit.value}" if edit.value else "")
        for name, edit in rule.concepts.items()
    )


def print_summary(console: Console, outcome: DemoOutcome) -> None:
    """The run at a glance, then one row per item."""
    job = outcome.job
    overview = Table(title=f"Job {job.job_id}", show_header=False)
    overview.add_column("what", style="bold")
    overview.add_column("value", overflow="fold")
    overview.add_row("Status", job.status + (" (timed out)" if outcome.has_timed_out else ""))
    overview.add_row(
        "Items",
        f"{job.total_items} total, {job.done_items} done, {job.failed_items} failed",
    )
    overview.add_row(
        "Rule", f"{outcome.rule.name} ({'reused' if outcome.is_rule_reused else 'created'})"
    )
    overview.add_row("Edited", escape(edited_concepts(outcome.rule)))
    overview.add_row("Protected", escape(", ".join(outcome.rule.protect) or "nothing"))
    overview.add_row("Elapsed", f"{outcome.elapsed_seconds:.1f} s")
    overview.add_row("Credits before", str(outcome.credits_before))
    overview.add_row("Credits after", str(outcome.credits_after))
    overview.add_row("Output folder", str(outcome.out_folder.resolve()))
    console.print(overview)

    items = Table(title="Items")
    for column in ("idx", "photo", "status", "reason", "files"):
        items.add_column(column)
    for item in job.items:
        files = ", ".join(path.name for path in outcome.saved_files.get(item.idx, []))
        items.add_row(
            str(item.idx),
            escape(outcome.photo_names.get(item.idx, "")),
            item.status,
            escape(item.error or ""),
            files,
        )
    console.print(items)


def print_error(console: Console, error: DemoError) -> None:
    """An error as its code and message (never a traceback), with a hint when one helps."""
    console.print(f"[bold red]error[/] {escape(error.code)}: {escape(error.message)}")
    if error.details:
        console.print(f"  details: {escape(str(error.details))}")
    hint = SERVER_HINTS.get(error.code)
    if hint:
        console.print(f"  {escape(hint)}")
