"""API keys for the HTTP API: who a program is, what role it acts with and what it may call.

A key is sent as `Authorization: Bearer rk_...`. Only its SHA-256 is stored (table `api_keys`
in the app-state store), with the first 8 characters as a `prefix` to recognise it in lists;
the plaintext is returned once by `create_key` and never logged or kept. A fast hash is right
here, unlike for passwords: a key is 32 random bytes, so there is nothing to guess offline.

Each key holds one role from `engine.core.access.ROLES` and acts as a `Viewer` of that role
(`ApiKey.viewer`). A CSM key is bound to one CSM user, its `owner`, and sees exactly that
user's book. Scopes narrow what a key may call; a role's defaults are also the most it may
have (a CSM key never reads forecasts, an executive key never runs scenarios).

Revoked keys stay listed with `revoked_at` and never authenticate again.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import computed_field
from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from engine.auth import users
from engine.core import store
from engine.core.access import ROLES, Viewer
from engine.core.contracts import Contract
from engine.core.errors import BadInputError, NotFoundError, RadarError

DataDir = str | os.PathLike | None

SCOPES: dict[str, str] = {
    "scores:read": "churn scores, risk scores, predictions, export, single prediction",
    "customers:read": "Customer 360, LTV, actions list",
    "ai:write": "summaries, answers, drafts (they call the LLM and write the audit log)",
    "forecasts:read": "MRR forecasts",
    "scenarios:read": "saved scenarios",
    "scenarios:write": "run scenarios",
    "models:read": "model registry, drift",
}
_READS = tuple(s for s in SCOPES if s.endswith(":read"))

# A role's default scopes, which are also the most a key of that role may hold.
DEFAULT_SCOPES: dict[str, tuple[str, ...]] = {
    "csm": ("scores:read", "customers:read", "ai:write"),
    "executive": (*_READS, "ai:write"),
    "analyst": tuple(SCOPES),
    "admin": tuple(SCOPES),
}

KEY_PREFIX = "rk_"
PREFIX_LENGTH = 8  # "rk_" and 5 random characters: enough to tell keys apart in a list
_KEY = re.compile(r"^rk_[A-Za-z0-9_-]{43}$")  # token_urlsafe(32) is 43 characters
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# last_used_at is written at most this often per key, so a busy key costs one read per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
USERS_HINT = "See the users with `.venv/bin/python -m engine users list` (or the Users page)."


class KeyRejected(RadarError):
    """A presented API key is unknown, malformed or revoked (the API answers 401)."""


class ApiKey(Contract):
    """An API key as listed: everything but the secret and its hash."""

    name: str
    role: str
    owner: str | None  # the CSM whose book a csm key sees; None for other roles
    scopes: tuple[str, ...]
    created_at: datetime
    created_by: str
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    prefix: str  # first 8 characters of the key, to recognise it

    @computed_field  # type: ignore[prop-decorator]
    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def viewer(self, book_owner: str = "") -> Viewer:
        """Who the key acts as: a CSM key is its owner (so `owner_filter` gives exactly their
        book, filed under `book_owner` when their user has one: `csm_book_owner`); other roles
        see the whole portfolio and are named after the key."""
        if self.role == "csm":
            if not self.owner:  # create_key refuses these; a hand-edited row must not widen access
                raise KeyRejected(f"API key '{self.name}' is a CSM key without an owner. Revoke it.")
            return Viewer(username=self.owner, role="csm", name=f"API key {self.name}", owner=book_owner)
        return Viewer(username=f"api:{self.name}", role=self.role, name=f"API key {self.name}")

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


# -- rules -------------------------------------------------------------------------------------
def _a(role: str) -> str:
    return f"{'an' if role[:1] in 'aeiou' else 'a'} {role}"


def check_name(name: str) -> str:
    cleaned = (name or "").strip()
    if not _NAME.match(cleaned):
        raise BadInputError(
            f"'{name}' is not a usable key name: use 1-64 letters, digits, '.', '_' or '-' (e.g. crm-sync)."
        )
    return cleaned


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadInputError(f"Unknown role '{role}'. Roles are: {', '.join(ROLES)}.")
    return role


def parse_scopes(text: str) -> list[str]:
    """'scores:read, ai:write' -> ['scores:read', 'ai:write'] (for the CLI's --scopes)."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def check_scopes(role: str, scopes: Sequence[str] | None) -> tuple[str, ...]:
    """The key's scopes in canonical order: the role's defaults when None; refuses unknown ones,
    an empty list and any scope the role itself does not have."""
    if scopes is None:
        return DEFAULT_SCOPES[role]
    if isinstance(scopes, str):
        scopes = parse_scopes(scopes)
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise BadInputError(f"Unknown scope {', '.join(repr(s) for s in unknown)}. Scopes are: {', '.join(SCOPES)}.")
    if not scopes:
        raise BadInputError(f"Give the key at least one scope. Scopes are: {', '.join(SCOPES)}.")
    beyond = [s for s in scopes if s not in DEFAULT_SCOPES[role]]
    if beyond:
        raise BadInputError(
            f"{_a(role).capitalize()} key cannot have {', '.join(beyond)}: the role itself may not. "
            f"{_a(role).capitalize()} key may have: {', '.join(DEFAULT_SCOPES[role])}."
        )
    return tuple(s for s in SCOPES if s in scopes)


def check_owner(role: str, owner: str | None, data_dir: DataDir = None) -> str | None:
    """The owner as stored: a known CSM user's username for a csm key, None for other roles."""
    given = (owner or "").strip()
    owner = given.lower() or None
    if role != "csm":
        if owner:
            raise BadInputError(
                f"Only a CSM key has an owner; {_a(role)} key sees the whole portfolio. Leave the owner out."
            )
        return None
    if not owner:
        raise BadInputError(
            "A CSM key needs an owner: the CSM whose book it sees (their username, e.g. --owner ana.silva)."
        )
    people = users.list_users(data_dir)
    found = {u.username: u.role for u in people}
    if found.get(owner) != "csm":
        why = (
            f"'{owner}' is {_a(found[owner])} user, not a CSM" if owner in found else f"There is no CSM user '{owner}'"
        )
        # --owner "Maya Chen" (the book as the CRM writes it) for the CSM filed under it: name them.
        filed = [u.username for u in people if u.role == "csm" and u.book_owner.casefold() == given.casefold()]
        if filed:
            raise BadInputError(
                f"{why}. '{given}' is the book of CSM user {' and '.join(filed)}: a CSM key's owner is the CSM's "
                f"username (--owner {filed[0]})."
            )
        raise BadInputError(f"{why}. A CSM key's owner must be a CSM user. {USERS_HINT}")
    return owner


# -- the table ---------------------------------------------------------------------------------
def _engine(data_dir: DataDir) -> Engine:
    return store.get_engine(data_dir)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _utc(moment: datetime | None) -> datetime | None:
    """Timezone-aware UTC (SQLite hands back naive UTC)."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _key(row: Any) -> ApiKey:
    return ApiKey(
        name=row.name,
        role=row.role,
        owner=row.owner,
        scopes=tuple(row.scopes or ()),
        created_at=_utc(row.created_at),
        created_by=row.created_by,
        last_used_at=_utc(row.last_used_at),
        revoked_at=_utc(row.revoked_at),
        prefix=row.prefix,
    )


def _get(engine: Engine, name: str) -> ApiKey:
    table = store.api_keys
    with engine.connect() as con:
        row = con.execute(select(table).where(table.c.name == name)).one_or_none()
    if row is None:
        raise NotFoundError(f"No API key '{name}'. See `.venv/bin/python -m engine keys list`.")
    return _key(row)


# -- keys --------------------------------------------------------------------------------------
def create_key(
    name: str,
    role: str,
    *,
    owner: str | None = None,
    scopes: Sequence[str] | None = None,
    created_by: str = "cli",
    data_dir: DataDir = None,
) -> tuple[ApiKey, str]:
    """Make a key: its record and its plaintext, which is shown once and stored nowhere."""
    name = check_name(name)
    role = check_role(role)
    chosen = check_scopes(role, scopes)
    owner = check_owner(role, owner, data_dir)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(
        name=name,
        role=role,
        owner=owner,
        scopes=chosen,
        created_at=datetime.now(UTC),
        created_by=created_by,
        prefix=secret[:PREFIX_LENGTH],
    )
    engine = _engine(data_dir)
    table = store.api_keys
    with engine.begin() as con:
        if con.execute(select(table.c.name).where(table.c.name == name)).first() is not None:
            raise BadInputError(
                f"An API key named '{name}' exists already (revoked keys keep their names). Choose another name."
            )
        try:
            con.execute(
                insert(table).values(
                    name=name,
                    key_hash=_hash(secret),
                    prefix=record.prefix,
                    role=role,
                    owner=owner,
                    scopes=list(chosen),
                    created_at=record.created_at,
                    created_by=created_by,
                )
            )
        except IntegrityError as exc:  # another process took the name in between
            raise BadInputError(f"An API key named '{name}' exists already. Choose another name.") from exc
    return record, secret


def list_keys(data_dir: DataDir = None) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    table = store.api_keys
    with _engine(data_dir).connect() as con:
        rows = con.execute(select(table).order_by(table.c.created_at, table.c.name)).all()
    return [_key(row) for row in rows]


def revoke_key(name: str, data_dir: DataDir = None) -> ApiKey:
    """Stop a key for good; it stays listed. Revoking a revoked key changes nothing."""
    engine = _engine(data_dir)
    table = store.api_keys
    name = (name or "").strip()
    with engine.begin() as con:
        con.execute(
            update(table).where(table.c.name == name, table.c.revoked_at.is_(None)).values(revoked_at=datetime.now(UTC))
        )
    return _get(engine, name)


def authenticate(secret: str, data_dir: DataDir = None) -> ApiKey:
    """The key a request presented, when it is genuine and not revoked; KeyRejected otherwise.

    A CSM key whose owner is no longer a CSM user is refused too (removing a CSM stops their
    keys). Notes the use in `last_used_at`, at most once a minute per key.
    """
    if not isinstance(secret, str) or not _KEY.match(secret):
        raise KeyRejected("The API key is malformed: expected rk_ followed by 43 characters.")
    digest = _hash(secret)
    engine = _engine(data_dir)
    table = store.api_keys
    with engine.connect() as con:
        row = con.execute(select(table).where(table.c.key_hash == digest)).one_or_none()
    if row is None or not hmac.compare_digest(str(row.key_hash), digest):
        raise KeyRejected("Unknown API key.")
    key = _key(row)
    if not key.active:
        raise KeyRejected(f"API key '{key.name}' was revoked.")
    if key.role == "csm" and _csm_user(key.owner, data_dir) is None:
        raise KeyRejected(f"API key '{key.name}' belongs to '{key.owner}', who is no longer a CSM user.")
    return _note_use(engine, key)


def _csm_user(owner: str | None, data_dir: DataDir) -> users.User | None:
    # users.list_users reads a cached parse of the users file (re-read only when it changes).
    return next((u for u in users.list_users(data_dir) if owner and u.username == owner and u.role == "csm"), None)


def csm_book_owner(key: ApiKey, data_dir: DataDir) -> str:
    """The `csm_owner` value a CSM key's book is filed under (its user's owner name), else ''."""
    user = _csm_user(key.owner, data_dir) if key.role == "csm" else None
    return user.owner if user is not None else ""


def _note_use(engine: Engine, key: ApiKey) -> ApiKey:
    now = datetime.now(UTC)
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return key
    table = store.api_keys
    stale = now - LAST_USED_RESOLUTION
    with engine.begin() as con:  # the condition again: concurrent requests write once
        con.execute(
            update(table)
            .where(table.c.name == key.name, or_(table.c.last_used_at.is_(None), table.c.last_used_at < stale))
            .values(last_used_at=now)
        )
    return key.model_copy(update={"last_used_at": now})
