"""`python -m engine users ...`: add, list, remove users; change a password or a role.
`python -m engine keys ...`: create, list and revoke API keys for the HTTP API.

Passwords never go on the command line (shell history, `ps`): they are typed at a hidden
prompt, or piped in with `--password-stdin` (first line of stdin). An API key is made by
the engine and printed once, alone on the last line of `keys create` (`| tail -1`).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime

from engine.auth import keys, users
from engine.core.access import ROLES
from engine.core.commands import command, print_json
from engine.core.errors import BadInputError, RadarError


def _users_args(p: argparse.ArgumentParser) -> None:
    subs = p.add_subparsers(dest="users_command", metavar="ACTION")
    subs.required = True

    add = subs.add_parser("add", help="create a user", description="Create a user with one role.")
    add.add_argument("username", help="lower case, e.g. ana.silva")
    add.add_argument("--role", required=True, help=f"one of: {', '.join(ROLES)}")
    add.add_argument("--name", default="", help='display name, e.g. "Ana Silva"')
    add.add_argument("--email", default="")
    add.add_argument("--owner", default="", help=OWNER_HELP)
    _password_arg(add)

    listing = subs.add_parser("list", help="list users (never shows password hashes)")
    listing.add_argument(
        "--json", action="store_true", help="print a JSON list of {username, name, email, role, owner}"
    )

    remove = subs.add_parser("remove", help="delete a user")
    remove.add_argument("username")

    password = subs.add_parser("set-password", help="replace a user's password")
    password.add_argument("username")
    _password_arg(password)

    logout = subs.add_parser("logout", help="end every session and login cookie of a user (e.g. a copied cookie)")
    logout.add_argument("username")

    role = subs.add_parser("set-role", help="give a user another role")
    role.add_argument("username")
    role.add_argument("--role", required=True, help=f"one of: {', '.join(ROLES)}")

    book = subs.add_parser("set-owner", help="file a CSM's book under the csm_owner value their accounts carry")
    book.add_argument("username")
    book.add_argument("owner", help=OWNER_HELP + "; '' files it under their username again")


OWNER_HELP = (
    'a CSM\'s csm_owner value as loaded, e.g. "Maya Chen" or maya@acme.com (default: the username): '
    "the accounts they see"
)


def _password_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead of prompting",
    )


def _read_password(args: argparse.Namespace) -> str:
    """The new password: from stdin when asked, else typed twice at a hidden prompt."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise BadInputError("No terminal to ask for the password on. Pipe it in with --password-stdin.")
    first = getpass.getpass(f"Password for {args.username}: ")
    users.check_password(first, args.username)  # say so now, before the second prompt
    if getpass.getpass("Repeat the password: ") != first:
        raise BadInputError("The two passwords differ. Nothing was changed.")
    return first


def _book_note(user: users.User, data_dir) -> str:
    """A CSM's book size, or why it is empty (read from the warehouse; '' when there is none yet)."""
    from engine.data.warehouse import get_warehouse

    try:
        sizes = users.book_sizes(get_warehouse(data_dir, read_only=True))
    except RadarError:
        return ""
    return users.book_note(user, sizes)


@command(
    "users",
    "manage who can sign in to the app: add, list, remove, set-password, set-role, set-owner, logout",
    _users_args,
)
def _users(args: argparse.Namespace) -> int:
    action = args.users_command
    if action == "list":
        found = users.list_users(args.data_dir)
        if args.json:
            print_json(found)
        elif not found:
            print(
                f"No users yet in {users.users_path(args.data_dir)}. Add one with `.venv/bin/python -m engine users add`."
            )
        else:
            width = max(len(u.username) for u in found)
            for u in found:
                book = f"  (book: csm_owner '{u.owner}')" if u.owner else ""
                print(f"{u.username:<{width}}  {u.role:<9}  {u.name}{f' <{u.email}>' if u.email else ''}{book}")
        return 0
    if action == "add":
        users.check_username(args.username)
        users.check_role(args.role)
        if args.username.strip().lower() in {u.username for u in users.list_users(args.data_dir)}:
            raise BadInputError(f"User '{args.username}' already exists. Use `users set-password` or `users set-role`.")
        users.check_owner(args.role, args.owner)  # before the password prompt
        user = users.add_user(
            args.username, _read_password(args), args.role, args.name, args.email, args.data_dir, owner=args.owner
        )
        print(f"Added {user.username} ({user.role}) to {users.users_path(args.data_dir)}.")
        if user.role == "csm":
            print(_book_note(user, args.data_dir))
        return 0
    if action == "remove":
        users.remove_user(args.username, args.data_dir)
        print(f"Removed {args.username}. Their open sessions end at their next page load.")
        return 0
    if action == "set-password":
        users.get_user(args.username, args.data_dir)  # unknown user: say so before asking for a password
        users.set_password(args.username, _read_password(args), args.data_dir)
        print(f"Password changed for {args.username}. Their open sessions and login cookies have ended.")
        return 0
    if action == "logout":
        users.get_user(args.username, args.data_dir)  # unknown user: say so
        users.end_sessions(args.username, args.data_dir)
        print(f"Logged {args.username} out everywhere: every login cookie issued so far no longer works.")
        return 0
    if action == "set-owner":
        user = users.set_owner(args.username, args.owner, args.data_dir)
        print(_book_note(user, args.data_dir))
        return 0
    user = users.set_role(args.username, args.role, args.data_dir)
    print(f"{user.username} is now {user.role}.")
    if user.role == "csm":
        print(_book_note(user, args.data_dir))
    return 0


