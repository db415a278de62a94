"""Account commands: create-user, create-token, revoke-token, list-users."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from locator.accounts import ROLES, AccountError, check_new_user, hash_password, new_token
from locator.context import current_accounts, current_roster


@click.command("create-user")
@with_appcontext
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--district", "districts", multiple=True, help="District code (repeat); district organizers need one.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
def create_user(name: str, role: str, districts: tuple[str, ...], password_stdin: bool) -> None:
    """Create an organizer account."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        check_new_user(name, role, districts, set(current_roster().districts.codes))
        user = current_accounts().create_user(name, role, districts, hash_password(password))
    except AccountError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"created user {user.name} (id {user.id}, {user.role}, districts: {','.join(user.districts) or 'all'})")


@click.command("create-token")
@with_appcontext
@click.argument("user")
@click.option("--label", default="", help="What the token is for (shown in list-users).")
def create_token(user: str, label: str) -> None:
    """Create an API token for USER; it is printed once and stored only as a hash."""
    found = current_accounts().find_user(user)
    if found is None:
        click.echo(f"error: no user named {user!r}", err=True)
        sys.exit(1)
    plain, digest = new_token()
    token = current_accounts().create_token(found[0].id, label, digest)
    click.echo(f"token {token.id} for {user} (shown once, keep it secret):", err=True)
    click.echo(plain)


@click.command("revoke-token")
@with_appcontext
@click.argument("token_id", type=int)
def revoke_token(token_id: int) -> None:
    """Revoke an API token by id."""
    if not current_accounts().revoke_token(token_id):
        click.echo(f"error: no active token {token_id}", err=True)
        sys.exit(1)
    click.echo(f"revoked token {token_id}")


@click.command("list-users")
@with_appcontext
def list_users() -> None:
    """List users and their tokens (never the tokens themselves)."""
    for user in current_accounts().list_users():
        click.echo(f"{user.id}\t{user.name}\t{user.role}\t{','.join(user.districts) or '*'}")
        for t in current_accounts().list_tokens(user.id):
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            click.echo(f"\ttoken {t.id}\t{t.label or '-'}\t{state}")


COMMANDS = (create_user, create_token, revoke_token, list_users)
