"""`docs/api.md` covers every route of the OpenAPI description and every error code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from s3api.app import create_app
from s3api.errors import ErrorCode
from tests.support.databases import make_settings
from tests.support.foundation import sqlite_url

REPOSITORY = Path(__file__).resolve().parents[2]
REFERENCE = REPOSITORY / "docs" / "api.md"
# "### `POST /jobs/{job_id}/cancel`": one heading per documented endpoint
_ENDPOINT_HEADING = re.compile(r"^### `([A-Z]+) (/[^`]*)`$", re.MULTILINE)


@pytest.fixture(scope="module")
def reference() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def test_every_openapi_operation_has_its_own_section(tmp_path: Path, reference: str) -> None:
    app = create_app(make_settings(tmp_path, sqlite_url(tmp_path / "r.db")), migrate=False)
    operations = {
        (method.upper(), path)
        for path, methods in app.openapi()["paths"].items()
        for method in methods
    }
    documented = set(_ENDPOINT_HEADING.findall(reference))
    assert operations - documented == set()
    assert documented - operations == set(), "sections for routes the API does not have"


def test_every_error_code_of_the_catalogue_is_documented(reference: str) -> None:
    missing = [code.name for code in ErrorCode if f"`{code.name}`" not in reference]
    assert missing == []


def test_every_job_and_item_status_is_documented(reference: str) -> None:
    from s3api.jobs.states import ItemStatus, JobStatus

    for status in (*JobStatus, *ItemStatus):
        assert f"`{status.value}`" in reference, status


def test_every_preset_concept_is_documented(reference: str) -> None:
    from s3api.presets.catalog import PRESETS

    for preset in PRESETS.values():
        names = (*preset.concepts, *preset.protect_defaults)
        names += tuple(template.id for template in preset.output_templates)
        for name in (preset.id, *names):
            assert f"`{name}`" in reference, name


def test_the_readme_links_the_reference_inside_the_repository() -> None:
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    assert "docs/api.md" in readme
    assert "../shared" not in readme
    assert "API.md" not in readme, "the contract outside the repository"


def test_the_readme_configuration_table_is_one_unbroken_table() -> None:
    lines = (REPOSITORY / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| `S3API_ENV`"))
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    table = "\n".join(lines[start:end])
    # a blank line inside the table ends it: the rows after it would not render
    for setting in ("MAX_STREAMS_PER_USER", "WEBHOOK_POLL_INTERVAL_SECONDS", "JWT_LEEWAY_SECONDS"):
        assert f"`{setting}`" in table
