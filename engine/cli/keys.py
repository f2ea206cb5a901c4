"""``gridcredit keys``: add, list and revoke the service's API keys (only hashes are stored)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from engine.cli.apps import app
from engine.cli.common import HOME, reports_errors
from engine.cli.serve import KEYS
from engine.errors import InputError
from engine.service.auth import add_key, list_keys, revoke_key
from engine.service.settings import Settings

keys_app = typer.Typer(help="Add, list and revoke the service's API keys (only hashes are "
                            "stored).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _keys_file(keys: Path | None, home: Path | None) -> Path:
    # Imported here: loading engine.service starts prometheus_client, which must not read
    # its folder setting before ``serve`` has chosen it.

    return Settings.load(keys_file=keys, home=home).keys_file  # type: ignore[return-value]


def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--expires {text!r} is not a date: give YYYY-MM-DD") from None


@keys_app.command("add")
@reports_errors
def keys_add_command(
    name: str = typer.Argument(..., help="Who uses the key (e.g. billing-system)."),
    role: list[str] = typer.Option(..., "--role",
                                   help="decide, audit, admin or editor (the workbench); "
                                        "repeat for several."),
    expires: str | None = typer.Option(None, "--expires",
                                       help="Last day the key works (YYYY-MM-DD, UTC)."),
    keys: Path | None = KEYS,
    home: Path | None = HOME,
) -> None:
    """Create a key, print it once, store only its SHA-256."""

    path = _keys_file(keys, home)
    key = add_key(path, name, role, _date(expires))
    typer.echo(key)
    until = f", until {expires}" if expires else ""
    typer.echo(f"stored the hash of key {name!r} ({', '.join(role)}{until}) in {path}; the key "
               "is shown only now", err=True)


@keys_app.command("list")
@reports_errors
def keys_list_command(keys: Path | None = KEYS, home: Path | None = HOME) -> None:
    """List key names, roles, creation, expiry and last use (never the keys)."""

    path = _keys_file(keys, home)
    entries = list_keys(path)
    typer.echo(f"{'name':<24} {'roles':<20} {'created':<26} {'expires':<11} last used")
    for e in entries:
        typer.echo(f"{e['name']:<24} {','.join(e['roles']):<20} {e['created'] or '-':<26} "
                   f"{e['expires'] or '-':<11} {e['last_used'] or 'never'}")
    typer.echo(f"{len(entries)} key(s) in {path}", err=True)


@keys_app.command("revoke")
@reports_errors
def keys_revoke_command(name: str = typer.Argument(..., help="The key's name."),
                        keys: Path | None = KEYS, home: Path | None = HOME) -> None:
    """Remove a key: a running service refuses it within a second."""

    path = _keys_file(keys, home)
    revoke_key(path, name)
    typer.echo(f"revoked key {name!r} in {path}", err=True)
