"""`workbench wiki sync` against a real git remote: a bare repository made by the test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import UserError
from workbench.paths import PROJECT_ROOT
from workbench.wiki.sync import sync

GIT_ENV = {"GIT_AUTHOR_NAME": "Référent", "GIT_AUTHOR_EMAIL": "ref@aphp.example",
           "GIT_COMMITTER_NAME": "Référent", "GIT_COMMITTER_EMAIL": "ref@aphp.example"}


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV})
    return done.stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    """A bare 'hosted' wiki and the referents' working copy that pushes to it."""
    bare = tmp_path / "pilote.wiki.git"
    git("init", "--bare", "--quiet", "--initial-branch=main", str(bare), cwd=tmp_path)
    author = tmp_path / "referent"
    git("clone", "--quiet", str(bare), str(author), cwd=tmp_path)
    git("checkout", "--quiet", "-b", "main", cwd=author)
    (author / "Home.md").write_text("# Accueil\n\nVoir [[dms]].\n", encoding="utf-8")
    git("add", "Home.md", cwd=author)
    git("commit", "--quiet", "-m", "Accueil", cwd=author)
    git("push", "--quiet", "origin", "main", cwd=author)
    return bare, author


def test_first_sync_clones_then_pull_brings_new_pages(remote: tuple[Path, Path], tmp_path: Path) -> None:
    bare, author = remote
    into = tmp_path / "copie" / "wiki-pilote"
    first = sync(str(bare), into)
    assert first.action == "clone"
    assert (into / "Home.md").read_text(encoding="utf-8") == "# Accueil\n\nVoir [[dms]].\n"
    assert first.commit == git("rev-parse", "HEAD", cwd=author)

    again = sync(str(bare), into)
    assert (again.action, again.commit) == ("déjà à jour", first.commit)

    (author / "Referents.md").write_text("# Référents\n", encoding="utf-8")
    git("add", "Referents.md", cwd=author)
    git("commit", "--quiet", "-m", "Référents", cwd=author)
    git("push", "--quiet", "origin", "main", cwd=author)
    pulled = sync(str(bare), into)
    assert pulled.action == "mise à jour"
    assert pulled.commit == git("rev-parse", "HEAD", cwd=author) != first.commit
    assert (into / "Referents.md").exists()


def test_a_path_inside_the_project_is_refused_and_nothing_is_created(remote: tuple[Path, Path]) -> None:
    bare, _ = remote
    inside = PROJECT_ROOT / "wiki-synchro-refusee"
    with pytest.raises(UserError, match="hors du dépôt du projet"):
        sync(str(bare), inside)
    assert not inside.exists()


def test_a_folder_that_is_not_a_clone_is_not_overwritten(remote: tuple[Path, Path], tmp_path: Path) -> None:
    bare, _ = remote
    into = tmp_path / "notes"
    into.mkdir()
    (into / "perso.md").write_text("à garder\n", encoding="utf-8")
    with pytest.raises(UserError, match="pas un dépôt git"):
        sync(str(bare), into)
    assert (into / "perso.md").read_text(encoding="utf-8") == "à garder\n"


def test_diverged_local_copy_is_not_merged(remote: tuple[Path, Path], tmp_path: Path) -> None:
    bare, author = remote
    into = tmp_path / "wiki-pilote"
    sync(str(bare), into)
    (into / "Home.md").write_text("# Accueil modifié localement\n", encoding="utf-8")
    git("commit", "--quiet", "-am", "local", cwd=into)
    (author / "Home.md").write_text("# Accueil modifié par le référent\n", encoding="utf-8")
    git("commit", "--quiet", "-am", "distant", cwd=author)
    git("push", "--quiet", "origin", "main", cwd=author)
    with pytest.raises(UserError, match="pull"):
        sync(str(bare), into)
    assert (into / "Home.md").read_text(encoding="utf-8") == "# Accueil modifié localement\n"


def test_cli_sync_clone_then_pull(remote: tuple[Path, Path], tmp_path: Path) -> None:
    bare, _ = remote
    into = tmp_path / "cli-wiki"
    command = [sys.executable, "-m", "workbench.cli", "wiki", "sync", "--remote", str(bare), "--into", str(into)]
    first = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "Wiki clone" in first.stdout
    second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and "déjà à jour" in second.stdout
    refused = subprocess.run([*command[:-1], str(PROJECT_ROOT / "wiki-copie")], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "hors du dépôt du projet" in refused.stderr
