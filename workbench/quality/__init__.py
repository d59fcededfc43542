"""Data quality of the warehouse: declared checks (Kahn/DQD framework), their engine, store and report.

Public API::

    from workbench.quality import run_checks, all_checks, violating_ids, ResultStore, quality_status
    run = run_checks(warehouse)                 # every check, one aggregate query each
    ResultStore().save(run)                     # SQLite (WAL) in the state folder, never the warehouse
    quality_status(warehouse, definition, start, end, {"hospital": "014"})   # fit / caution / unfit
"""

from workbench.quality.checks import all_checks, select_checks
from workbench.quality.engine import Scope, run_check, run_checks, violating_ids
from workbench.quality.model import Check, CheckResult, RunResult, Status
from workbench.quality.status import QualityStatus, quality_status
from workbench.quality.store import ResultStore, compare

__all__ = [
    "Check", "CheckResult", "RunResult", "Status", "Scope", "QualityStatus", "ResultStore",
    "all_checks", "select_checks", "run_check", "run_checks", "violating_ids", "quality_status", "compare",
]
