"""Clinical NLP on the reports (edsnlp, rule-based): words excluding negated, hypothetical and family mentions; TNM.

``find_mentions`` and ``tnm_mentions`` read the ``notes`` view within the
user's perimeter; the per-note cache in the state folder makes the second query
cost a lookup (see ``docs/nlp.md``).
"""

from workbench.nlp.mentions import find_mentions, tnm_mentions
from workbench.nlp.tnm import parse_condition, stage_filter

__all__ = ["find_mentions", "parse_condition", "stage_filter", "tnm_mentions"]
