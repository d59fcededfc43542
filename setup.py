"""Build hook: ship the wiki and the notebook templates inside the `workbench` package.

Everything else (metadata, dependencies, package data) is in pyproject.toml.
The wiki and the templates stay where people edit them (``wiki/``,
``notebooks/templates/``); a wheel gets a copy under
``workbench/resources/`` so an installed `workbench` run from any folder finds
them (`workbench.paths.packaged`). An editable install needs no copy: it reads
the project's folders. A missing source folder fails the build rather than
producing a wheel without its wiki.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = {"wiki": "wiki", "notebooks/templates": "templates"}
"""Project folder -> name under workbench/resources/ (the names `workbench.paths.packaged` reads)."""


class BuildWithProjectFolders(build_py):
    """`build_py` that also copies the project folders of BUNDLED into the built package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for source, name in BUNDLED.items():
            folder = ROOT / source
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder}: folder to ship with the package is missing")
            shutil.copytree(folder, Path(self.build_lib) / "workbench" / "resources" / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))


setup(cmdclass={"build_py": BuildWithProjectFolders})
