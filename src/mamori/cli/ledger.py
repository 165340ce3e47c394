"""`mamori ledger …`: append, checkpoints, proofs, verification, search, retention, export."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from mamori.cli import witness as witness_cmds
from mamori.cli.common import HomeOption, fail, print_json, time_arg
from mamori.errors import MamoriError
from mamori.home import Home, open_home

if TYPE_CHECKING:
    from mamori.ledger.note import CosignatureVerifier, Verifier

app = typer.Typer(
    help="The tamper-evident ledger: append, prove, verify, search, retain, export.",
    no_args_is_help=True,
)
app.add_typer(witness_cmds.app, name="witness")
app.add_typer(witness_cmds.cosig_app, name="cosignature")


@app.command()
def append(
    source: Annotated[
        str, typer.Argument(help="A JSON Lines file, or - for standard input.")
    ] = "-",
    home: HomeOption = None,
) -> None:
    """Append JSON Lines, one event per line, durably.

    A line that is not a JSON object is stored as an `ingest.rejected` event holding its raw
    bytes and reported on standard error with its line number. Prints
    {"appended": N, "rejected": M, "tree_size": S}: N events stored as received, M stored as
    rejected; all N + M are acknowledged (on disk, under a signed checkpoint).
    """
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
        stored = last.appended + last.rejected
        if not stored:
            fail(f"{e.diagnostics()}\n  nothing from this input was stored")
        print_json(last.as_json())
        fail(
            f"{e.diagnostics()}\n  the {stored} events counted above were stored and "
            "acknowledged before the failure; append the rest again"
        )
    finally:
        if close:
            os.close(fd)
    print_json(result.as_json())


@app.command()
def checkpoint(
    home: HomeOption = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Print every checkpoint, oldest first.")
    ] = False,
) -> None:
    """Print the latest signed checkpoint (C2SP tlog-checkpoint, signed-note format)."""
    from mamori.ledger.store import Reader

    h = open_home(home)
    with Reader(h.ledger_db) as r:
        if all_:
            for each in r.checkpoints():
                sys.stdout.write(each.note + "\n")
            return
        cp = r.latest_checkpoint()
        if cp is None:
            fail(
                "the ledger is empty: no checkpoint yet\n  fix: append events first (`mamori ledger append`)"
            )
        sys.stdout.write(cp.note + "".join(line + "\n" for line in r.cosignatures(cp.tree_size)))


@app.command()
def prove(
    home: HomeOption = None,
    index: Annotated[
        int | None, typer.Option(help="Prove that event INDEX is in the tree.")
    ] = None,
    tree_size: Annotated[
        int | None, typer.Option(help="Against the checkpoint of this size (default: the latest).")
    ] = None,
    from_: Annotated[
        int | None, typer.Option("--from", help="Consistency proof from this size…")
    ] = None,
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


def _log_verifier(path_text: str) -> Verifier:
    """The log's public key from a file, or a message naming the file and the fix."""
    from pathlib import Path

    from mamori.ledger.errors import NoteError
    from mamori.ledger.note import Verifier

    path = Path(path_text)
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as e:
        fail(
            f"cannot read the log's public key {path}: {e}\n  fix: pass --log-key FILE (a copy of ledger.pub)"
        )
    try:
        return Verifier.parse(text)
    except NoteError as e:
        fail(f"{path} is not a signed-note verifier key: {e.message}")


