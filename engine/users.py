"""Who may sign in: users, bcrypt-hashed passwords, roles and the login cookie key.

Everything lives in one YAML file in the data dir (`auth.yaml`, never committed) in the
layout streamlit-authenticator 0.4 reads:

    cookie:      {name, key, expiry_days}     # key: random per install (RADAR_COOKIE_KEY overrides)
    credentials:
      usernames:
        ana.silva: {name, email, password: <bcrypt hash>, roles: [csm]}
    demo: true                                # only in the file `python -m engine demo` wrote

Each user has exactly one role from `engine.access.ROLES`. Writes take a lock, go to a
temporary file that is renamed over the old one (readers see the old or the new file,
never half of one) and leave the file readable by its owner only (0600).
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from engine import config
from engine.access import ROLES
from engine.errors import BadInputError, NotFoundError

try:  # POSIX; elsewhere writes are still atomic, just not serialised between processes
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

USERS_FILE = "auth.yaml"
COOKIE_NAME = "customer_radar_auth"
COOKIE_EXPIRY_DAYS = 30
COOKIE_KEY_ENV = "RADAR_COOKIE_KEY"
BCRYPT_ROUNDS = 12  # tests lower this; 12 costs about a quarter second per hash or check

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_BYTES = 72  # bcrypt reads no further; bcrypt 5 refuses longer input
_COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "password123",
        "passw0rd",
        "12345678",
        "123456789",
        "1234567890",
        "qwertyui",
        "qwerty123",
        "iloveyou",
        "letmein1",
        "welcome1",
        "changeme",
        "admin123",
        "abc12345",
        "customer",
        "radar123",
    }
)
# Lower case because streamlit-authenticator lower-cases usernames when it loads them.
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")

# Demo logins: fixed on purpose so the README can list them. Only `python -m engine demo`
# creates them, and only when no user exists yet.
DEMO_PASSWORDS = {"admin": "demo-admin", "analyst": "demo-analyst", "executive": "demo-exec", "csm": "demo-csm"}
DEMO_STAFF = (
    ("admin", "admin", "Avery Admin"),
    ("analyst", "analyst", "Alex Analyst"),
    ("exec", "executive", "Erin Executive"),
)
DEMO_EMAIL_DOMAIN = "example.com"


@dataclass(frozen=True)
class User:
    username: str
    name: str
    email: str
    role: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class AuthSettings:
    """What the login widget needs: cookie settings and the credentials (hashes included)."""

    cookie_name: str
    cookie_key: str
    cookie_expiry_days: float
    credentials: dict[str, Any]
    demo: bool

    @property
    def has_users(self) -> bool:
        return bool(self.credentials["usernames"])

    def user(self, username: str | None) -> User | None:
        entry = self.credentials["usernames"].get(username or "")
        return None if entry is None else _user(username, entry)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    password: str


# -- the file ----------------------------------------------------------------------------------
def users_path(data_dir: str | os.PathLike | None = None) -> Path:
    """The credentials file of this install (it may not exist yet)."""
    return config.data_dir(data_dir) / USERS_FILE


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BadInputError(
            f"The users file {path} cannot be read ({exc}). Fix it, or move it away and add users again."
        ) from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise BadInputError(f"The users file {path} is not a mapping. Move it away and add users again.")
    return loaded


def _normalised(raw: dict[str, Any]) -> dict[str, Any]:
    """The file's content with every section present (old or hand-edited files may lack some)."""
    data = dict(raw)
    cookie = dict(data.get("cookie") or {})
    cookie.setdefault("name", COOKIE_NAME)
    cookie.setdefault("expiry_days", COOKIE_EXPIRY_DAYS)
    data["cookie"] = cookie
    credentials = dict(data.get("credentials") or {})
    credentials["usernames"] = dict(credentials.get("usernames") or {})
    data["credentials"] = credentials
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    """Replace the file in one step, owner-only (0600)."""
    text = (
        "# Customer Radar users and login cookie key. Never commit this file.\n"
        "# Manage it with `python -m engine users ...` or the Users page.\n"
    ) + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".auth-", suffix=".yaml.tmp", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise read-modify-write between the app and the CLI (an advisory lock file)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def _editing(data_dir: str | os.PathLike | None) -> Iterator[dict[str, Any]]:
    """Read the file under the lock, let the caller change it, write it back if nothing failed."""
    path = users_path(data_dir)
    with _locked(path):
        data = _normalised(_read(path))
        yield data
        _write(path, data)


def _load(data_dir: str | os.PathLike | None) -> dict[str, Any]:
    return _normalised(_read(users_path(data_dir)))


