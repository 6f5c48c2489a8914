"""Governance: the spec's milestones per CI, and voting recommendations.

Milestones are the policy's own (``milestones``: Ironic's Mitaka-2 intent, Neutron's
Icehouse-2 testing, Cinder's March 2015 deadline...); each is met by one kind of evidence:
intent registered (a Gerrit account and a contact in the registry), sandbox (comments on
the sandbox project) or per-patch testing (results on the project). Each is met on a date,
missed, or pending. Voting is recommended only after
``voting.min_days_reliable`` days of reliable operation, and its withdrawal is recommended
for a voting CI that turned unreliable. An unproven CI (not every criterion assessed) is never
recommended a vote, and never loses one for that alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from driverci.audit.evaluate.verdict import AT_RISK, RELIABLE, UNPROVEN, UNRELIABLE
from driverci.audit.govern.report import MilestoneStatus
from driverci.policy.schema import MilestoneEvidence, Policy
from driverci.registry.schema import CISystem


@dataclass(frozen=True)
class Activity:
    """What Gerrit shows of one CI account, for its milestones."""

    account_seen: date | None  # first time the account appeared on Gerrit at all
    first_sandbox_comment: date | None
    first_project_result: date | None


def milestones_for(
    ci: CISystem | None, activity: Activity, policy: Policy, today: date
) -> list[MilestoneStatus]:
    started = ci.started if ci else None
    achieved: dict[MilestoneEvidence, date | None] = {
        "intent": _intent_date(ci, activity),
        "sandbox": activity.first_sandbox_comment,
        "per_patch": activity.first_project_result,
    }
    statuses = []
    for milestone in policy.milestones:
        due = policy.milestone_due(milestone.key, started)
        met = achieved[milestone.met_by]
        if met is not None:
            state = "met" if due is None or met <= due else "met_late"
        elif due is not None and today > due:
            state = "missed"
        else:
            state = "pending"
        statuses.append(
            MilestoneStatus(
                key=milestone.key,
                name=milestone.name,
                state=state,
                due=due.isoformat() if due else None,
                met_on=met.isoformat() if met else None,
            )
        )
    return statuses


def _intent_date(ci: CISystem | None, activity: Activity) -> date | None:
    # Intent = a system account exists and the registry names a point of contact.
    if ci is None or not ci.contacts:
        return None
    candidates = [d for d in (activity.account_seen, ci.started) if d is not None]
    return min(candidates) if candidates else None


def voting_recommendation(
    ci: CISystem | None,
    verdict: str,
    reliable_since: datetime | None,
    policy: Policy,
    now: datetime,
) -> dict[str, object]:
    """What the Ironic team should do about this CI's vote, with the reason."""
    allowed = bool(ci and ci.voting.allowed)
    rule = policy.voting
    if not rule.grants_allowed:
        return {
            "allowed": allowed,
            "recommendation": "none",
            "reason": f"{policy.project} grants no Verified votes to third-party CIs",
        }
    if allowed:
        withdraw = verdict == UNRELIABLE or (rule.withdraw_when == AT_RISK and verdict == AT_RISK)
        if withdraw:
            return {
                "allowed": True,
                "recommendation": "withdraw",
                "reason": f"the CI is {verdict} and may not keep its vote",
            }
        if verdict == UNPROVEN:
            return {
                "allowed": True,
                "recommendation": "keep",
                "reason": "the CI is unproven: not every criterion is assessed, and missing "
                "evidence alone does not take a vote away",
            }
        return {"allowed": True, "recommendation": "keep", "reason": f"the CI is {verdict}"}
    if verdict == UNPROVEN:
        return {
            "allowed": False,
            "recommendation": "not_yet",
            "reason": "a vote needs evidence: not every criterion is assessed yet",
        }
    if verdict != RELIABLE or reliable_since is None:
        return {
            "allowed": False,
            "recommendation": "not_yet",
            "reason": "a vote needs a history of reliable operation",
        }
    days = (now - reliable_since).days
    if days >= rule.min_days_reliable:
        return {
            "allowed": False,
            "recommendation": "grant",
            "reason": f"reliable for {days} days (policy asks {rule.min_days_reliable})",
        }
    return {
        "allowed": False,
        "recommendation": "not_yet",
        "reason": f"reliable for {days} of the {rule.min_days_reliable} days policy asks",
    }
