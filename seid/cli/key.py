"""``seid key`` and ``seid trust``: signing keys and the repo's trusted public keys.

Private keys live outside the repository (``~/.config/seid/keys/`` by default, like
``~/.ssh``) so they can never be committed; the public halves that verifiers accept are
committed under ``.sei/trust/``. Nothing here ever prints key material.
"""

from __future__ import annotations

from pathlib import Path

import click

from seid import git, keys
from seid.errors import SeidError
from seid.fsutil import TRUST_DIR

_PATH = click.Path(dir_okay=False, path_type=Path)


@click.group()
def key() -> None:
    """Generate and inspect Ed25519 signing keys.

    seid signs with the first key found: --key, $SEID_SIGNING_KEY, the systemd
    credential $CREDENTIALS_DIRECTORY/seid-signing-key, then ~/.config/seid/keys/seid.
    A private key readable by group or others is refused, as ssh does.
    $SEID_SIGNING_KEY may also be a KMS or HSM signer URI (gcpkms:, awskms:, hsm:, ...),
    with its public key file in $SEID_SIGNING_PUBKEY.
    """


@key.command("generate")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for the key pair. Default: $XDG_CONFIG_HOME/seid/keys "
    "(~/.config/seid/keys), outside any repository so the private key is never committed.",
)
@click.option("--name", default="seid", show_default=True, help="File name of the private key.")
def generate(out: Path | None, name: str) -> None:
    """Write a new Ed25519 key pair: NAME (private, mode 0600) and NAME.pub.

    Never overwrites an existing key. Prints the key id and the paths, never the key.
    """
    generated = keys.generate(out if out is not None else keys.default_key_dir(), name)
    click.echo(f"key id:      {generated.key_id}")
    click.echo(f"private key: {generated.private_path}  (mode 0600; keep it secret)")
    click.echo(f"public key:  {generated.public_path}")
    click.echo(f"trust it in a repository with: seid trust add {generated.public_path}")


@key.command("id")
@click.argument("pub", type=_PATH)
def key_id(pub: Path) -> None:
    """Print the key id of a public key: the hex SHA-256 of its raw bytes."""
    click.echo(keys.load_public_key(pub).keyid)


@click.group()
def trust() -> None:
    """Manage the trusted public keys in .sei/trust/ (commit them with the repo), and who
    holds each: the one identity its statements speak for, and the roles it may grant."""


@trust.command("add")
@click.argument("pub", type=_PATH)
@click.option(
    "--as",
    "holder",
    metavar="'NAME <EMAIL>'",
    help="Who holds the key: approvals signed with it are theirs, and --as on "
    "'seid approve' may only repeat this.",
)
@click.option(
    "--role",
    "roles",
    multiple=True,
    help="A role the holder may grant (repeat for several; none: not limited here). Needs --as.",
)
def trust_add(pub: Path, holder: str | None, roles: tuple[str, ...]) -> None:
    """Trust the public key PUB (PEM or OpenSSH): copy it to .sei/trust/<key id>.pub,
    and with --as record its holder in .sei/trust/<key id>.json."""
    root = repo_root()
    key_id = keys.add_trusted(root, pub, _holder(holder, roles))
    click.echo(f"trusted {key_id}: {TRUST_DIR / f'{key_id}{keys.PUBLIC_SUFFIX}'}")
    if holder is not None:
        click.echo(f"held by {holder}" + (f", may grant {', '.join(roles)}" if roles else ""))


def _holder(given: str | None, roles: tuple[str, ...]) -> keys.Holder | None:
    from seid.approvals.statement import parse_identity

    if given is None:
        if roles:
            raise SeidError("--role needs --as: the roles belong to the key's holder")
        return None
    found = parse_identity(given)
    if found is None:
        raise SeidError(f"--as {given!r}: expected 'Name <email>'")
    return keys.Holder(found.name, found.email, tuple(dict.fromkeys(roles)))


@trust.command("list")
def trust_list() -> None:
    """List the trusted keys: key id, signature scheme, and the holder and roles."""
    root = repo_root()
    holders = keys.trusted_holders(root)
    for key_id, public in sorted(keys.trusted_keys(root).items()):
        held = holders.get(key_id)
        who = f"  {held.name} <{held.email}>" if held else ""
        roles = f"  roles: {', '.join(held.roles)}" if held and held.roles else ""
        click.echo(f"{key_id}  {public.scheme}{who}{roles}")


def repo_root() -> Path:
    """Top of the git work tree containing the current directory."""
    top = git.toplevel(Path.cwd())
    if top is None:
        raise SeidError("not inside a git repository (trusted keys live in its .sei/trust/)")
    return top
