"""The trigger commands: `scheduler`, `schedules list|pause|resume|trigger-now`, `fires`,
`notifications`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from lockstep.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    data_table,
    err,
    error_boundary,
    out,
    queue_client,
    setup_logging,
    who,
)
from lockstep.errors import ConfigError

app = typer.Typer()


schedules_app = typer.Typer(help="Cron schedules: list, pause, resume, trigger-now.")
ByOption = Annotated[str | None, typer.Option("--by", help="Who does it (recorded).")]


@app.command()
def scheduler(
    interval: Annotated[str, typer.Option(help="Time between ticks, e.g. 1s, 500ms.")] = "1s",
    once: Annotated[bool, typer.Option("--once", help="Run one tick and exit.")] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Fire due schedules (once each, however many schedulers run), answer gates past their
    deadline and deliver notifications, every tick until SIGTERM/SIGINT."""

    from lockstep.triggers.scheduler import Scheduler

    setup_logging()
    with error_boundary():
        try:
            from lockstep.machine.spec import parse_duration

            seconds = parse_duration(interval)
        except ValueError as exc:
            raise ConfigError(f"--interval: {exc}") from None
        runner = Scheduler(db, config=config, interval=seconds)
        if once:
            report = runner.tick()
            runner.close()
            for f in report.fired:
                what = escape(f.job_id or f.error or "")
                out.print(f"{escape(f.trigger)}  {escape(f.key)}  {f.status}  {what}")
            for g in report.gates:
                out.print(
                    f"{escape(g['thread_id'])}  {escape(g['gate'])}  {escape(g['decision'])}  "
                    f"{g['outcome']}"
                )
            return
        names = ", ".join(runner.config.schedules()) or "no schedules"
        err.print(f"scheduler {runner.id}: {escape(names)}; every {seconds:g}s")
        runner.run()
        err.print(f"scheduler {runner.id} stopped after {runner.ticks} tick(s)")


@schedules_app.command("list")
def schedules_list(
    config: ConfigOption = None, as_json: JsonOption = False, db: DbOption = None
) -> None:
    """Every schedule: cron, timezone, catch-up policy, paused, next and last fire."""
    from lockstep.triggers.scheduler import list_schedules

    with error_boundary():
        rows = list_schedules(queue_client(db, config).queue, _now())
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = data_table(
        "schedule", "cron", "timezone", "catch_up", "workflow", "next", "last", "paused"
    )
    for r in rows:
        last = r["last"] or {}
        table.add_row(
            r["name"],
            r["cron"],
            r["timezone"],
            r["catch_up"],
            r["workflow"],
            (r["next"] or "")[:19],
            f"{(last.get('at') or '')[:19]} {last.get('status', '')}".strip(),
            f"yes ({r['changed_by']})" if r["paused"] else "",
        )
    out.print(table)


def _set_paused(
    name: str, paused: bool, by: str | None, config: Path | None, db: str | None
) -> None:
    from lockstep.triggers.scheduler import set_paused

    with error_boundary():
        set_paused(queue_client(db, config).queue, name, paused, by=by or who(None), now=_now())
    out.print(f"{escape(name)}  {'paused' if paused else 'resumed'}")


@schedules_app.command("pause")
def schedules_pause(
    name: Annotated[str, typer.Argument(metavar="SCHEDULE")],
    by: ByOption = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Stop firing a schedule until `resume`."""
    _set_paused(name, True, by, config, db)


@schedules_app.command("resume")
def schedules_resume(
    name: Annotated[str, typer.Argument(metavar="SCHEDULE")],
    by: ByOption = None,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Fire a paused schedule again from now on (fire times missed while paused are skipped)."""
    _set_paused(name, False, by, config, db)


@schedules_app.command("trigger-now")
def schedules_trigger_now(
    name: Annotated[str, typer.Argument(metavar="SCHEDULE")],
    by: ByOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Fire a schedule once now, outside its cron; prints the job ID."""
    from lockstep.triggers.scheduler import trigger_now

    with error_boundary():
        fired = trigger_now(queue_client(db, config).queue, name, by=by or who(None), now=_now())
        if fired.job_id is None:
            raise ConfigError(fired.error or f"schedule {name!r} did not fire")
    if as_json:
        out.print_json(json.dumps(fired.to_dict()))
        return
    err.print(f"fired {escape(name)} ({escape(fired.key)})")
    out.print(fired.job_id, markup=False)


@app.command()
def fires(
    trigger: Annotated[str | None, typer.Option(help="Only this trigger.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Trigger firings, newest first: what fired, when, and the job it queued (or why not)."""
    from lockstep.triggers.fires import fires as recorded

    with error_boundary():
        rows = [f.to_dict() for f in recorded(queue_client(db, config).queue, trigger)]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = data_table("at", "trigger", "kind", "key", "status", "job / error")
    for r in rows:
        table.add_row(
            (r["at"] or "")[:19],
            r["trigger"],
            r["kind"],
            r["key"][:40],
            r["status"],
            r["job_id"] or r["error"] or "",
        )
    out.print(table)


@app.command()
def notifications(
    job: Annotated[str | None, typer.Option(help="Only this job's notifications.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Outbound notifications with their delivery attempts."""
    from lockstep.triggers.notify import notifications as recorded

    with error_boundary():
        rows: list[dict[str, Any]] = recorded(queue_client(db, config).queue, job)
    if as_json:
        out.print_json(json.dumps(rows, default=str))
        return
    table = data_table("created", "job", "event", "url", "status", "attempts", "last error")
    for r in rows:
        table.add_row(
            _when(r["created_at"]),
            r["job_id"],
            r["event"],
            r["url"],
            r["status"],
            str(r["attempts"]),
            r["last_error"] or "",
        )
    out.print(table)


def _now() -> datetime:
    return datetime.now(UTC)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()[:19] if ts is not None else ""
