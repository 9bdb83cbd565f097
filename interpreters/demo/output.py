"""The demo's summary, printed: the read model, revenue over time and what happened."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from interpreters.demo.script import Report, money

__all__ = ("render",)


def render(report: Report, console: Console) -> None:
    """Print the summary of *report*."""
    console.print()
    table = Table(title=f"read model, queried {report.query_via}")
    for column in ("order", "customer", "total", "status", "reason"):
        table.add_column(column)
    for key, row in report.orders.items():
        table.add_row(
            key,
            str(row.get("customer", "")),
            money(int(row.get("total_cents", 0))),
            str(row.get("status", "")),
            str(row.get("reason", "")),
        )
    console.print(table)
    counts = ", ".join(f"{status} {n}" for status, n in sorted(report.stats.items()))
    console.print(f"order_stats/by_status: {counts}\n")

    table = Table(title="revenue over time (cim.frp: events -> DiscreteEvent -> accum -> Behavior)")
    for column in ("after position", "booked", "delivered", "delivered share"):
        table.add_column(column, justify="right")
    for point in report.revenue:
        table.add_row(
            str(point.position),
            money(point.booked),
            money(point.delivered),
            f"{point.delivered_share:.0%}",
        )
    console.print(table)
    console.print(
        "booked = placed - cancelled, delivered = delivered orders, sampled after a position"
    )
    agrees = "agrees" if report.signal_agrees else "DISAGREES"
    console.print(f"incremental evaluator (one event at a time) {agrees} with the pure fold")

    console.print("\n[bold]summary[/bold]")
    total = sum(report.events_by_type.values())
    by_type = ", ".join(f"{name} {n}" for name, n in sorted(report.events_by_type.items()))
    console.print(f"  store:            {escape(report.store)}")
    console.print(f"  events written:   {total} ({by_type})")
    versions = ", ".join(f"{k} v{v}" for k, v in sorted(report.versions.items()))
    console.print(f"  stream versions:  {versions}")
    console.print(
        f"  read-model rows:  {len(report.orders)} in orders (story), "
        f"order_stats {dict(sorted(report.stats.items()))}"
    )
    accepted = len(report.steps) - len(report.rejected)
    console.print(
        f"  commands:         {len(report.steps)} sent, {accepted} accepted, "
        f"{len(report.rejected)} rejected"
    )
    for step in report.rejected:
        code = step.reply.rejection_code or step.reply.code
        console.print(
            f"    rejected {step.order_id} {escape(step.command)}: {code}: {escape(step.reply.reason)}"
        )
    for conflict in report.conflicts:
        console.print(f"  conflict retried: {escape(conflict)}")
    if report.scale:
        s = report.scale
        console.print(
            f"  scale:            {int(s['orders'])} orders, {int(s['commands'])} commands in "
            f"{s['seconds']:.2f} s = {s['commands_per_second']:,.0f} commands/s (each appends one "
            f"event); the projection caught up {s['projection_lag_seconds']:.2f} s after the last"
        )
    console.print(
        f"  health:           {escape(report.health.get('overall', '?'))} "
        f"({', '.join(f'{k}: {v}' for k, v in report.health.items() if k != 'overall')})"
    )
    console.print(f"  services:         {escape(report.shutdown)} (stopped in reverse order)")
