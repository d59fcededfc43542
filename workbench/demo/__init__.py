"""The seeded, vectorised demo-warehouse generator (AP-HP flavour) and its flaw manifest.

``build_demo(out)`` writes ``eds.duckdb``, ``parquet/``, ``flaws.json``, ``notes_truth.json`` and
``catalog.yaml`` into ``out``; see :mod:`workbench.demo.build`.
"""

from workbench.demo.build import GENERATOR_VERSION, build_demo

__all__ = ["GENERATOR_VERSION", "build_demo"]
