"""Data quality of the warehouse: declared checks (Kahn/DQD framework), their engine, store and report.

Public API::

    from workbench.quality import run_checks, all_checks, violating_ids, ResultStore
    run = run_checks(warehouse)            # every check, one aggregate query each
    ResultStore().save(run)                # SQLite (WAL) in the state folder
"""

from workbench.quality.checks import all_checks, select_checks
from workbench.quality.engine import run_check, run_checks, violating_ids
from workbench.quality.model import Check, CheckResult, RunResult, Status

__all__ = [
    "Check", "CheckResult", "RunResult", "Status",
    "all_checks", "select_checks", "run_check", "run_checks", "violating_ids",
]