# -- rules -------------------------------------------------------------------------------------
def check_username(username: str) -> str:
    """The username as stored (trimmed, lower case); BadInputError when it cannot be one."""
    name = (username or "").strip().lower()
    if not _USERNAME.match(name):
        raise BadInputError(
            f"'{username}' is not a usable username: use 2-64 characters, lower-case letters, digits and . _ @ -, "
            "starting with a letter or digit (e.g. ana.silva)."
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadInputError(f"Unknown role '{role}'. Roles are: {', '.join(ROLES)}.")
    return role


def check_password(password: str, username: str = "") -> None:
    """BadInputError with the reason when a password is empty or too weak to accept."""
    if not password or not password.strip():
        raise BadInputError("The password is empty. Choose one of at least 8 characters.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInputError(f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise BadInputError(f"The password is too long: bcrypt uses at most {MAX_PASSWORD_BYTES} bytes.")
    lowered = password.lower()
    if lowered in _COMMON_PASSWORDS or (username and lowered == username.lower()):
        raise BadInputError("That password is too easy to guess (a common password or the username). Choose another.")
    if len(set(password)) < 4:
        raise BadInputError("The password repeats too few characters; use at least 4 different ones.")


def hash_password(password: str) -> str:
    """A bcrypt hash ($2b$...) of the password."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()


def _user(username: str, entry: dict[str, Any]) -> User:
    return User(username=username, name=entry.get("name") or "", email=entry.get("email") or "", role=_role_of(entry))


def primary_role(roles: Any) -> str:
    """The role a roles list grants ('csm' from ['csm']; '' when none is known).

    Users hold one role; should a hand-edited file list several, the most powerful wins.
    """
    if isinstance(roles, str):
        roles = [roles]
    known = [r for r in ROLES if r in (roles or [])]
    return known[-1] if known else ""


def _role_of(entry: dict[str, Any]) -> str:
    return primary_role(entry.get("roles"))


def _entry(data: dict[str, Any], username: str) -> dict[str, Any]:
    users = data["credentials"]["usernames"]
    if username not in users:
        raise NotFoundError(f"No user '{username}'. See `python -m engine users list`.")
    return users[username]


def _admins(data: dict[str, Any]) -> list[str]:
    return [u for u, e in data["credentials"]["usernames"].items() if _role_of(e) == "admin"]


# -- users -------------------------------------------------------------------------------------
def list_users(data_dir: str | os.PathLike | None = None) -> list[User]:
    """Every user, sorted by username (no password hashes)."""
    users = _load(data_dir)["credentials"]["usernames"]
    return [_user(name, users[name]) for name in sorted(users)]


def get_user(username: str, data_dir: str | os.PathLike | None = None) -> User:
    name = (username or "").strip().lower()
    return _user(name, _entry(_load(data_dir), name))


def add_user(
    username: str,
    password: str,
    role: str,
    name: str = "",
    email: str = "",
    data_dir: str | os.PathLike | None = None,
) -> User:
    """Create a user; BadInputError for a taken username, an unknown role or a weak password."""
    username = check_username(username)
    check_role(role)
    check_password(password, username)
    email = (email or "").strip()
    if email and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
        raise BadInputError(f"'{email}' is not an email address.")
    with _editing(data_dir) as data:
        users = data["credentials"]["usernames"]
        if username in users:
            raise BadInputError(
                f"User '{username}' already exists. Choose another username, or change this one's role."
            )
        users[username] = {
            "name": (name or "").strip() or username,
            "email": email,
            "password": hash_password(password),
            "roles": [role],
        }
        return _user(username, users[username])


def remove_user(username: str, data_dir: str | os.PathLike | None = None) -> None:
    """Delete a user. Refuses to remove the last admin (nobody could manage users then)."""
    username = (username or "").strip().lower()
    with _editing(data_dir) as data:
        entry = _entry(data, username)
        if _role_of(entry) == "admin" and _admins(data) == [username]:
            raise BadInputError(f"'{username}' is the only admin. Make another user admin first.")
        del data["credentials"]["usernames"][username]


def set_password(username: str, password: str, data_dir: str | os.PathLike | None = None) -> None:
    """Replace a user's password (checked for strength, stored as a bcrypt hash)."""
    username = (username or "").strip().lower()
    check_password(password, username)
    with _editing(data_dir) as data:
        entry = _entry(data, username)
        entry["password"] = hash_password(password)
        entry.pop("demo", None)  # no longer the documented demo password
        entry.pop("failed_login_attempts", None)


def set_role(username: str, role: str, data_dir: str | os.PathLike | None = None) -> User:
    """Give a user another role. Refuses to demote the last admin."""
    username = (username or "").strip().lower()
    check_role(role)
    with _editing(data_dir) as data:
        entry = _entry(data, username)
        if role != "admin" and _role_of(entry) == "admin" and _admins(data) == [username]:
            raise BadInputError(f"'{username}' is the only admin. Make another user admin first.")
        entry["roles"] = [role]
        return _user(username, entry)


def verify_password(username: str, password: str, data_dir: str | os.PathLike | None = None) -> bool:
    """True when the password is this user's (False for unknown users too)."""
    entry = _load(data_dir)["credentials"]["usernames"].get((username or "").strip().lower())
    if not entry or not entry.get("password"):
        return False
    try:
        return bcrypt.checkpw(password.encode(), str(entry["password"]).encode())
    except ValueError:  # not a bcrypt hash, or a password past 72 bytes
        return False


# -- login settings ----------------------------------------------------------------------------
def cookie_key(data_dir: str | os.PathLike | None = None) -> str:
    """The key that signs login cookies: RADAR_COOKIE_KEY, else this install's own random key.

    The install key is made with `secrets.token_urlsafe` on first use and kept in the users
    file, so restarts keep people logged in and no two installs share a key.
    """
    from_env = os.environ.get(COOKIE_KEY_ENV, "").strip()
    if from_env:
        return from_env
    stored = _load(data_dir)["cookie"].get("key")
    if stored:
        return str(stored)
    with _editing(data_dir) as data:  # re-read under the lock: another process may have made one
        data["cookie"]["key"] = data["cookie"].get("key") or secrets.token_urlsafe(32)
        return str(data["cookie"]["key"])


def auth_settings(data_dir: str | os.PathLike | None = None) -> AuthSettings:
    """Cookie settings and credentials for streamlit-authenticator (a private copy it may change).

    With no user yet nobody can log in, so a throwaway key serves and nothing is written.
    """
    data = _load(data_dir)
    if data["credentials"]["usernames"]:
        key = cookie_key(data_dir)
        data = _load(data_dir)
    else:
        key = os.environ.get(COOKIE_KEY_ENV, "").strip() or data["cookie"].get("key") or secrets.token_urlsafe(32)
    usernames = {}
    for name, entry in data["credentials"]["usernames"].items():
        usernames[str(name).lower()] = {
            "name": entry.get("name") or name,
            "email": entry.get("email") or "",
            "password": str(entry.get("password") or ""),
            "roles": [_role_of(entry)] if _role_of(entry) else [],
        }
    return AuthSettings(
        cookie_name=str(data["cookie"]["name"]),
        cookie_key=key,
        cookie_expiry_days=float(data["cookie"]["expiry_days"]),
        credentials={"usernames": copy.deepcopy(usernames)},
        demo=bool(data.get("demo")),
    )


# -- demo users --------------------------------------------------------------------------------
def demo_logins(data_dir: str | os.PathLike | None = None) -> list[DemoLogin]:
    """The demo logins still valid in a demo install; empty for every other users file."""
    data = _load(data_dir)
    if not data.get("demo"):
        return []
    found = []
    for username in sorted(data["credentials"]["usernames"]):
        entry = data["credentials"]["usernames"][username]
        role = _role_of(entry)
        if entry.get("demo") and role in DEMO_PASSWORDS:
            found.append(DemoLogin(username, role, DEMO_PASSWORDS[role]))
    return found


def csm_owners(warehouse) -> list[str]:
    """The distinct CSM owners of the customers table, as they appear there."""
    rows = warehouse.rows("SELECT DISTINCT csm_owner FROM customers WHERE csm_owner IS NOT NULL ORDER BY 1")
    return [str(r[0]) for r in rows if str(r[0]).strip()]


def create_demo_users(warehouse, data_dir: str | os.PathLike | None = None) -> list[DemoLogin]:
    """Demo logins for a fresh install: an admin, an analyst, an executive and one CSM per
    `csm_owner` in the warehouse (username = the owner, so each sees their own book).

    Does nothing and returns [] when any user exists already. The file is marked `demo: true`
    so the login screen may show these documented passwords.
    """
    if list_users(data_dir):
        return []
    owners = []
    for owner in csm_owners(warehouse):
        username = owner.strip().lower()
        if _USERNAME.match(username) and username not in {u for u, _, _ in DEMO_STAFF} and username not in owners:
            owners.append(username)
    people = [*DEMO_STAFF, *((o, "csm", _name_from_username(o)) for o in owners)]
    hashes = {role: hash_password(password) for role, password in DEMO_PASSWORDS.items()}  # one hash per password
    with _editing(data_dir) as data:
        users = data["credentials"]["usernames"]
        if users:  # someone added a user meanwhile: theirs wins
            return []
        for username, role, name in people:
            users[username] = {
                "name": name,
                "email": f"{username}@{DEMO_EMAIL_DOMAIN}",
                "password": hashes[role],
                "roles": [role],
                "demo": True,
            }
        data["demo"] = True
        data["cookie"]["key"] = data["cookie"].get("key") or secrets.token_urlsafe(32)
    return [DemoLogin(u, r, DEMO_PASSWORDS[r]) for u, r, _ in people]


def _name_from_username(username: str) -> str:
    """'ana.silva' -> 'Ana Silva'."""
    return " ".join(part.capitalize() for part in re.split(r"[._-]+", username.split("@")[0]) if part) or username
