"""The quality score: 100 minus the points lost, each with its reason.

Each check loses `weight * min(1, rate / saturation)` points, where `rate` is the share of lines (or
insights) with the defect and `saturation` the share at which the whole weight is lost:

| check | weight | rate | saturation |
| --- | --- | --- | --- |
| schema | 40 | invalid lines / lines | 0.20 |
| pii | 25 | lines with unmasked PII / lines | 0.05 |
| duplicates | 15 | exact + near duplicate lines / lines | 0.20 |
| evidence | 10 | insights with unsupported evidence / insights checked | 0.50 |
| length | 20 | lines training would drop as too long / lines | 0.10 |
| balance | 5 | (share of the most common category - 0.5) / 0.5, when above 0.5 | 1.00 |

Size loses 10 points below 50 examples and 3 below 200 (the playbook's minimum and recommendation).
The Great Expectations suite re-checks structure already counted under schema, so it loses no
points of its own. Grades: 90-100 excellent, 70-89 good, below 70 poor.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_EXAMPLES, RECOMMENDED_EXAMPLES = 50, 200
WEIGHTS = {"schema": (40.0, 0.20), "pii": (25.0, 0.05), "duplicates": (15.0, 0.20), "evidence": (10.0, 0.50),
           "length": (20.0, 0.10), "balance": (5.0, 1.00)}
SIZE_POINTS = {"below_minimum": 10.0, "below_recommended": 3.0}
BALANCE_FREE_SHARE = 0.5


@dataclass(frozen=True)
class Issue:
    check: str
    points: float
    reason: str

    def as_dict(self) -> dict:
        return {"check": self.check, "points": self.points, "reason": self.reason}


def points_lost(check: str, rate: float) -> float:
    weight, saturation = WEIGHTS[check]
    return round(weight * min(1.0, max(0.0, rate) / saturation), 2)


def grade(score: float) -> str:
    return "excellent" if score >= 90 else "good" if score >= 70 else "poor"


def rated_issue(check: str, count: int, total: int, what: str, detail: str = "") -> Issue | None:
    """An issue for `count` defects out of `total`, or None when nothing is lost."""
    if count <= 0 or total <= 0:
        return None
    rate = count / total
    return Issue(check, points_lost(check, rate), f"{count} of {total} {what} ({rate:.1%}){detail}")


def size_issue(n_examples: int) -> Issue | None:
    if n_examples < MIN_EXAMPLES:
        return Issue("size", SIZE_POINTS["below_minimum"],
                     f"{n_examples} examples, below the minimum of {MIN_EXAMPLES}")
    if n_examples < RECOMMENDED_EXAMPLES:
        return Issue("size", SIZE_POINTS["below_recommended"],
                     f"{n_examples} examples, below the recommended {RECOMMENDED_EXAMPLES}")
    return None


def balance_issue(category_counts: dict[str, int]) -> Issue | None:
    total = sum(category_counts.values())
    if total == 0:
        return None
    top, count = max(category_counts.items(), key=lambda kv: (kv[1], kv[0]))
    share = count / total
    if share <= BALANCE_FREE_SHARE:
        return None
    rate = (share - BALANCE_FREE_SHARE) / (1 - BALANCE_FREE_SHARE)
    return Issue("balance", points_lost("balance", rate), f"category {top!r} is {share:.0%} of {total} insights")


def quality_score(issues: list[Issue]) -> float:
    return round(max(0.0, 100.0 - sum(i.points for i in issues)), 1)
