"""Who may sign in: users, bcrypt-hashed passwords, roles and the login cookie key.

Everything lives in one YAML file in the data dir (`auth.yaml`, never committed) in the
layout streamlit-authenticator 0.4 reads:

    cookie:      {name, key, expiry_days}     # key: random per install (RADAR_COOKIE_KEY overrides)
    credentials:
      usernames:
        ana.silva: {name, email, password: <bcrypt hash>, roles: [csm], session_epoch: <random>}
    demo: true                                # only in the file `python -m engine demo` wrote

Login cookies (signed JWTs, see `issue_login_token`) carry a fingerprint of the user's
`session_epoch` and password hash. Logging out, a password change or removing the user
changes it, so every cookie issued before stops working ("log out everywhere").

Failed logins are counted per username and per client in the app-state store (shared by
every session and process of the install) and lock further attempts for a while; an
unknown username costs the same bcrypt check as a known one (`attempt_login`).

Each user has exactly one role from `engine.core.access.ROLES`. Writes take a lock, go to a
temporary file that is renamed over the old one (readers see the old or the new file,
never half of one) and leave the file readable by its owner only (0600).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
import jwt
import yaml
from pydantic import computed_field
from sqlalchemy import Engine, Table, delete, func, insert, select

from engine.core import config
from engine.core.access import ROLES, Viewer
from engine.core.contracts import Contract
from engine.core.errors import BadInputError, NotFoundError

try:  # POSIX; elsewhere writes are still atomic, just not serialised between processes
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

USERS_FILE = "auth.yaml"
COOKIE_NAME = "customer_radar_auth"
# The cookie is written by a JavaScript component, so it cannot be HttpOnly: keep its life
# short-ish and revocable (the session fingerprint inside). Longer values in a file are capped.
COOKIE_EXPIRY_DAYS = 7
COOKIE_KEY_ENV = "RADAR_COOKIE_KEY"
MIN_COOKIE_KEY_LENGTH = 32
MIN_COOKIE_KEY_DISTINCT = 10  # distinct characters: refuses "aaaa...", "abababab..." and the like
TOKEN_ALGORITHM = "HS256"
MAX_TOKEN_LENGTH = 4096

# Login throttling: this many failures within the window lock the username (or the client).
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_CLIENT = 20  # a shared office address should not lock everyone out after 5
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


class User(Contract):
    """Who may sign in, without any secret: what `users list --json` prints and the Users page shows."""

    username: str
    name: str
    email: str
    role: str
    owner: str = ""  # a CSM's `csm_owner` value when it is not their username ("Maya Chen")

    @property
    def book_owner(self) -> str:
        """The `csm_owner` value of a CSM's accounts: their owner name, else their username."""
        return self.owner or self.username


@dataclass(frozen=True)
class AuthSettings:
    """What the login widget needs: cookie settings and the credentials (hashes included).

    Not a Contract on purpose: it carries the cookie key and password hashes, stays in the
    process and has no JSON form (repr hides the secrets too).
    """

    cookie_name: str
    cookie_key: str = field(repr=False)
    cookie_expiry_days: float
    credentials: dict[str, Any] = field(repr=False)
    demo: bool
    fingerprints: dict[str, str] = field(default_factory=dict)  # username -> session fingerprint

    @property
    def has_users(self) -> bool:
        return bool(self.credentials["usernames"])

    def user(self, username: str | None) -> User | None:
        entry = self.credentials["usernames"].get(username or "")
        return None if entry is None or not username else _user(username, entry)

    def fingerprint(self, username: str | None) -> str | None:
        """The user's current session fingerprint (None for unknown users)."""
        return self.fingerprints.get(username or "")


class DemoLogin(Contract):
    """A documented demo login (only in a demo install): the password is the README's, not a secret."""

    username: str
    role: str
    password: str


# -- the file ----------------------------------------------------------------------------------
def users_path(data_dir: str | os.PathLike | None = None) -> Path:
    """The credentials file of this install (it may not exist yet)."""
    return config.data_dir(data_dir) / USERS_FILE


