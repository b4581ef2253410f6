"""Rendering the loop's typed values with rich: progress while training, tables for money and the audit."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fairshare.consortium.view import MemberBalance, RoundReport, Settlement, Withdrawal
from fairshare.consortium.workspace import RunPaths, RunRecord
from fairshare.governance import Policy, Proposal
from fairshare.ledger import AuditReport
from fairshare.serving.store import ApiKeyInfo, UsageSummary

__all__ = [
    "LiveView",
    "format_amount",
    "show_audit",
    "show_balances",
    "show_keys",
    "show_policy",
    "show_proposals",
    "show_run",
    "show_settlement",
    "show_usage",
    "show_withdrawals",
]

UNIT = 10**18
MAX_ROWS = 25
"""Tables of members show at most this many rows (the largest); the rest is in the run's files."""


def format_amount(amount: int) -> str:
    """Exact smallest-unit integer, with the whole-coin value beside it for reading."""
    return f"{amount:,} ({amount / UNIT:.6f})"


class LiveView:
    """Prints stages as rules and shows a progress bar with one line per finished round."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress: Progress | None = None
        self._task: int | None = None
        self._phase_task: int | None = None
        self._last_line = 0.0
        self._members: list[str] = []
        self._reports: list[RoundReport] = []

    def stage(self, title: str, detail: str = "") -> None:
        self.console.rule(f"[bold]{title}")
        if detail:
            self.console.print(detail, highlight=False)

    def training_started(self, rounds: int, members: list[str]) -> None:
        self._members = members
        self._reports = []
        self._progress = Progress(
            TextColumn("[bold blue]{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("training", total=rounds)
        self._phase_task = self._progress.add_task("members", total=len(members))

    def round_finished(self, report: RoundReport) -> None:
        self._reports.append(report)
        flags = "; ".join(f"{m}: {why}" for m, why in sorted(report.flags.items()))
        line = (
            f"round {report.round:>3}  accuracy {report.accuracy:.3f}  loss {report.loss:.4f}  "
            f"{report.method} ({report.evaluations} coalitions, {report.valuation_seconds * 1000:.0f} ms)  "
            f"model {report.model_hash[:12]}"
        )
        self.console.print(line, highlight=False)
        if report.validators:
            took_part = ", ".join(f"{v} {how}" for v, how in sorted(report.validators.items()))
            self.console.print(f"          scores: validators' medians ({took_part})", highlight=False)
        else:
            self.console.print("          scores: single scorer (the coordinator)", highlight=False)
        if flags:
            self.console.print(f"          [yellow]flagged[/yellow] {flags}", highlight=False)
        for member, why in sorted(report.rejected.items()):
            why = why.removeprefix("rejected: ")
            self.console.print(f"          [red]update refused[/red] {member}: {why}", highlight=False)
        if report.epsilon:
            spent = ", ".join(f"{m} {e:.2f}" for m, e in sorted(report.epsilon.items()))
            self.console.print(f"          privacy spent (epsilon so far) {spent}", highlight=False)
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task)

    def progress(self, phase: str, done: int, total: int) -> None:
        """Members done in the current phase (train, evaluate, valuation, recording, claims)."""
        if self._progress is not None and self._phase_task is not None:
            self._progress.update(self._phase_task, completed=done, total=total, description=phase)
            return
        now = time.monotonic()
        if done == total or now - self._last_line > 2:
            self._last_line = now
            self.console.print(f"  {phase}: {done:,} of {total:,} members", highlight=False)

    def training_finished(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._phase_task = None
        if self._reports:
            self.console.print(contributions_table(self._reports, self._members))

    def governed(self, proposal: Proposal) -> None:
        show_proposals(self.console, [proposal])

    def settled(self, settlement: Settlement) -> None:
        show_settlement(self.console, settlement)

    def withdrew(self, withdrawals: Sequence[Withdrawal]) -> None:
        show_withdrawals(self.console, withdrawals)

    def payouts(self, balances: Sequence[MemberBalance]) -> None:
        show_balances(self.console, balances)

    def audited(self, report: AuditReport) -> None:
        show_audit(self.console, report)


def contributions_table(reports: Sequence[RoundReport], members: Sequence[str]) -> Table:
    """Members' measured values per round (utility units x 1000) and the shares minted in total."""
    table = Table(title="Measured contribution per round (validation log-likelihood gain x 1000)")
    table.add_column("member")
    for report in reports:
        table.add_column(f"r{report.round}", justify="right")
    table.add_column("shares minted", justify="right")
    table.add_column("share %", justify="right")
    totals = {m: sum(r.shares.get(m, 0) for r in reports) for m in members}
    grand = sum(totals.values()) or 1
    shown = list(members)
    if len(shown) > MAX_ROWS:  # a thousand members: the top earners, and how many more
        shown = sorted(shown, key=lambda m: -totals[m])[:MAX_ROWS]
        table.caption = f"the {MAX_ROWS} members with most shares; {len(members) - MAX_ROWS:,} more in summary.json"
    for member in shown:
        cells = []
        for report in reports:
            value = report.values.get(member)
            text = "-" if value is None else f"{value * 1000:.2f}"
            cells.append(f"[yellow]{text}⚑[/yellow]" if member in report.flags else text)
        table.add_row(member, *cells, f"{totals[member]:,}", f"{100 * totals[member] / grand:.1f}")
    return table


