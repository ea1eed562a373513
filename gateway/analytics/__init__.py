"""Differentially private aggregates (OpenDP) over consenting customers, with privacy budgets on the ledger.

`AnalyticsService.answer` runs one query; `BudgetStore` and `Contributions` are what the CLI and the customer's
"who used my data" read back.
"""

from gateway.analytics.budget import BudgetExceeded, BudgetKey, BudgetState, BudgetStore, period_bounds
from gateway.analytics.contributions import Contributions, QueryRecord
from gateway.analytics.dp import CONFIDENCE, DpQuery, GroupRelease, PrivateStatistic, Release, Statistic
from gateway.analytics.service import QUERY_EVENT, AnalyticsQuery, AnalyticsService, Requester

__all__ = [
    "CONFIDENCE",
    "QUERY_EVENT",
    "AnalyticsQuery",
    "AnalyticsService",
    "BudgetExceeded",
    "BudgetKey",
    "BudgetState",
    "BudgetStore",
    "Contributions",
    "DpQuery",
    "GroupRelease",
    "PrivateStatistic",
    "QueryRecord",
    "Release",
    "Requester",
    "Statistic",
    "period_bounds",
]