# The app reads the users file on every run of every session (removals and role changes
# apply at once), so a parsed copy is kept per file version: (inode, size, mtime) changes on
# every write, which replaces the file (`_write`), and on hand edits.
_parsed: dict[Path, tuple[tuple[int, int, int], dict[str, Any]]] = {}
_parsed_lock = threading.Lock()
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster


def _read(path: Path) -> dict[str, Any]:
    """The file's content (a private copy the caller may change); {} when there is no file."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise BadInputError(f"The users file {path} cannot be read ({exc}).") from exc
    version = (info.st_ino, info.st_size, info.st_mtime_ns)
    with _parsed_lock:
        cached = _parsed.get(path)
    if cached is None or cached[0] != version:
        cached = (version, _parse(path))
        with _parsed_lock:
            _parsed[path] = cached
    return copy.deepcopy(cached[1])


def _parse(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # a safe loader (C or Python)
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
        "# Manage it with `.venv/bin/python -m engine users ...` or the Users page.\n"
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
    role = _role_of(entry)
    return User(
        username=username,
        name=entry.get("name") or "",
        email=entry.get("email") or "",
        role=role,
        owner=str(entry.get("owner") or "") if role == "csm" else "",
    )


MAX_OWNER_LENGTH = 200


def check_owner(role: str, owner: str | None, username: str = "") -> str:
    """The `csm_owner` value a CSM's book is filed under, as loaded ('' = their username).

    A CRM names owners its own way ("Maya Chen", "maya@acme.com"), which no username can be.
    """
    owner = (owner or "").strip()
    if not owner:
        return ""
    if role != "csm":
        raise BadInputError(f"Only a CSM has a book owner; the {role} role sees the whole portfolio. Leave it out.")
    if len(owner) > MAX_OWNER_LENGTH or any(ord(ch) < 32 for ch in owner):
        raise BadInputError(
            f"'{owner[:40]}' is not an owner name: give the csm_owner value of their accounts as loaded "
            f"(one line, at most {MAX_OWNER_LENGTH} characters)."
        )
    return "" if owner == username else owner


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
        raise NotFoundError(f"No user '{username}'. See `.venv/bin/python -m engine users list`.")
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
    owner: str = "",
) -> User:
    """Create a user; BadInputError for a taken username, an unknown role or a weak password.
    `owner`: a CSM's `csm_owner` value, when their accounts are not filed under their username."""
    username = check_username(username)
    check_role(role)
    owner = check_owner(role, owner, username)
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
            # A CSM filed under their CRM name is called by it, unless told otherwise (not by an e-mail).
            "name": (name or "").strip() or (owner if owner and "@" not in owner else username),
            "email": email,
            "password": hash_password(password),
            "roles": [role],
            "session_epoch": _new_epoch(),
        }
        if owner:
            users[username]["owner"] = owner
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
        entry["session_epoch"] = _new_epoch()  # cookies issued with the old password stop working
        entry.pop("demo", None)  # no longer the documented demo password
        entry.pop("failed_login_attempts", None)


def end_sessions(username: str, data_dir: str | os.PathLike | None = None) -> None:
    """Log a user out everywhere: every login cookie issued so far stops working, and open
    sessions end at their next run. Nothing happens for an unknown user."""
    username = (username or "").strip().lower()
    with _editing(data_dir) as data:
        entry = data["credentials"]["usernames"].get(username)
        if entry is not None:
            entry["session_epoch"] = _new_epoch()


def set_role(username: str, role: str, data_dir: str | os.PathLike | None = None) -> User:
    """Give a user another role. Refuses to demote the last admin."""
    username = (username or "").strip().lower()
    check_role(role)
    with _editing(data_dir) as data:
        entry = _entry(data, username)
        if role != "admin" and _role_of(entry) == "admin" and _admins(data) == [username]:
            raise BadInputError(f"'{username}' is the only admin. Make another user admin first.")
        entry["roles"] = [role]
        if role != "csm":
            entry.pop("owner", None)  # a leader sees every book
        return _user(username, entry)


