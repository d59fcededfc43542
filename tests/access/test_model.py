"""access.yaml: validation naming the user and the key, hashed passwords, login, `users` CLI."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from workbench import audit
from workbench.access import authenticate, load_access, policy_key
from workbench.access.model import hash_password, verify_password
from workbench.cli import main
from workbench.errors import UserError

from .conftest import CARDIO, INJECTION, user

HASH = hash_password("x")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("users:\n  alice:\n    role: chef\n    password_hash: '{h}'\n",
         "utilisateur « alice », clé « role » : rôle inconnu 'chef'"),
        ("users:\n  bob:\n    role: clinicien\n    password_hash: '{h}'\n",
         "utilisateur « bob », clé « perimeter » : le rôle clinicien exige un périmètre"),
        ("users:\n  carl:\n    role: analyste_dim\n    nominative: true\n    password_hash: '{h}'\n",
         "utilisateur « carl », clé « nominative » : le rôle analyste_dim n'a pas de droit nominatif"),
        ("users:\n  dana:\n    role: referent_pilotage\n    perimeter: ['014']\n    password_hash: '{h}'\n",
         "utilisateur « dana », clé « perimeter »"),
        ("users:\n  emma:\n    role: admin\n    password_hash: secret\n",
         "utilisateur « emma », clé « password_hash » : doit être une empreinte scrypt"),
        ("users:\n  fred:\n    role: admin\n",
         "utilisateur « fred », clé « password_hash » : clé obligatoire absente"),
        ("users:\n  gus:\n    role: admin\n    colour: red\n    password_hash: '{h}'\n",
         "utilisateur « gus », clé « colour » : clé inconnue"),
        ("policy:\n  min_count: 0\nusers: {{}}\n", "clé « policy.min_count »"),
    ],
)
def test_malformed_access_file_names_user_and_key(tmp_path, body, message):
    path = write(tmp_path / "access.yaml", body.format(h=HASH))
    with pytest.raises(UserError, match="access.yaml") as error:
        load_access(path)
    assert message in str(error.value)


def test_passwords_are_salted_hashes_never_clear_text(access_file):
    text = access_file.read_text(encoding="utf-8")
    assert "c@rdio" not in text and "p1lote" not in text
    first, second = hash_password("same"), hash_password("same")
    assert first != second  # salted
    assert verify_password("same", first) and verify_password("same", second)
    assert not verify_password("other", first)
    assert not verify_password("same", "scrypt$garbage")


def test_authenticate_returns_the_context_and_audits_every_attempt(access_file):
    context = authenticate("cardio", "c@rdio", access_file)
    assert context is not None
    assert (context.role, context.perimeter, context.nominative, context.min_count) == (
        "clinicien", frozenset({CARDIO}), False, 10)
    assert authenticate("cardio", "wrong", access_file) is None
    assert authenticate("nobody", "c@rdio", access_file) is None
    assert authenticate(INJECTION, INJECTION, access_file) is None
    logins = [(e["user"], e["ok"]) for e in audit.search(event="login")]
    assert logins == [("cardio", True), ("cardio", False), ("nobody", False), (INJECTION, False)]
    assert "c@rdio" not in audit.log_path().read_text(encoding="utf-8")


def test_policy_key_separates_perimeters_and_roles():
    keys = {
        policy_key(user("clinicien", (CARDIO,))), policy_key(user("clinicien", ("014-S04",))),
        policy_key(user("referent_pilotage")), policy_key(user("clinicien", (CARDIO,), nominative=True)),
    }
    assert len(keys) == 4
    assert policy_key(user("clinicien", (CARDIO,), name="a")) == policy_key(user("clinicien", (CARDIO,), name="b"))


def run(argv: list[str], stdin: str = "", monkeypatch=None, capsys=None) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        main(argv)
        code = 0
    except SystemExit as done:
        code = done.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_users_cli_add_and_list(tmp_path, monkeypatch, capsys):
    path = tmp_path / "access.yaml"
    code, _, err = run(["users", "add", "marie", "--role", "clinicien", "--perimeter", "014-S03,014-S04",
                        "--nominative", "--password-stdin", "--access", str(path)], "mot-de-passe\n", monkeypatch, capsys)
    assert code == 0, err
    code, _, err = run(["users", "add", "zoe", "--role", "clinicien", "--password-stdin", "--access", str(path)],
                       "pw\n", monkeypatch, capsys)
    assert code == 1 and "utilisateur « zoe », clé « perimeter »" in err
    code, out, _ = run(["users", "list", "--format", "json", "--access", str(path)], "", monkeypatch, capsys)
    assert code == 0
    assert json.loads(out) == {"min_count": 10, "users": [
        {"name": "marie", "role": "clinicien", "perimeter": ["014-S03", "014-S04"], "nominative": True}]}
    assert "mot-de-passe" not in path.read_text(encoding="utf-8")
    assert authenticate("marie", "mot-de-passe", path) is not None


def test_demo_accounts_load_and_log_in():
    """The root access.yaml: the documented demo passwords of docs/security.md."""
    root = Path(__file__).resolve().parents[2] / "access.yaml"
    demo = {"admin": "admin-demo", "clinicien.cardio": "cardio-demo", "dim.014": "dim-demo",
            "pilotage": "pilotage-demo", "entrepot": "entrepot-demo"}
    assert set(load_access(root).users) == set(demo)
    for name, password in demo.items():
        assert authenticate(name, password, root) is not None, name
