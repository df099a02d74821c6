"""The output policy read from the settings: templates per plan and the watermark spec."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from s3api.common.errors import ConfigurationError
from s3api.errors import ApiError, ErrorCode
from s3api.jobs.plan_outputs import PlanOutputs
from s3api.presets.catalog import PRESETS
from s3api.settings import Settings
from s3api.users.plans import Plan


def policy(**values: object) -> PlanOutputs:
    return PlanOutputs.from_settings(Settings(_env_file=None, **values))  # type: ignore[arg-type]


def test_defaults_give_free_the_before_after_set_and_pro_everything() -> None:
    outputs = policy()
    interior, seller = PRESETS["interior"], PRESETS["seller"]
    assert outputs.allowed_templates(Plan.FREE, interior) == ["전후비교"]
    assert outputs.allowed_templates(Plan.FREE, seller) == []
    assert outputs.allowed_templates(Plan.PRO, seller) == ["상품팩", "옵션보드", "썸네일8종"]


def test_template_lists_are_comma_separated_ids() -> None:
    outputs = policy(free_templates="전후비교, 썸네일8종", pro_templates="상품팩")
    assert outputs.allowed_templates(Plan.FREE, PRESETS["seller"]) == ["썸네일8종"]
    assert outputs.allowed_templates(Plan.PRO, PRESETS["seller"]) == ["상품팩"]


def test_an_unknown_template_id_in_the_settings_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown templates"):
        policy(free_templates="전후비교,before_after")


def test_a_refused_template_names_what_the_plan_allows() -> None:
    with pytest.raises(ApiError) as refused:
        policy().check_template(Plan.FREE, PRESETS["interior"], "시안3안팩")
    assert refused.value.code is ErrorCode.TEMPLATE_NOT_IN_PLAN
    assert refused.value.status == 403
    assert refused.value.details == {
        "plan": "free",
        "output_template": "시안3안팩",
        "allowed": ["전후비교"],
    }
    policy().check_template(Plan.FREE, PRESETS["interior"], None)


def test_the_watermark_is_for_the_free_plan_unless_switched_off() -> None:
    outputs = policy(watermark_box="0.1,0.2,0.3,0.1", watermark_text="Demo", watermark_opacity=1)
    assert outputs.watermark_for(Plan.FREE) == {
        "text": "Demo",
        "box": [0.1, 0.2, 0.3, 0.1],
        "opacity": 1.0,
    }
    assert outputs.watermark_for(Plan.PRO) is None
    assert policy(free_watermark="false").watermark_for(Plan.FREE) is None


@pytest.mark.parametrize(
    "values",
    [
        {"watermark_box": "0.1,0.2,0.3"},
        {"watermark_box": "0.8,0.2,0.3,0.1"},
        {"watermark_box": "0.1,0.2,0,0.1"},
        {"watermark_box": "-0.1,0.2,0.3,0.1"},
        {"watermark_text": "무료 플랜"},
        {"watermark_text": ""},
        {"watermark_opacity": 0},
        {"watermark_opacity": 1.5},
    ],
)
def test_a_bad_watermark_setting_is_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, **values)  # type: ignore[arg-type]