def acting_viewer(username: str, role: str, data_dir: str | os.PathLike | None = None) -> Viewer:
    """The viewer a command acts as (`--user NAME --role ROLE`): a CSM user's book is filed
    under their owner name when they have one; a name with no user is taken as the owner."""
    username = (username or "").strip()
    found = next((u for u in list_users(data_dir) if u.username == username.lower()), None)
    return Viewer(username=username, role=role, owner=found.owner if found and role == "csm" else "")


def set_owner(username: str, owner: str, data_dir: str | os.PathLike | None = None) -> User:
    """File a CSM's book under another `csm_owner` value ('' = their username). Their open
    sessions see the new book at their next page load."""
    username = (username or "").strip().lower()
    with _editing(data_dir) as data:
        entry = _entry(data, username)
        role = _role_of(entry)
        if role != "csm":
            raise BadInputError(f"'{username}' is {role}, not a CSM: only a CSM has a book owner.")
        owner = check_owner(role, owner, username)
        if owner:
            entry["owner"] = owner
        else:
            entry.pop("owner", None)
        return _user(username, entry)


def verify_password(username: str, password: str, data_dir: str | os.PathLike | None = None) -> bool:
    """True when the password is this user's (False for unknown users too, after the same work)."""
    entry = _load(data_dir)["credentials"]["usernames"].get((username or "").strip().lower())
    return _check_password_hash(password, (entry or {}).get("password"))


_dummy_hashes: dict[int, bytes] = {}


def _dummy_hash() -> bytes:
    """A bcrypt hash of a random secret at this install's cost, to check unknown users against."""
    rounds = BCRYPT_ROUNDS
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=rounds))
    return _dummy_hashes[rounds]


def _check_password_hash(password: str, stored: Any) -> bool:
    """One bcrypt check whatever the input: a missing or broken hash is replaced by a dummy one,
    so an unknown username takes as long as a known one with a wrong password."""
    candidate = str(password or "").encode()
    if len(candidate) > MAX_PASSWORD_BYTES:  # bcrypt 5 refuses these; no password is that long
        candidate = candidate[:MAX_PASSWORD_BYTES]
        usable = False
    else:
        usable = True
    target = str(stored or "").encode()
    if not re.fullmatch(rb"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}", target):
        target, usable = _dummy_hash(), False
    try:
        matched = bcrypt.checkpw(candidate, target)
    except ValueError:
        return False
    return matched and usable


# -- login settings ----------------------------------------------------------------------------
def check_cookie_key(key: str, source: str = COOKIE_KEY_ENV) -> str:
    """The key, when it is strong enough to sign login cookies; BadInputError otherwise.

    Anyone who knows or guesses the key can forge a login cookie for any user, so a short or
    repetitive key is refused rather than used.
    """
    if len(key) < MIN_COOKIE_KEY_LENGTH or len(set(key)) < MIN_COOKIE_KEY_DISTINCT:
        raise BadInputError(
            f"{source} is too weak to sign login cookies: it has {len(key)} characters "
            f"({len(set(key))} different); it needs at least {MIN_COOKIE_KEY_LENGTH} random characters. "
            'Make one with `.venv/bin/python -c "import secrets; print(secrets.token_urlsafe(32))"`, '
            f"or unset {COOKIE_KEY_ENV} to use this install's own random key."
        )
    return key


def cookie_key(data_dir: str | os.PathLike | None = None) -> str:
    """The key that signs login cookies: RADAR_COOKIE_KEY, else this install's own random key.

    The install key is made with `secrets.token_urlsafe` on first use and kept in the users
    file, so restarts keep people logged in and no two installs share a key. A weak
    RADAR_COOKIE_KEY (or a weak key written into the file by hand) is refused.
    """
    from_env = os.environ.get(COOKIE_KEY_ENV, "").strip()
    if from_env:
        return check_cookie_key(from_env)
    stored = _load(data_dir)["cookie"].get("key")
    if stored:
        return check_cookie_key(str(stored), f"The cookie key in {users_path(data_dir)}")
    with _editing(data_dir) as data:  # re-read under the lock: another process may have made one
        data["cookie"]["key"] = data["cookie"].get("key") or secrets.token_urlsafe(32)
        return str(data["cookie"]["key"])


