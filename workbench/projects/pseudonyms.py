"""Keyed pseudonyms: identifiers replaced by an HMAC whose key the server keeps.

One secret of 32 random bytes lives in the state folder
(``<state>/secrets/pseudonyms.key``, mode 0600, created on first use), which
users' kernels cannot read. Each *scope* (a project, a user's cohort export)
derives its own key from it, HMAC-SHA256(secret, scope), so the same patient
gets the same pseudonym every time within a scope — a project can be rebuilt
or extended and its tables still join — and unrelated pseudonyms in two
scopes: without the secret, nobody links two projects' patients by their ids.
Each identifier *domain* (person, stay, movement…) is hashed apart, so a stay
and a patient sharing a number do not share a pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from workbench import paths

SECRET_NAME = "pseudonyms.key"
_MASK = (1 << 62) - 1  # positive int64, far from overflow in any engine


def secret_path() -> Path:
    """Where the server's pseudonymisation secret lives (inside the state folder, never a project's)."""
    return paths.state_path() / "secrets" / SECRET_NAME


def _secret() -> bytes:
    """The server's secret, created on first use with O_EXCL (two processes racing get the same file)."""
    path = secret_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_bytes()
        if len(value) == 32:
            return value
        raise RuntimeError(f"secret de pseudonymisation incomplet : {path}") from None
    value = secrets.token_bytes(32)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(value)
        handle.flush()
        os.fsync(handle.fileno())
    return value


class Pseudonymiser:
    """Pseudonyms of one scope: `integer` for id columns (int64 tables keep their type), `text` for exports."""

    def __init__(self, scope: str):
        self.scope = scope
        self._key = hmac.new(_secret(), f"scope:{scope}".encode(), hashlib.sha256).digest()

    def _digest(self, domain: str, value: object) -> bytes:
        return hmac.new(self._key, f"{domain}:{value}".encode(), hashlib.sha256).digest()

    def integer(self, domain: str, value: object) -> int:
        """A positive 62-bit integer standing for `value` of `domain` in this scope."""
        return int.from_bytes(self._digest(domain, value)[:8], "big") & _MASK

    def text(self, domain: str, value: object) -> str:
        """A 16-hex-digit text standing for `value` (a spreadsheet keeps it exact, unlike a 19-digit number)."""
        return self._digest(domain, value)[:8].hex()

    def column(self, values: pd.Series, domain: str, as_text: bool = False) -> pd.Series:
        """`values` replaced by their pseudonyms (nulls stay null); distinct values are hashed once."""
        distinct = values.dropna().unique()
        convert = self.text if as_text else self.integer
        mapping = {value: convert(domain, _plain(value)) for value in distinct}
        if not as_text:
            _check_unique(mapping.values(), domain, self.scope)
        converted = [None if pd.isna(value) else mapping[value] for value in values]  # never through float64
        return pd.Series(converted, index=values.index, dtype=object if as_text else "Int64")


def _plain(value: object) -> object:
    """Numpy and pandas integers hash like Python ints (``1`` and ``np.int64(1)`` are one patient)."""
    return int(value) if hasattr(value, "item") and float(value).is_integer() else value


def _check_unique(values: Iterable[int], domain: str, scope: str) -> None:
    listed = list(values)
    if len(set(listed)) != len(listed):  # 62 bits: never seen in practice, but a merge of patients would be silent
        raise RuntimeError(f"collision de pseudonymes ({domain}, {scope}) : reconstruire avec une autre portée")
