"""`mamori ledger …`: append, checkpoints, proofs, verification, search, retention, export."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from mamori.cli.common import HomeOption, fail, print_json
from mamori.home import open_home

app = typer.Typer(
    help="The tamper-evident ledger: append, prove, verify, search, retain, export.",
    no_args_is_help=True,
)


@app.command()
def append(
    source: Annotated[str, typer.Argument(help="A JSON Lines file, or - for standard input.")] = "-",
    home: HomeOption = None,
) -> None:
    """Append JSON Lines, one event per line, durably.

    A line that is not a JSON object is stored as an `ingest.rejected` event holding its raw
    bytes and reported on standard error with its line number. Prints
    {"appended": N, "rejected": M, "tree_size": S}: N events stored as received, M stored as
    rejected; all N + M are acknowledged (on disk, under a signed checkpoint).
    """
    from mamori.errors import MamoriError
    from mamori.ledger.append import AppendResult, append_fd

    h = open_home(home)
    if source == "-":
        fd = sys.stdin.fileno()
        close = False
    else:
        try:
            fd = os.open(source, os.O_RDONLY)
        except OSError as e:
            fail(f"cannot read {source}: {e.strerror}")
        close = True
    last = AppendResult()

    def rejected(line: int, index: int, reason: str) -> None:
        sys.stderr.write(f"line {line}: {reason}; stored as ingest.rejected event {index}\n")

    def committed(r: AppendResult) -> None:
        nonlocal last
        last = r

    try:
        result = append_fd(h, fd, on_rejected=rejected, on_commit=committed)
    except MamoriError as e:
        print_json(last.as_json())
        fail(f"{e.diagnostics()}\n  the {last.appended + last.rejected} events counted above were "
             "stored and acknowledged before the failure")
    finally:
        if close:
            os.close(fd)
    print_json(result.as_json())


@app.command()
def checkpoint(
    home: HomeOption = None,
    all_: Annotated[bool, typer.Option("--all", help="Print every checkpoint, oldest first.")] = False,
) -> None:
    """Print the latest signed checkpoint (C2SP tlog-checkpoint, signed-note format)."""
    from mamori.ledger.store import Reader

    h = open_home(home)
    with Reader(h.ledger_db) as r:
        if all_:
            for cp in r.checkpoints():
                sys.stdout.write(cp.note + "\n")
            return
        cp = r.latest_checkpoint()
        if cp is None:
            fail("the ledger is empty: no checkpoint yet\n  fix: append events first (`mamori ledger append`)")
        sys.stdout.write(cp.note + "".join(line + "\n" for line in r.cosignatures(cp.tree_size)))


@app.command()
def prove(
    home: HomeOption = None,
    index: Annotated[int | None, typer.Option(help="Prove that event INDEX is in the tree.")] = None,
    tree_size: Annotated[
        int | None, typer.Option(help="Against the checkpoint of this size (default: the latest).")
    ] = None,
    from_: Annotated[int | None, typer.Option("--from", help="Consistency proof from this size…")] = None,
    to: Annotated[int | None, typer.Option(help="…to this size.")] = None,
) -> None:
    """Print an inclusion proof (--index) or a consistency proof (--from A --to B) as JSON.

    Hashes are hex. Check them without the database with the public key and a checkpoint:
    RFC 9162 §2.1.3.2 and §2.1.4.2.
    """
    from mamori.ledger.proofs import prove_consistency, prove_inclusion
    from mamori.ledger.store import Reader

    if index is not None and (from_ is not None or to is not None):
        fail("give either --index (inclusion) or --from and --to (consistency), not both")
    h = open_home(home)
    with Reader(h.ledger_db) as r:
        if index is not None:
            print_json(prove_inclusion(r, index, tree_size).as_json())
        elif from_ is not None and to is not None:
            print_json(prove_consistency(r, from_, to).as_json())
        else:
            fail("nothing to prove\n  fix: give --index I [--tree-size S], or --from A --to B")
