"""`mamori ledger witness` (the agency's side) and `mamori ledger cosignature add` (the log's)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mamori.cli.common import HomeOption, fail, print_json
from mamori.home import open_home

app = typer.Typer(
    help="A witness: cosign a checkpoint only if it is consistent with the last one accepted.",
    invoke_without_command=True,
)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        fail(f"cannot read the {what} {path}: {e.strerror}")


@app.callback()
def witness(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option(metavar="WDIR", help="The witness's state directory.")
    ] = None,
    log_key: Annotated[
        str | None, typer.Option(metavar="FILE", help="The log's public key (ledger.pub).")
    ] = None,
    checkpoint: Annotated[
        str | None,
        typer.Option(metavar="FILE", help="The checkpoint to cosign (`mamori ledger checkpoint`)."),
    ] = None,
    proof: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="Consistency proof from the last accepted size "
            "(`mamori ledger prove --from A --to B`); not needed the first time.",
        ),
    ] = None,
) -> None:
    """Check a checkpoint against the last one this witness accepted and cosign it.

    Prints the checkpoint with the witness's cosignature line added; exit 1 when refused
    (state unchanged), 2 on usage or environment errors. Set the witness up first with
    `mamori ledger witness init`.
    """
    if ctx.invoked_subcommand is not None:
        if any(v is not None for v in (log_key, checkpoint, proof)):
            fail(
                "--log-key, --checkpoint and --proof go with `mamori ledger witness`, not with a subcommand"
            )
        ctx.obj = state
        return
    if state is None or log_key is None or checkpoint is None:
        fail(
            "mamori ledger witness needs --state WDIR --log-key FILE --checkpoint FILE [--proof FILE]\n"
            "  fix: see `mamori ledger witness --help`"
        )
    from mamori.ledger.witness import ProofFile, WitnessRefused, WitnessState, parse_proof

    pf = parse_proof(_read(proof, "proof")) if proof else ProofFile(None, ())
    try:
        out = WitnessState(Path(state)).cosign(
            _read(log_key, "log key").decode("utf-8", "replace"),
            _read(checkpoint, "checkpoint"),
            pf.hashes,
            old_size=pf.old_size,
            new_size=pf.new_size,
        )
    except WitnessRefused as e:
        fail(e.diagnostics(), code=1)
    sys.stdout.write(out)


@app.command("init")
def witness_init(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="The witness's name, e.g. witness.agency.example/w1.")],
    state: Annotated[
        str | None, typer.Option(metavar="WDIR", help="The state directory to create.")
    ] = None,
) -> None:
    """Create a witness: state directory (0700) and cosigning key (0600); prints its public key."""
    from mamori.ledger.witness import WitnessState

    wdir = state or ctx.obj
    if not wdir:
        fail("give --state WDIR")
    print(WitnessState(Path(wdir)).init(name))


@app.command("key")
def witness_key(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option(metavar="WDIR", help="The witness's state directory.")
    ] = None,
) -> None:
    """Print the witness's public (verifier) key."""
    from mamori.ledger.witness import WitnessState

    wdir = state or ctx.obj
    if not wdir:
        fail("give --state WDIR")
    print(WitnessState(Path(wdir)).vkey())


cosig_app = typer.Typer(
    help="Cosignatures from witnesses, kept with the checkpoints.", no_args_is_help=True
)


@cosig_app.command("add")
def cosignature_add(
    cosigned: Annotated[
        str, typer.Argument(metavar="FILE", help="The cosigned checkpoint the witness returned.")
    ],
    witness_key: Annotated[str, typer.Option(metavar="FILE", help="The witness's public key.")],
    home: HomeOption = None,
) -> None:
    """Store a witness's cosignature with the checkpoint it signs (checked first)."""
    from mamori.ledger.cosign import add_cosignature

    h = open_home(home)
    got = add_cosignature(
        h,
        _read(cosigned, "cosigned checkpoint").decode("utf-8", "replace"),
        _read(witness_key, "witness key").decode("utf-8", "replace").strip(),
    )
    print_json({"tree_size": got.tree_size, "witness": got.witness, "time": got.timestamp})