# -- API keys ----------------------------------------------------------------------------------
def _keys_args(p: argparse.ArgumentParser) -> None:
    subs = p.add_subparsers(dest="keys_command", metavar="ACTION")
    subs.required = True
    create = subs.add_parser(
        "create",
        help="make a key; it is printed once, alone on the last line",
        description=(
            "Make an API key for the HTTP API (sent as `Authorization: Bearer <key>`). Only its hash is\n"
            "stored: the key is printed once, alone on the last line of the output, e.g.\n"
            "  .venv/bin/python -m engine keys create crm-sync --role csm --owner ana.silva | tail -1"
        ),
        epilog=_scopes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument("name", help="unique name: 1-64 letters, digits, '.', '_' or '-' (e.g. crm-sync)")
    create.add_argument("--role", required=True, help=f"the role the key acts as, one of: {', '.join(ROLES)}")
    create.add_argument(
        "--owner", default=None, help="csm keys only (required there): the CSM user whose book the key sees"
    )
    create.add_argument(
        "--scopes",
        default=None,
        help="comma-separated, e.g. scores:read,ai:write (default: all the role may have; see below)",
    )

    listing = subs.add_parser("list", help="list keys, revoked ones too (never the keys themselves)")
    listing.add_argument("--json", action="store_true", help="print a JSON list of the keys' records")

    revoke = subs.add_parser("revoke", help="stop a key for good (it stays listed as revoked)")
    revoke.add_argument("name")


def _scopes_help() -> str:
    width = max(map(len, keys.SCOPES))
    lines = ["scopes:"]
    lines += [f"  {name:<{width}}  {text}" for name, text in keys.SCOPES.items()]
    lines.append("role defaults (also the most a key of that role may have):")
    lines += [f"  {role:<{width}}  {', '.join(found)}" for role, found in keys.DEFAULT_SCOPES.items()]
    return "\n".join(lines)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "never"


def _print_keys(found: list[keys.ApiKey]) -> None:
    header = ("NAME", "PREFIX", "ROLE", "OWNER", "SCOPES", "CREATED (UTC)", "LAST USED", "STATUS")
    rows = [
        (
            k.name,
            k.prefix,
            k.role,
            k.owner or "-",
            "all" if set(k.scopes) == set(keys.SCOPES) else ",".join(k.scopes),
            _when(k.created_at),
            _when(k.last_used_at),
            "active" if k.active else f"revoked {_when(k.revoked_at)}",
        )
        for k in found
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@command("keys", "manage API keys for the HTTP API: create, list, revoke", _keys_args)
def _keys(args: argparse.Namespace) -> int:
    action = args.keys_command
    if action == "list":
        found = keys.list_keys(args.data_dir)
        if args.json:
            print_json(found)
        elif not found:
            print("No API keys yet. Make one with `.venv/bin/python -m engine keys create NAME --role ROLE`.")
        else:
            _print_keys(found)
        return 0
    if action == "revoke":
        before = {k.name: k for k in keys.list_keys(args.data_dir)}.get(args.name.strip())
        key = keys.revoke_key(args.name, args.data_dir)
        if before is not None and not before.active:
            print(f"API key '{key.name}' was already revoked on {_when(key.revoked_at)} UTC.")
        else:
            print(f"Revoked API key '{key.name}' ({key.prefix}...): it no longer authenticates.")
        return 0
    scopes = None if args.scopes is None else keys.parse_scopes(args.scopes)
    key, secret = keys.create_key(args.name, args.role, owner=args.owner, scopes=scopes, data_dir=args.data_dir)
    book = f", sees the book of {key.owner}" if key.owner else ""
    print(f"Created API key '{key.name}' ({key.role}{book}) with scopes {', '.join(key.scopes)}.")
    print(f"Send it as `Authorization: Bearer <key>`; `keys list` shows it as {key.prefix}...")
    print("Copy the key now: it is shown only once and cannot be recovered (revoke it and make another if lost).")
    print(secret)
    return 0
