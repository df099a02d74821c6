"""The import graph: data walks downhill, from routes to services to the domain cores to
the repositories and the infrastructure, never back."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import s3api

PACKAGE_ROOT = Path(s3api.__file__).parent

# Lowest first. A package may import only from packages of a lower layer than its own.
LAYERS: list[set[str]] = [
    {"__init__", "common"},
    {"ids", "timeutil", "errors", "settings"},
    {"db", "security"},
    {"observability"},
    {"http", "logging_setup"},
    {"storage", "queue", "notify"},
    {"users"},
    {"ratelimit"},
    {"presets"},
    {"worker"},
    {"rules"},
    {"jobs"},
    {"delivery"},
    {"dispatch"},
    {"webhooks"},
    {"shares"},
    {"account", "auth", "health"},
    {"scheduled"},
    {"demo"},
    {"context"},
    {"app"},
    {"cli"},
    {"__main__"},
]
DOMAINS = {
    "users",
    "rules",
    "jobs",
    "presets",
    "account",
    "auth",
    "delivery",
    "dispatch",
    "webhooks",
    "shares",
}
# Imports that run from a lower layer to a higher one, each kept for a reason in the README.
ALLOWED_UPWARD: set[tuple[str, str]] = set()


def _package_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE_ROOT)
    return relative.parts[0].removesuffix(".py")


def _imported_packages(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "s3api" and len(parts) > 1:
                yield parts[1]


def _edges() -> set[tuple[str, str, str]]:
    """(importing package, imported package, importing module) for every cross-package import."""
    edges = set()
    for path in PACKAGE_ROOT.rglob("*.py"):
        source = _package_of(path)
        for target in _imported_packages(path):
            if target != source:
                edges.add((source, target, str(path.relative_to(PACKAGE_ROOT))))
    return edges


def _layer(package: str) -> int:
    for rank, members in enumerate(LAYERS):
        if package in members:
            return rank
    raise AssertionError(f"package {package!r} has no layer in tests/test_architecture.py")


def test_every_package_has_a_layer() -> None:
    for path in PACKAGE_ROOT.rglob("*.py"):
        _layer(_package_of(path))


def test_the_queue_imports_no_domain_package() -> None:
    offending = {(module, target) for source, target, module in _edges() if source == "queue"}
    assert {pair for pair in offending if pair[1] in DOMAINS} == set()


def test_imports_run_downhill_only() -> None:
    upward = {
        (source, target, module)
        for source, target, module in _edges()
        if _layer(target) >= _layer(source) and (source, target) not in ALLOWED_UPWARD
    }
    assert upward == set()


def test_no_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = {}
    for source, target, _module in _edges():
        graph.setdefault(source, set()).add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for step in graph.get(start, set()):
            if step == goal or (step not in seen and reaches(step, goal, seen | {step})):
                return True
        return False

    cycles = sorted(package for package in graph if reaches(package, package, {package}))
    assert cycles == []


def test_no_coordinators_package_remains() -> None:
    assert not (PACKAGE_ROOT / "coordinators").exists()


# `jobs/analysis`: its data layer may serve the jobs core; its use cases build on the core.
ANALYSIS_DATA_LAYER = {"keys", "schemas", "repository", "selection", "messages", "views", "reports"}
# what of the jobs core the analysis data layer may read: records and states only
JOBS_CORE_BELOW_ANALYSIS = {"records", "states"}


def _jobs_modules_imported(path: Path) -> Iterator[tuple[str, ...]]:
    """The `s3api.jobs.…` modules a file imports, as parts after `jobs`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["s3api", "jobs"] and len(parts) > 2:
                yield tuple(parts[2:])


def test_the_jobs_core_imports_only_the_analysis_data_layer() -> None:
    jobs = PACKAGE_ROOT / "jobs"
    offending = {
        (str(path.relative_to(PACKAGE_ROOT)), ".".join(parts))
        for path in jobs.glob("*.py")
        for parts in _jobs_modules_imported(path)
        if parts[0] == "analysis" and len(parts) > 1 and parts[1] not in ANALYSIS_DATA_LAYER
    }
    assert offending == set()


def test_the_analysis_data_layer_reads_only_records_of_the_jobs_core() -> None:
    analysis = PACKAGE_ROOT / "jobs" / "analysis"
    offending = {
        (str(path.relative_to(PACKAGE_ROOT)), ".".join(parts))
        for path in analysis.glob("*.py")
        if path.stem in ANALYSIS_DATA_LAYER
        for parts in _jobs_modules_imported(path)
        if parts[0] != "analysis" and parts[0] not in JOBS_CORE_BELOW_ANALYSIS
    }
    assert offending == set()


# `jobs/output_sets`: like `jobs/analysis`, its data layer may serve the jobs core
OUTPUT_SETS_DATA_LAYER = {"keys", "schemas", "plan", "variants", "repository", "messages", "views"}


def test_the_jobs_core_imports_only_the_output_sets_data_layer() -> None:
    jobs = PACKAGE_ROOT / "jobs"
    offending = {
        (str(path.relative_to(PACKAGE_ROOT)), ".".join(parts))
        for path in jobs.glob("*.py")
        for parts in _jobs_modules_imported(path)
        if parts[0] == "output_sets" and len(parts) > 1 and parts[1] not in OUTPUT_SETS_DATA_LAYER
    }
    assert offending == set()


def test_the_output_sets_data_layer_reads_only_records_of_the_jobs_core() -> None:
    output_sets = PACKAGE_ROOT / "jobs" / "output_sets"
    offending = {
        (str(path.relative_to(PACKAGE_ROOT)), ".".join(parts))
        for path in output_sets.glob("*.py")
        if path.stem in OUTPUT_SETS_DATA_LAYER
        for parts in _jobs_modules_imported(path)
        if parts[0] != "output_sets" and parts[0] not in JOBS_CORE_BELOW_ANALYSIS
    }
    assert offending == set()