def _new_epoch() -> str:
    return secrets.token_urlsafe(16)


def _fingerprint(entry: dict[str, Any]) -> str:
    """Changes when the user's session epoch or password hash does: cookies carry it."""
    material = f"{entry.get('session_epoch') or ''}:{entry.get('password') or ''}".encode()
    return hashlib.sha256(material).hexdigest()[:32]


def auth_settings(data_dir: str | os.PathLike | None = None) -> AuthSettings:
    """Cookie settings, credentials (in streamlit-authenticator's layout, a private copy the
    caller may change) and each user's session fingerprint.

    With no user yet nobody can log in, so a throwaway key serves and nothing is written.
    """
    data = _load(data_dir)
    if data["credentials"]["usernames"]:
        key = cookie_key(data_dir)
        data = _load(data_dir)
    else:
        from_env = os.environ.get(COOKIE_KEY_ENV, "").strip()
        key = check_cookie_key(from_env) if from_env else secrets.token_urlsafe(32)
    usernames = {}
    fingerprints = {}
    for name, entry in data["credentials"]["usernames"].items():
        usernames[str(name).lower()] = {
            "name": entry.get("name") or name,
            "email": entry.get("email") or "",
            "password": str(entry.get("password") or ""),
            "roles": [_role_of(entry)] if _role_of(entry) else [],
            "owner": str(entry.get("owner") or ""),
        }
        fingerprints[str(name).lower()] = _fingerprint(entry)
    try:
        expiry = min(float(data["cookie"]["expiry_days"]), COOKIE_EXPIRY_DAYS)
    except (TypeError, ValueError):
        expiry = COOKIE_EXPIRY_DAYS
    return AuthSettings(
        cookie_name=str(data["cookie"]["name"]),
        cookie_key=key,
        cookie_expiry_days=expiry,
        credentials={"usernames": copy.deepcopy(usernames)},
        demo=bool(data.get("demo")),
        fingerprints=fingerprints,
    )


# -- login cookies -----------------------------------------------------------------------------
def issue_login_token(settings: AuthSettings, username: str, now: datetime | None = None) -> tuple[str, datetime]:
    """A signed login token for the cookie, and when it expires (UTC)."""
    fingerprint = settings.fingerprint(username)
    if fingerprint is None:
        raise NotFoundError(f"No user '{username}'.")
    now = now or datetime.now(UTC)
    expires = now + timedelta(days=settings.cookie_expiry_days)
    claims = {"sub": username, "fp": fingerprint, "iat": int(now.timestamp()), "exp": int(expires.timestamp())}
    return jwt.encode(claims, settings.cookie_key, algorithm=TOKEN_ALGORITHM), expires


def username_from_token(settings: AuthSettings, token: Any) -> str | None:
    """The user a login cookie names, when it is genuine, unexpired and still current; else None.

    Anything else (no token, garbage, another algorithm or "none", no expiry, an old cookie
    from before a logout or a password change, a removed user) is None, never an exception.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        claims = jwt.decode(
            token,
            settings.cookie_key,
            algorithms=[TOKEN_ALGORITHM],
            options={"require": ["exp", "iat", "sub", "fp"]},
        )
    except Exception:  # every malformed cookie means "not logged in"
        return None
    username, fingerprint = claims.get("sub"), claims.get("fp")
    if not isinstance(username, str) or not isinstance(fingerprint, str):
        return None
    current = settings.fingerprint(username)
    if current is None or not hmac.compare_digest(current.encode(), fingerprint.encode()):
        return None
    return username


# -- login with throttling ---------------------------------------------------------------------
def _failures(data_dir: str | os.PathLike | None) -> tuple[Engine, Table]:
    """The app-state store's engine and its login_failures table."""
    from engine.core import store

    return store.get_engine(data_dir), store.login_failures


