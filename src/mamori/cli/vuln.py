"""`mamori vuln`: vulnerability and support-lifecycle management (SEC-2, SEC-3, CLD-9, OPS-5,
IP-4). See docs/vuln.md."""

from __future__ import annotations

import typer

from mamori.cli import vuln_db, vuln_decide, vuln_eol, vuln_inventory, vuln_report, vuln_scan

app = typer.Typer(
    help="Vulnerabilities and support periods: inventories, the offline advisory database, "
    "end of life.",
    no_args_is_help=True,
)
app.command("scan")(vuln_scan.scan)
app.command("report")(vuln_report.report)
app.registered_commands.extend(vuln_decide.app.registered_commands)
app.add_typer(vuln_inventory.app, name="inventory")
app.add_typer(vuln_db.app, name="db")
app.add_typer(vuln_eol.app, name="eol")
