"""Who may see what: roles, the pages each role opens, and the viewer's data scope.

Scoping lives here, in the engine, so no page can forget it: every query a page runs
takes a `Viewer`, and a CSM's viewer narrows it to their book: `csm_owner` = the owner name
their user was given (a CRM's "Maya Chen" or "maya@acme.com"), or their username when none was.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core import config
from engine.core.errors import RadarError

ROLES = ("csm", "executive", "analyst", "admin")

EVERYONE = frozenset(ROLES)
LEADERS = frozenset({"executive", "analyst", "admin"})
ANALYSTS = frozenset({"analyst", "admin"})
ADMINS = frozenset({"admin"})

# Page key -> roles that may open it. Navigation and each page's own guard read this.
PAGE_ROLES: dict[str, frozenset[str]] = {
    "overview": LEADERS,
    "risk_board": EVERYONE,
    "customer_360": EVERYONE,
    "ai_qa": EVERYONE,
    "forecasts": LEADERS,
    "scenarios": LEADERS,  # executives read saved plans; analysts and admins edit
    "model_data": LEADERS,  # executives read; retrain / promote / rollback are admin-only
    "data": ADMINS,
    "users": ADMINS,
}

# Actions (buttons) that change shared state, by the roles allowed to press them.
ACTION_ROLES: dict[str, frozenset[str]] = {
    "edit_scenarios": ANALYSTS,
    "retrain": ADMINS,
    "promote": ADMINS,
    "load_data": ADMINS,
    "manage_users": ADMINS,
}


# Actions that write the warehouse: a read-only replica (RADAR_READ_ONLY) allows none of them.
WAREHOUSE_WRITES = frozenset({"retrain", "promote", "load_data"})
READ_ONLY_MESSAGE = (
    "This app process serves read-only (RADAR_READ_ONLY is set, as for replicas behind a load "
    "balancer), so it cannot load data, retrain, promote or rescore. Stop the replicas and run "
    "`.venv/bin/python -m engine ingest|train|promote|score`, or use an app started without it."
)


class AccessDenied(RadarError):
    """The viewer's role does not allow this page or action."""


@dataclass(frozen=True)
class Viewer:
    username: str
    role: str
    name: str = ""
    owner: str = ""  # a CSM's `csm_owner` value when it is not their username

    @property
    def book_owner(self) -> str:
        """The `csm_owner` value of this CSM's accounts."""
        return self.owner or self.username

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise AccessDenied(f"Unknown role '{self.role}'. Roles are: {', '.join(ROLES)}.")

    @property
    def sees_everyone(self) -> bool:
        """CSMs see their own book; every other role sees the whole portfolio."""
        return self.role != "csm"

    def can_open(self, page: str) -> bool:
        return self.role in PAGE_ROLES.get(page, frozenset())

    def can(self, action: str) -> bool:
        if action in WAREHOUSE_WRITES and config.read_only():
            return False
        return self.role in ACTION_ROLES.get(action, frozenset())

    def require_page(self, page: str) -> None:
        if not self.can_open(page):
            raise AccessDenied(f"Your role ({self.role}) cannot open this page. Ask an admin if you need access.")

    def require(self, action: str) -> None:
        if action in WAREHOUSE_WRITES and config.read_only() and self.role in ACTION_ROLES.get(action, frozenset()):
            raise AccessDenied(READ_ONLY_MESSAGE)
        if not self.can(action):
            raise AccessDenied(f"Your role ({self.role}) is not allowed to {action.replace('_', ' ')}.")

    def owner_filter(self, column: str = "csm_owner") -> tuple[str, list]:
        """A SQL condition and its bound parameters restricting rows to this viewer's book.

        `column` is a trusted identifier written by engine code (e.g. "c.csm_owner"), never user input.
        """
        if self.sees_everyone:
            return "TRUE", []
        return f"{column} = ?", [self.book_owner]

    def owner_filter_named(self, column: str = "csm_owner") -> tuple[str, dict]:
        """The same condition with a `$viewer` named parameter, for queries that bind by name."""
        if self.sees_everyone:
            return "TRUE", {}
        return f"{column} = $viewer", {"viewer": self.book_owner}

    def owns(self, csm_owner: str | None) -> bool:
        return self.sees_everyone or csm_owner == self.book_owner


# The viewer used by batch commands (CLI, schedulers): the whole portfolio.
SYSTEM = Viewer(username="system", role="admin", name="Batch job")