def _subjects(username: str, client: str | None) -> list[tuple[str, int]]:
    """(key, limit) for the username and the client. Keys are hashes: no raw input is stored."""
    name = (username or "").strip().lower()
    found = [("u:" + hashlib.sha256(name.encode()).hexdigest()[:40], MAX_FAILURES_PER_USER)]
    if client:
        found.append(("c:" + hashlib.sha256(client.encode()).hexdigest()[:40], MAX_FAILURES_PER_CLIENT))
    return found


class Lockout(Contract):
    """Too many failed logins: no password is checked until `retry_at` (UTC)."""

    retry_at: datetime
    now: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def message(self) -> str:
        minutes = max(1, -(-int((self.retry_at - self.now).total_seconds()) // 60))
        return (
            "Too many failed logins for this account or from this device. "
            f"Try again after {self.retry_at:%H:%M} UTC (in {minutes} minute{'s' if minutes != 1 else ''})."
        )


class LoginResult(Contract):
    """The outcome of a login attempt."""

    username: str | None  # the logged-in user; None when refused
    lockout: Lockout | None = None


def login_lockout(
    username: str, client: str | None = None, data_dir: str | os.PathLike | None = None, now: datetime | None = None
) -> Lockout | None:
    """The lockout in force for this username or client, if any."""
    now = now or datetime.now(UTC)
    engine, table = _failures(data_dir)
    since = (now - LOGIN_WINDOW).timestamp()
    retry = None
    with engine.connect() as con:
        for subject, limit in _subjects(username, client):
            times = list(
                con.execute(
                    select(table.c.failed_at)
                    .where(table.c.subject == subject, table.c.failed_at > since)
                    .order_by(table.c.failed_at.desc())
                    .limit(limit)
                ).scalars()
            )
            if len(times) >= limit:  # free again once the limit-th latest failure leaves the window
                at = datetime.fromtimestamp(times[-1], UTC) + LOGIN_WINDOW
                retry = at if retry is None else max(retry, at)
    return None if retry is None or retry <= now else Lockout(retry_at=retry, now=now)


def record_login_failure(
    username: str, client: str | None = None, data_dir: str | os.PathLike | None = None, now: datetime | None = None
) -> None:
    now = now or datetime.now(UTC)
    engine, table = _failures(data_dir)
    with engine.begin() as con:
        con.execute(delete(table).where(table.c.failed_at <= (now - LOGIN_WINDOW).timestamp()))  # keep it small
        con.execute(
            insert(table), [{"subject": s, "failed_at": now.timestamp()} for s, _ in _subjects(username, client)]
        )


def clear_login_failures(username: str, data_dir: str | os.PathLike | None = None) -> None:
    """Forget a username's failures after a good login (the client's count stays)."""
    engine, table = _failures(data_dir)
    subject = _subjects(username, None)[0][0]
    with engine.begin() as con:
        con.execute(delete(table).where(table.c.subject == subject))


def login_failure_count(username: str, data_dir: str | os.PathLike | None = None) -> int:
    """Failures on record for a username (for tests and admins)."""
    engine, table = _failures(data_dir)
    subject = _subjects(username, None)[0][0]
    with engine.connect() as con:
        return int(con.execute(select(func.count()).where(table.c.subject == subject)).scalar_one())


def attempt_login(
    settings: AuthSettings,
    username: str,
    password: str,
    client: str | None = None,
    data_dir: str | os.PathLike | None = None,
    now: datetime | None = None,
) -> LoginResult:
    """Check a username and password, with throttling and the same work for unknown users.

    A locked username or client gets its lockout without any password check. Otherwise
    exactly one bcrypt check runs (against a dummy hash for an unknown user); a failure is
    recorded for the username and the client, a success clears the username's failures.
    """
    name = (username or "").strip().lower()[:256]
    lockout = login_lockout(name, client, data_dir, now)
    if lockout is not None:
        return LoginResult(username=None, lockout=lockout)
    entry = settings.credentials["usernames"].get(name)
    ok = _check_password_hash(password, (entry or {}).get("password"))
    if ok and entry is not None:
        clear_login_failures(name, data_dir)
        return LoginResult(username=name)
    record_login_failure(name, client, data_dir, now)
    return LoginResult(username=None)


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
            found.append(DemoLogin(username=username, role=role, password=DEMO_PASSWORDS[role]))
    return found


def csm_owners(warehouse) -> list[str]:
    """The distinct CSM owners of the customers table, as they appear there."""
    return list(book_sizes(warehouse))


def book_sizes(warehouse) -> dict[str, int]:
    """Accounts per `csm_owner` value (active or not), in owner order."""
    rows = warehouse.rows("SELECT csm_owner, count(*) FROM customers WHERE csm_owner IS NOT NULL GROUP BY 1 ORDER BY 1")
    return {str(r[0]): int(r[1]) for r in rows if str(r[0]).strip()}


def book_note(user: User, sizes: dict[str, int]) -> str:
    """Where a CSM's book stands: how many accounts it holds, or why it is empty and the fix."""
    owner = user.book_owner
    if owner in sizes:
        return f"{user.username}'s book: {sizes[owner]:,} accounts with csm_owner '{owner}'."
    loaded = ", ".join(f"'{o}'" for o in list(sizes)[:6]) + (" …" if len(sizes) > 6 else "")
    fix = f'`.venv/bin/python -m engine users set-owner {user.username} "OWNER"` (or the Users page)'
    # "Omar Haddad" added as omar, with his accounts filed under "Omar Haddad": name the likely book.
    own = {user.username.casefold(), (user.name or "").strip().casefold()}
    likely = next((o for o in sizes if o.strip().casefold() in own), None)
    if likely is not None:
        return (
            f"No account has csm_owner '{owner}', so {user.username} sees no accounts. {sizes[likely]:,} accounts "
            f"have csm_owner '{likely}': if they are {user.username}'s, run "
            f'`.venv/bin/python -m engine users set-owner {user.username} "{likely}"` (or use the Users page).'
        )
    if not sizes:
        return f"No account has a csm_owner yet, so {user.username} sees no accounts until one is loaded as '{owner}'."
    return (
        f"No account has csm_owner '{owner}', so {user.username} sees no accounts. The owners loaded are "
        f"{loaded}: give them theirs with {fix}."
    )


def is_demo_warehouse(warehouse) -> bool:
    """True when the warehouse holds generated demo data only (no loaded customers)."""
    from engine.data import demo as synth

    return synth.is_generated(warehouse)


FIRST_ADMIN_COMMAND = '.venv/bin/python -m engine users add admin --role admin --name "Your Name"'


def create_demo_users(warehouse, data_dir: str | os.PathLike | None = None) -> list[DemoLogin]:
    """Demo logins for a fresh install: an admin, an analyst, an executive and one CSM per
    `csm_owner` in the warehouse (username = the owner, so each sees their own book).

    Does nothing and returns [] when any user exists already, or when the warehouse is not
    one `engine.data.demo.generate` made (`is_demo_warehouse`): a real install never gets
    documented passwords. The file is marked `demo: true` so the login screen may show them.
    """
    if list_users(data_dir) or not is_demo_warehouse(warehouse):
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
                "session_epoch": _new_epoch(),
                "demo": True,
            }
        data["demo"] = True
        data["cookie"]["key"] = data["cookie"].get("key") or secrets.token_urlsafe(32)
    return [DemoLogin(username=u, role=r, password=DEMO_PASSWORDS[r]) for u, r, _ in people]


def _name_from_username(username: str) -> str:
    """'ana.silva' -> 'Ana Silva'."""
    return " ".join(part.capitalize() for part in re.split(r"[._-]+", username.split("@")[0]) if part) or username
