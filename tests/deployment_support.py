"""A deployment configuration for tests of `workbench --utilisateur …` (see `workbench.deployment`).

The CLI takes accounts, catalogue and state of a logged-in user from a file
owned by root and writable by root only, named by ``$WORKBENCH_CONFIG``. The
tests run as root, so a file they write with mode 0644 passes the same check a
real deployment's /etc/eds-workbench/config.yaml does.
"""

from __future__ import annotations

from pathlib import Path

import yaml


def write_deployment(folder: Path, *, access: Path, catalog: Path, state: Path, **more: Path) -> Path:
    """``folder/deployment.yaml`` naming these paths (mode 0644, owned by the test's user: root)."""
    path = folder / "deployment.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    document = {"access": str(access), "catalog": str(catalog), "state": str(state),
                **{key: str(value) for key, value in more.items()}}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    path.chmod(0o644)
    return path


def deployment_env(env: dict[str, str], *, access: Path, catalog: Path, state: Path | None = None,
                   folder: Path | None = None) -> dict[str, str]:
    """`env` with ``$WORKBENCH_CONFIG`` naming a deployment of `access`, `catalog` and `state` (default: the
    environment's ``$WORKBENCH_STATE``), written in `folder` (default: beside `access`)."""
    state = state or Path(env["WORKBENCH_STATE"])
    config = write_deployment(folder or Path(access).parent, access=access, catalog=catalog, state=state)
    return {**env, "WORKBENCH_CONFIG": str(config)}


def user_exports(state: Path, user: str) -> Path:
    """The exports folder of `user` in a deployment without an `exports` key: ``<state>/exports/<user>``."""
    return state / "exports" / user


__all__ = ["write_deployment", "deployment_env", "user_exports"]
