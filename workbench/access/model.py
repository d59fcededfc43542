"""Users, roles and perimeters: `access.yaml`, validated, with hashed passwords.

The file is the single source of who may read what. It is validated user by
user so an error names the user and the key at fault; passwords are stored
only as salted scrypt hashes (standard library, no extra dependency), so the
file can be read by operators without revealing any password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workbench.errors import UserError


@dataclass(frozen=True)
class Role:
    """What a role may do: patient-level rows (within its perimeter), nominative data, perimeter rule.

    `quality_reports` lets a role without patient-level rows read the whole
    warehouse's data-quality runs through the quality disclosure filter
    (`workbench.quality.disclosure`); patient-level roles read checks run on
    their own rows whatever this flag says.
    """

    name: str
    patient_level: bool
    nominative_allowed: bool
    perimeter_required: bool
    description: str
    quality_reports: bool = False


ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role("clinicien", True, True, True, "lignes patients de son périmètre (pseudonymisées sauf droit nominatif)"),
        Role("analyste_dim", True, False, False, "lignes patients pseudonymisées de ses hôpitaux (ou de tous)"),
        Role("referent_pilotage", False, False, False, "agrégats seulement, tous périmètres, sous la politique de diffusion"),
        Role("equipe_entrepot", False, False, False, "rapports de qualité et agrégats sous la politique de diffusion",
             quality_reports=True),
        Role("admin", True, True, False, "tout, y compris l'identité des patients", quality_reports=True),
    )
}
DEFAULT_MIN_COUNT = 10
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


# --- passwords --------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """A salted scrypt hash ``scrypt$n$r$p$salt$hash`` (never the clear text)."""
    if not password:
        raise UserError("mot de passe vide")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; constant-time comparison, False on a malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# --- the file -----------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserEntry(_Strict):
    """One account of access.yaml."""

    role: str
    perimeter: tuple[str, ...] = ()
    nominative: bool = False
    password_hash: str = Field(min_length=1)

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError(f"rôle inconnu {value!r} (rôles : {', '.join(ROLES)})")
        return value

    @field_validator("perimeter", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if isinstance(value, list) and not all(isinstance(code, str) and code.strip() for code in value):
            raise ValueError("chaque code de périmètre doit être une chaîne non vide")
        return value

    @field_validator("password_hash")
    @classmethod
    def _is_hash(cls, value: str) -> str:
        if not value.startswith("scrypt$") or value.count("$") != 5:
            raise ValueError("doit être une empreinte scrypt (workbench users add), jamais un mot de passe en clair")
        return value

    def check_rules(self) -> None:
        """Rules spanning keys: the role's perimeter and nominative constraints."""
        role = ROLES[self.role]
        if role.perimeter_required and not self.perimeter:
            raise ValueError(("perimeter", f"le rôle {self.role} exige un périmètre (codes d'unités)"))
        if self.nominative and not role.nominative_allowed:
            raise ValueError(("nominative", f"le rôle {self.role} n'a pas de droit nominatif"))
        if not role.patient_level and self.perimeter:
            raise ValueError(("perimeter", f"le rôle {self.role} voit tous les périmètres (agrégats) : pas de périmètre"))


class Policy(_Strict):
    """Disclosure settings: the minimum number of distinct patients behind a shown cell."""

    min_count: int = Field(DEFAULT_MIN_COUNT, ge=1)


@dataclass(frozen=True)
class AccessFile:
    """The loaded access.yaml: its path, policy and users."""

    path: Path
    policy: Policy
    users: dict[str, UserEntry]


def access_path(explicit: Path | None = None) -> Path:
    """The access file: explicit path, `$WORKBENCH_ACCESS`, or `./access.yaml`."""
    if explicit is not None:
        return explicit
    value = os.environ.get("WORKBENCH_ACCESS")
    return Path(value).expanduser() if value else Path.cwd() / "access.yaml"


def _error(path: Path, where: str, key: str, message: str) -> UserError:
    return UserError(f"{path.name} : {where}, clé « {key} » : {message}")


def user_entry(path: Path, name: str, raw: Any) -> UserEntry:
    """The account `name` of access.yaml checked, or a `UserError` naming the file and the account (also used
    by `workbench user` to check an account before writing it)."""
    where = f"utilisateur « {name} »"
    if not isinstance(raw, dict):
        raise UserError(f"{path.name} : {where} : attendu un dictionnaire (role, perimeter, password_hash…)")
    try:
        entry = UserEntry.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "?"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "clé obligatoire absente"
        elif first["type"] == "extra_forbidden":
            message = "clé inconnue"
        raise _error(path, where, key, message) from None
    try:
        entry.check_rules()
    except ValueError as error:
        key, message = error.args[0]
        raise _error(path, where, key, message) from None
    return entry


def load_access(path: str | Path | None = None) -> AccessFile:
    """Read and validate access.yaml; a `UserError` names the user and the key at fault."""
    path = access_path(Path(path) if path is not None else None)
    if not path.is_file():
        raise UserError(f"fichier des accès introuvable : {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise UserError(f"{path.name} : YAML invalide : {error}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path.name} : attendu un dictionnaire avec les clés « policy » et « users »")
    unknown = set(raw) - {"policy", "users"}
    if unknown:
        raise UserError(f"{path.name} : clé(s) inconnue(s) : {', '.join(sorted(unknown))}")
    try:
        policy = Policy.model_validate(raw.get("policy") or {})
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise UserError(f"{path.name} : clé « policy.{key} » : {first['msg']}") from None
    users = raw.get("users") or {}
    if not isinstance(users, dict):
        raise UserError(f"{path.name} : clé « users » : attendu un dictionnaire nom → compte")
    return AccessFile(path, policy, {str(name): user_entry(path, str(name), entry) for name, entry in users.items()})


def save_access(access: AccessFile) -> None:
    """Write the file atomically (temporary file then rename), so a crash never leaves it half-written."""
    payload = {
        "policy": access.policy.model_dump(),
        "users": {
            name: {k: (list(v) if isinstance(v, tuple) else v) for k, v in entry.model_dump().items()}
            for name, entry in sorted(access.users.items())
        },
    }
    temporary = access.path.with_name(access.path.name + ".tmp")
    temporary.write_text(
        "# Comptes et droits de l'atelier (workbench users add). Mots de passe : empreintes scrypt.\n"
        + yaml.safe_dump(payload, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    os.replace(temporary, access.path)


def empty_access(path: Path) -> AccessFile:
    """A new access file with the default policy and no user."""
    return AccessFile(path, Policy(), {})
