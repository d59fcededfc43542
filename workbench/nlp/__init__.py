"""Clinical NLP on the reports (edsnlp, rule-based): words excluding negated, hypothetical and family mentions; TNM.

``find_mentions`` and ``tnm_mentions`` read the ``notes`` view within the
user's perimeter; the per-note cache in the state folder makes the second query
cost a lookup (see ``docs/nlp.md``).
"""

from workbench.nlp.mentions import find_mentions, tnm_mentions

__all__ = ["find_mentions", "tnm_mentions"]
