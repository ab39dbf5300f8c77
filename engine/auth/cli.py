"""`python -m engine users ...`: add, list, remove users; change a password or a role.

Passwords never go on the command line (shell history, `ps`): they are typed at a hidden
prompt, or piped in with `--password-stdin` (first line of stdin).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from engine.auth import users
from engine.core.access import ROLES
from engine.core.commands import command, print_json
from engine.core.errors import BadInputError


def _users_args(p: argparse.ArgumentParser) -> None:
    subs = p.add_subparsers(dest="users_command", metavar="ACTION")
    subs.required = True

    add = subs.add_parser("add", help="create a user", description="Create a user with one role.")
    add.add_argument("username", help="lower case, e.g. ana.silva (a CSM's username must equal their csm_owner)")
    add.add_argument("--role", required=True, help=f"one of: {', '.join(ROLES)}")
    add.add_argument("--name", default="", help='display name, e.g. "Ana Silva"')
    add.add_argument("--email", default="")
    _password_arg(add)

    listing = subs.add_parser("list", help="list users (never shows password hashes)")
    listing.add_argument("--json", action="store_true", help="print a JSON list of {username, name, email, role}")

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


@command("users", "manage who can sign in to the app: add, list, remove, set-password, set-role, logout", _users_args)
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
                print(f"{u.username:<{width}}  {u.role:<9}  {u.name}{f' <{u.email}>' if u.email else ''}")
        return 0
    if action == "add":
        users.check_username(args.username)
        users.check_role(args.role)
        if args.username.strip().lower() in {u.username for u in users.list_users(args.data_dir)}:
            raise BadInputError(f"User '{args.username}' already exists. Use `users set-password` or `users set-role`.")
        user = users.add_user(args.username, _read_password(args), args.role, args.name, args.email, args.data_dir)
        print(f"Added {user.username} ({user.role}) to {users.users_path(args.data_dir)}.")
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
    user = users.set_role(args.username, args.role, args.data_dir)
    print(f"{user.username} is now {user.role}.")
    return 0