def show_run(console: Console, paths: RunPaths, record: RunRecord) -> None:
    table = Table(title=f"Consortium {record.consortium!r}, run {paths.index} ({paths.root})")
    table.add_column("member")
    table.add_column("account")
    table.add_column("behaviour")
    for member in record.members:
        table.add_row(member.name, member.address, member.behaviour)
    table.add_row("treasury", record.treasury, "-")
    console.print(table)
    console.print(f"chain {record.chain_url} (id {record.chain_id})", highlight=False)
    for key, value in record.deployment.items():
        if key.endswith(("shares", "log", "governor", "token")):
            console.print(f"  {key}: {value}", highlight=False)


def show_settlement(console: Console, settlement: Settlement) -> None:
    if settlement.calls == 0 and settlement.amount == 0:
        console.print("nothing to settle: every paid call is already on chain")
        return
    verb = "was already settled" if settlement.already_settled else "settled"
    console.print(
        f"{settlement.calls:,} paid calls {verb}: {format_amount(settlement.amount)} from customers' deposits in "
        f"the CreditVault into {settlement.into} (treasury cut {format_amount(settlement.treasury_cut)}), "
        f"settlement {settlement.settlement_id[:18]}… "
        f"tx {settlement.tx_hash[:18]}…",
        highlight=False,
    )


def show_withdrawals(console: Console, withdrawals: Sequence[Withdrawal]) -> None:
    table = Table(title="Withdrawals (each signed by the member's own key)")
    table.add_column("member")
    table.add_column("amount (smallest unit)", justify="right")
    table.add_column("tx")
    shown = sorted(withdrawals, key=lambda w: -w.amount)[:MAX_ROWS] if len(withdrawals) > MAX_ROWS else withdrawals
    for w in shown:
        table.add_row(w.member, f"{w.amount:,}", w.tx_hash[:18] + "…" if w.tx_hash else "nothing due")
    if len(shown) < len(withdrawals):
        rest = [w for w in withdrawals if w not in shown]
        table.add_row(f"… {len(rest):,} more", f"{sum(w.amount for w in rest):,}", "")
    console.print(table)


