"""compliance-trestle as the referee: seid writes OSCAL as plain data, and every document
must be one trestle's models accept and write back byte for byte."""

from __future__ import annotations

import yaml

from seid.oscal.render import render


def same_as_trestle(data: bytes, kind: str) -> None:
    """``data`` (YAML) validates as ``kind`` and re-serialises through trestle unchanged."""
    from trestle.oscal.assessment_plan import AssessmentPlan
    from trestle.oscal.assessment_results import AssessmentResults

    model = {"assessment-plan": AssessmentPlan, "assessment-results": AssessmentResults}[kind]
    document = yaml.safe_load(data)
    assert list(document) == [kind]
    parsed = model.model_validate(document[kind])
    assert render(parsed.oscal_dict()).decode() == data.decode()
