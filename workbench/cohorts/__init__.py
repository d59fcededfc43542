"""Cohorts (issue 14): definitions (`definition.py`), saved versions (`store.py`), evaluation into members
and attrition (`evaluate.py`), feasibility by hospital × year with protection outside the perimeter
(`feasibility.py`) and seeded samples (`sampling.py`)."""
