"""Valid codes of the French nomenclatures (CIM-10, CCAM, UCD) for conformance checks.

Read through `workbench.vocab`, the loaders the demo generator also draws from,
so both sides agree on what "exists" means. A diagnosis must be a *codable*
CIM-10 code (type 0): a category header such as ``E11`` is not a PMSI code.
"""

from __future__ import annotations

SUPPORTED = ("cim10", "ccam", "ucd")


def valid_codes(vocabulary: str) -> frozenset[str]:
    """The codes a warehouse row may carry in `vocabulary` (cached by `workbench.vocab`)."""
    from workbench import vocab

    if vocabulary == "cim10":
        frame = vocab.cim10()
        return frozenset(frame.loc[frame["type"] == vocab.CODABLE, "code"])
    if vocabulary == "ccam":
        return vocab.ccam_codes()
    if vocabulary == "ucd":
        return vocab.ucd_codes()
    raise ValueError(f"nomenclature inconnue : {vocabulary} (attendu : {', '.join(SUPPORTED)})")