def show_balances(console: Console, balances: Sequence[MemberBalance]) -> None:
    table = Table(title="Payouts (smallest unit)")
    for column in ("member", "role", "shares", "share %", "entitled", "withdrawn", "still owed"):
        table.add_column(column, justify="left" if column in ("member", "role") else "right")
    total_shares = sum(b.shares for b in balances) or 1
    shown = list(balances)
    if len(shown) > MAX_ROWS:
        shown = sorted(shown, key=lambda b: (b.role != "treasury", -b.entitled))[:MAX_ROWS]
        rest = [b for b in balances if b not in shown]
        table.caption = (
            f"{len(rest):,} more members: entitled {sum(b.entitled for b in rest):,}, "
            f"withdrawn {sum(b.withdrawn for b in rest):,}"
        )
    for b in shown:
        share = f"{100 * b.shares / total_shares:.1f}" if b.role == "member" else "-"
        table.add_row(
            b.name, b.role, f"{b.shares:,}", share, f"{b.entitled:,}", f"{b.withdrawn:,}", f"{b.withdrawable:,}"
        )
    console.print(table)


def show_audit(console: Console, report: AuditReport) -> None:
    table = Table(title="Audit: every number re-derived from chain events")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    for check in report.checks:
        table.add_row(check.name, "[green]ok[/green]" if check.ok else "[red]FAILED[/red]", check.detail)
    console.print(table)
    console.print("[bold green]audit OK[/bold green]" if report.ok else "[bold red]audit FAILED[/bold red]")


def show_keys(console: Console, keys: Sequence[ApiKeyInfo]) -> None:
    table = Table(title="API keys")
    for column in ("key id", "customer", "bought", "billed", "credit", "refund", "created"):
        table.add_column(column, justify="right" if column in ("bought", "billed", "credit") else "left")
    for k in keys:
        table.add_row(
            k.key_id, k.customer, f"{k.deposited:,}", f"{k.billed:,}", f"{k.credit:,}", k.refund, k.created_at
        )
    console.print(table)


def show_usage(console: Console, summary: UsageSummary) -> None:
    table = Table(title="Usage (smallest unit)")
    for column in ("calls", "rows", "revenue", "settled", "unsettled"):
        table.add_column(column, justify="right")
    s = summary
    table.add_row(f"{s.calls:,}", f"{s.rows:,}", f"{s.revenue:,}", f"{s.settled:,}", f"{s.pending:,}")
    console.print(table)


def show_proposals(console: Console, proposals: Sequence[Proposal]) -> None:
    table = Table(title="Proposals")
    for column in ("id", "action", "description", "state", "for", "against", "of total", "voters", "ends"):
        table.add_column(column, justify="right" if column in ("id", "for", "against", "of total", "ends") else "left")
    for p in proposals:
        colour = {"executed": "green", "defeated": "red", "canceled": "dim"}.get(p.state, "yellow")
        table.add_row(
            str(p.proposal_id),
            p.action.describe(),
            p.description,
            f"[{colour}]{p.state}[/{colour}]",
            f"{p.votes_for:,}",
            f"{p.votes_against:,}",
            f"{p.total_weight:,}",
            str(len(p.votes)),
            f"block {p.end}",
        )
    console.print(table)


def show_policy(console: Console, policy: Policy) -> None:
    table = Table(title="Policy on chain")
    table.add_column("rule")
    table.add_column("value")
    rows = [
        ("price per row", f"{policy.price_per_row:,}"),
        ("treasury cut", f"{policy.treasury_cut_bps} bps"),
        (
            "valuation method",
            policy.valuation_method + (f" {policy.valuation_params}" if policy.valuation_params else ""),
        ),
        ("released model", policy.released_model.hex() if any(policy.released_model) else "none yet"),
        ("voting", policy.rules.describe()),
        ("shares", f"{policy.share_scale:,} per unit of credited value, at most {policy.round_cap:,} per round"),
        (
            "pause",
            (f"paused until block {policy.paused_until}" if policy.paused_until else "not paused")
            + f"; the pauser's emergency pause lasts {policy.pause_blocks} blocks"
            + ("" if policy.pauser_armed else " (used: governance must re-arm it)"),
        ),
        ("refund notice", f"{policy.refund_notice:,} blocks between a customer's refund request and its refund"),
        ("members", str(policy.members)),
    ]
    for rule, value in rows:
        table.add_row(rule, value)
    console.print(table)