def _witness_verifier(path: str) -> CosignatureVerifier:
    from pathlib import Path

    from mamori.ledger.errors import NoteError
    from mamori.ledger.note import CosignatureVerifier

    try:
        return CosignatureVerifier.parse(Path(path).read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read the witness key {path}: {e}")
    except NoteError as e:
        fail(f"{path} is not a witness (cosignature) verifier key: {e.message}")


@app.command()
def verify(
    home: HomeOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    log_key: Annotated[
        str | None,
        typer.Option(
            help="The log's public key to check signatures with (default: HOME/ledger.pub; "
            "auditors should pass their own copy)."
        ),
    ] = None,
    witness_key: Annotated[
        list[str] | None,
        typer.Option(
            metavar="FILE",
            help="A witness's public key: check its stored cosignatures (repeatable).",
        ),
    ] = None,
) -> None:
    """Check every leaf, tile, checkpoint signature, consistency and cosignature; name every problem.

    Exit status: 0 intact, 1 a problem was found, 2 the check could not run.
    """
    from mamori.ledger.store import Reader
    from mamori.ledger.verify import verify as run_verify

    h = open_home(home)
    key_path = log_key or str(h.pub_path)
    verifier = _log_verifier(key_path)
    witnesses = [_witness_verifier(path) for path in witness_key or []]
    with Reader(h.ledger_db) as r:
        if sys.stderr.isatty() and not json_out:
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task("verifying", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                report = run_verify(r, verifier, witnesses=witnesses, progress=progress)
        else:
            report = run_verify(r, verifier, witnesses=witnesses)
    if json_out:
        print_json(report.as_json())
    else:
        c = report.as_json()["checked"]
        print(f"tree size      {report.tree_size}")
        print(
            f"leaves         {c['leaves_hashed']} hashed from their bodies, "
            f"{c['leaves_pruned']} pruned by signed retention (leaf hash kept)"
        )
        print(f"checkpoints    {c['checkpoints']}, {c['signatures']} signatures valid ({key_path})")
        print(f"consistency    {c['consistency_pairs']} consecutive pairs proven")
        print(f"tiles          {c['tiles']} rebuilt and compared")
        print(
            f"cosignatures   {c['cosignatures']} verified"
            + (
                f", {c['cosignatures_unchecked']} by witnesses whose key was not given (--witness-key)"
                if c["cosignatures_unchecked"]
                else ""
            )
        )
        if report.ok:
            print(
                "result         OK: every check above passed"
                if report.tree_size
                else "result         OK: the ledger is empty; there was nothing to check"
            )
        else:
            print(f"result         FAILED: {len(report.problems)} problem(s)")
            for p in report.problems:
                where = "-" if p.index is None else str(p.index)
                print(f"  {p.kind:<20} index {where:<10} {p.detail}")
    _record_verification(h, report.ok, report.tree_size, len(report.problems))
    raise typer.Exit(0 if report.ok else 1)


def _record_verification(h: Home, ok: bool, tree_size: int, problems: int) -> None:
    """Self-audit (SEC-5): a verification is itself a ledger event, via the outbox.

    Best effort: an auditor verifying a read-only copy cannot write the outbox, and that must
    not change the verdict or the exit status.
    """
    from mamori import audit

    with contextlib.suppress(MamoriError):
        audit.record(
            h,
            "ledger.verified",
            outcome="success" if ok else "failure",
            fields={"tree_size": tree_size, "problems": problems},
        )


retention_app = typer.Typer(
    help="Retention: prune event bodies past their retention date.", no_args_is_help=True
)
app.add_typer(retention_app, name="retention")


@retention_app.command("status")
def retention_status(home: HomeOption = None) -> None:
    """Print the retention policy in force and what a run would prune now."""
    import datetime as dt

    from mamori.ledger.retention import plan
    from mamori.ledger.store import Reader

    h = open_home(home)
    with Reader(h.ledger_db) as r:
        print_json(plan(h, r, dt.datetime.now(dt.UTC)).as_json())


@retention_app.command("run")
def retention_run(home: HomeOption = None) -> None:
    """Prune the bodies past retention, with a signed ledger.pruned event; prints what it did."""
    import datetime as dt

    from mamori.ledger.retention import run

    h = open_home(home)
    print_json(run(h, dt.datetime.now(dt.UTC)).as_json())


@app.command()
def export(
    out: Annotated[
        str, typer.Option("--out", help="The file to write; the manifest goes beside it.")
    ],
    home: HomeOption = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    since: Annotated[
        str | None, typer.Option(help="Events received at or after this time.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Events received before this time.")] = None,
) -> None:
    """Export events with a manifest proving the range complete (CLD-5, CLD-6).

    Check an export anywhere with `mamori ledger check-export MANIFEST --log-key ledger.pub`.
    """
    from pathlib import Path

    from mamori.ledger.export import export as run_export
    from mamori.ledger.store import Reader

    h = open_home(home)
    with Reader(h.ledger_db) as r:
        res = run_export(
            r,
            h.public_key_text(),
            fmt=fmt,
            out=Path(out),
            since_us=time_arg(since, "--since"),
            until_us=time_arg(until, "--until"),
        )
    print_json(
        {
            "out": str(res.out),
            "manifest": str(res.manifest),
            "first": res.first,
            "end": res.end,
            "count": res.count,
        }
    )


@app.command("check-export")
def check_export(
    manifest: Annotated[str, typer.Argument(help="The export's .manifest.json file.")],
    log_key: Annotated[str, typer.Option(help="The log's public key (ledger.pub).")],
) -> None:
    """Check an export without the ledger: file hash, checkpoint signature, range proof.

    Exit status: 0 complete and authentic, 1 not, 2 the check could not run.
    """
    from pathlib import Path

    from mamori.ledger.export import check_export as run_check

    verifier = _log_verifier(log_key)
    res = run_check(Path(manifest), verifier)
    print_json({"ok": res.ok, "count": res.count, "problems": res.problems})
    raise typer.Exit(0 if res.ok else 1)


@app.command()
def search(
    query: Annotated[
        str, typer.Argument(help="The query (docs/search.md); '' matches everything.")
    ] = "",
    home: HomeOption = None,
    since: Annotated[
        str | None,
        typer.Option(help="Events at or after this time (RFC 3339, date, or 15m/2h/7d ago)."),
    ] = None,
    until: Annotated[str | None, typer.Option(help="Events before this time.")] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field", metavar="K=V", help="A field filter, same as K:V in the query; repeatable."
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, max=100_000, help="At most this many hits (default from config)."),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object per hit, with its index.")
    ] = False,
    with_proof: Annotated[
        bool,
        typer.Option(
            "--with-proof", help="Add each hit's inclusion proof against the latest checkpoint."
        ),
    ] = False,
) -> None:
    """Search the ledger: full text and fields, newest first.

    The index is brought up to date with every acknowledged event first, so results are never
    stale. Each hit can carry its inclusion proof, checkable with only ledger.pub.
    """
    from mamori.ledger.proofs import prove_inclusion
    from mamori.ledger.search import SearchIndex
    from mamori.ledger.search import search as run_search
    from mamori.ledger.store import Reader

    fields: dict[str, str] = {}
    for item in field or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--field {item!r} is not K=V\n  fix: write it as --field user.name=tanaka")
        fields[key] = value
    h = open_home(home)
    n = limit or h.config().search.default_limit
    since_us = time_arg(since, "--since")
    until_us = time_arg(until, "--until")
    with Reader(h.ledger_db) as r, SearchIndex.open(h.index_dir) as index:
        backlog = r.tree_size() - index.indexed_size()
        if backlog > 50_000 and sys.stderr.isatty():
            sys.stderr.write(f"indexing {backlog} events first…\n")
        hits = run_search(
            index, r, query, since_us=since_us, until_us=until_us, fields=fields, limit=n
        )
        cp = r.latest_checkpoint() if with_proof else None
        for hit in hits:
            if json_out or with_proof:
                doc: dict[str, object] = {
                    "index": hit.index,
                    "received": _iso_us(hit.received_us),
                    "event": hit.event,
                }
                if cp is not None:
                    doc["proof"] = prove_inclusion(r, hit.index, cp.tree_size).as_json()
                print_json(doc)
            else:
                ev = hit.event
                msg = ev.get("message")
                text = msg if isinstance(msg, str) else json_dumps(ev)
                ts = ev.get("@timestamp")
                when = ts if isinstance(ts, str) else _iso_us(hit.received_us)
                sys.stdout.write(f"{hit.index:>10}  {when}  {text}\n")
        if cp is not None:
            sys.stderr.write(
                f"proofs are against checkpoint {cp.tree_size}; `mamori ledger checkpoint` prints it\n"
            )
    if not hits and not json_out:
        sys.stderr.write("no events match\n")


@app.command()
def reindex(home: HomeOption = None) -> None:
    """Rebuild the search index from the ledger (it is derived data)."""
    from mamori.ledger.search import SearchIndex
    from mamori.ledger.store import Reader

    h = open_home(home)
    with Reader(h.ledger_db) as r, SearchIndex.open(h.index_dir) as index:
        count = index.rebuild(r)
    print_json({"indexed": count})


def _iso_us(us: int) -> str:
    import datetime as dt

    t = dt.datetime.fromtimestamp(us // 1_000_000, tz=dt.UTC).replace(microsecond=us % 1_000_000)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_dumps(value: object) -> str:
    import orjson

    return orjson.dumps(value).decode("utf-8")
