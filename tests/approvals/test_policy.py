"""The approval policy: roles, four eyes by key and by email, and how long a grant holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from seid.approvals import names, policy
from seid.approvals.statement import Event, Identity
from seid.config import Manifest, load_manifest_text
from seid.errors import SeidError
from tests.approvals.conftest import manifest_text

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def manifest(roles: list[str] | None = None, expires: str | None = "P30D") -> Manifest:
    return load_manifest_text(manifest_text(roles, expires), "sei.yaml")


def event(who: Identity, decision: str = "request", role: str | None = None) -> Event:
    return Event(decision, who, T0, "signed-statement", "log#0", role=role)  # type: ignore[arg-type]


ALICE = Identity("Alice", "alice@example.org", "k-alice")


def test_roles() -> None:
    two = manifest(["risk-officer", "compliance"])
    assert policy.check_role(two, "compliance") == "compliance"
    with pytest.raises(SeidError, match=r"not in approval\.roles_required"):
        policy.check_role(two, "intern")
    with pytest.raises(SeidError, match="--role is required: one of risk-officer, compliance"):
        policy.check_role(two, None)
    assert policy.check_role(manifest([]), None) == policy.ANY_ROLE
    assert policy.check_role(manifest([]), "anything") == "anything"


def test_missing_roles() -> None:
    two = manifest(["risk-officer", "compliance"])
    bob = Identity("Bob", "bob@example.org", "k-bob")
    assert policy.missing_roles(two, [event(bob, "grant", "compliance")]) == ["risk-officer"]
    assert policy.missing_roles(manifest([]), []) == [policy.ANY_ROLE]
    assert policy.missing_roles(manifest([]), [event(bob, "grant", "x")]) == []


@pytest.mark.parametrize(
    ("other", "same"),
    [
        (Identity("Alice", "alice@example.org", "k-other"), True),  # second key, same email
        (Identity("A. Li", "ALICE@Example.org", None), True),  # case of the email
        (Identity("Someone", "else@example.org", "k-alice"), True),  # same key, other email
        (Identity("Bob", "bob@example.org", "k-bob"), False),
        (Identity("Bob", "bob@example.org", None), False),
    ],
)
def test_same_person_by_key_or_email(other: Identity, same: bool) -> None:
    assert policy.same_person(ALICE, other) is same


def test_self_decision_refused_with_one_line() -> None:
    request = event(ALICE)
    with pytest.raises(SeidError) as info:
        policy.refuse_self_decision(manifest(), request, Identity("A", "alice@example.org"))
    assert "self-approval refused" in str(info.value) and "\n" not in str(info.value)
    policy.refuse_self_decision(manifest(), request, Identity("B", "bob@example.org"))
    policy.refuse_self_decision(manifest(), None, ALICE)


def test_expiry_calendar_months_and_fallback() -> None:
    assert policy.expires_at(manifest(expires="P1M"), T0) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert policy.expiry_duration(manifest(expires=None)) == "P6M"  # risk.review_interval
    assert policy.expires_at(manifest(expires="P30D"), T0) == datetime(2026, 3, 2, 12, tzinfo=UTC)


def test_distinct_approvers_defaults_on_with_two_roles() -> None:
    assert not policy.distinct_approvers(manifest(["risk-officer"]))
    two = manifest(["risk-officer", "compliance"])
    assert policy.distinct_approvers(two)
    bob = Identity("Bob", "bob@example.org", "k-bob")
    first = event(bob, "grant", "risk-officer")
    assert policy.granted_other_role(two, [first], event(bob, "grant", "compliance")) == first
    other = Identity("Carol", "carol@example.org", "k-carol")
    assert policy.granted_other_role(two, [first], event(other, "grant", "compliance")) is None
    chosen = "  distinct_approvers: false\n"
    off = load_manifest_text(manifest_text(["risk-officer", "compliance"], None, chosen), "s")
    assert policy.granted_other_role(off, [first], event(bob, "grant", "compliance")) is None


def test_approvers_must_match_the_required_roles() -> None:
    policy_lines = "  approvers:\n    risk-oficer: [bob]\n"
    with pytest.raises(SeidError) as err:
        load_manifest_text(manifest_text(["risk-officer"], None, policy_lines), "sei.yaml")
    assert "sei.yaml:9:5: approval.approvers.risk-oficer" in str(
        err.value
    ) and "did you mean 'risk-officer'" in str(err.value)
    named = manifest_text(["risk-officer"], None, "  approvers: {risk-officer: [bob]}\n")
    assert names.open_policy(load_manifest_text(named, "sei.yaml")) is None
    assert names.open_policy(manifest(["risk-officer"])) == names.OPEN_POLICY
