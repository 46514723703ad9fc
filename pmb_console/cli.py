"""The headless face: `pmb-console COMMAND`. No logic of its own.

Each command parses its arguments, builds an action, hands it to the shared
ActionRunner and prints the outcome. Heavy modules (textual, boto3, psycopg) are imported
only by the commands that need them, so `switch` on HAProxy starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pmb_console import __version__
from pmb_console.errors import ExitCode, PmbError, UsageError

if TYPE_CHECKING:
    from pmb_console.bootstrap import Services
    from pmb_console.config import Config


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit 2 through PmbError with the same wording as the rest."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}", f"see `{self.prog} --help`")


def _common() -> _Parser:
    # The console options are accepted before and after the command.
    p = _Parser(add_help=False)
    p.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="config file (else $PMB_CONSOLE_CONFIG, else ~/.config/pmb-console/config.toml)",
    )
    p.add_argument(
        "--read-only",
        action="store_true",
        default=argparse.SUPPRESS,
        help="refuse every change (spectator mode)",
    )
    p.add_argument("--theme", default=argparse.SUPPRESS, help="console theme")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = _Parser(
        prog="pmb-console",
        parents=[common],
        description="Blue/green deployment and rollback console for PM Buddy.",
    )
    parser.add_argument("--version", action="version", version=f"pmb-console {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common], description=help)

    p = add("demo", "open the console on the embedded demo stack")
    p.add_argument("--scenario", help="a scripted rehearsal, e.g. bad-release")
    p.add_argument(
        "--postgres", action="store_true", help="use a scratch PostgreSQL database (PG* variables)"
    )

    p = add("status", "live color, weights, health per color, lock holder")
    p.add_argument("--json", action="store_true")

    p = add("check", "the pre-deployment checklist")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--sign-off", metavar="ITEM", default=None, help="vouch for an item by hand (audited)"
    )
    p.add_argument("--reason", default="", help="what you checked, with --sign-off")

    p = add("switch", "move traffic to a color")
    p.add_argument("--to", required=True, choices=["blue", "green"])
    p.add_argument(
        "--weight", type=int, default=100, help="percent of traffic for the target (default 100)"
    )
    _action_flags(p)

    p = add("rollback", "move traffic back to the color live before the last switch")
    _action_flags(p)

    p = add("snapshot", "take a database snapshot")
    p.add_argument("--label", default="")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p = add("snapshots", "list database snapshots, newest first")
    p.add_argument("--json", action="store_true")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--policy", action="store_true", help="the backup policy: newest age, days covered, expired"
    )
    g.add_argument(
        "--prune", action="store_true", help="delete snapshots older than [backup] retention_days"
    )
    p.add_argument("--yes", action="store_true", help="with --prune: do not ask for confirmation")

    p = add("restore", "restore the database from a snapshot (destructive)")
    p.add_argument("snapshot_id")
    p.add_argument(
        "--confirm", default="", metavar="ENVIRONMENT", help="type the environment name to confirm"
    )
    p.add_argument("--dry-run", action="store_true")

    p = add("migrate", "apply pending database migrations")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--dry-run", action="store_true")
    g.add_argument("--lint-only", action="store_true")
    p.add_argument("--yes", action="store_true")
    p.add_argument("--force", action="store_true")
    p.add_argument("--reason", default="")

    p = add("smoke", "run the [smoke] HTTP checks against a color")
    p.add_argument("--color", required=True, choices=["blue", "green"])
    p.add_argument("--json", action="store_true")

    for name, help in (
        ("provision", "run [deploy] provision_command for a color, then check it answers"),
        ("deploy", "run [deploy] deploy_command for a color, then check it runs the release"),
    ):
        p = add(name, help)
        p.add_argument("--color", default="green", choices=["blue", "green"])
        _action_flags(p)

    p = add("journal", "the runbook of this release: each step's state, who, when, evidence")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--mark", metavar="STEP", default=None, help="set a step's state by hand (audited)"
    )
    p.add_argument("--state", default="done", choices=["done", "skipped", "failed", "pending"])
    p.add_argument("--reason", default="", help="why; required to mark a step out of order")

    p = add("resume", "show an action a dropped console left in flight, against the systems now")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--finish", action="store_true", help="run it again to its planned end")
    g.add_argument("--go-back", action="store_true", help="return to the state before it")
    g.add_argument(
        "--dismiss", action="store_true", help="leave the systems as read back (recorded)"
    )
    p.add_argument("--yes", action="store_true")
    p.add_argument(
        "--confirm", default="", metavar="ENVIRONMENT", help="for a restore: the environment name"
    )
    p.add_argument("--json", action="store_true")

    p = add(
        "monitor",
        "watch the new color through the monitoring window (rolls back on a breach "
        "when [monitor] auto_rollback)",
    )
    p.add_argument(
        "--extend",
        type=float,
        nargs="?",
        const=0.0,
        default=None,
        metavar="MINUTES",
        help="add time to the window (default [monitor] extend_minutes)",
    )

    p = add("assess", "after a rollback: do the migrations need a restore, and what would it lose")
    p.add_argument("--json", action="store_true")

    p = add("drill", "restore drill into the drill target database")
    p.add_argument("--snapshot", default=None)
    p.add_argument("--yes", action="store_true", help="accepted: a drill asks no confirmation")
    p.add_argument(
        "--history",
        action="store_true",
        help="list past drills: when, which snapshot, how long, result",
    )
    p.add_argument("--json", action="store_true")

    p = add("decommission", "decommission a color (destructive)")
    p.add_argument("--color", required=True, choices=["blue", "green"])
    p.add_argument("--confirm", default="", metavar="ENVIRONMENT")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--force", action="store_true", help="override failed guards (audited)")
    p.add_argument("--reason", default="")

    p = add("audit", "show the audit log")
    p.add_argument("--since", default=None, help="ISO time")
    p.add_argument("--json", action="store_true")
    p.add_argument("--verify", action="store_true", help="walk the shared log's hash chain")

    p = add("lock", "block every change by others until unlock")
    p.add_argument("--reason", required=True)

    p = add("unlock", "release a deliberate lock")
    p.add_argument("lock_id", nargs="?", default=None)
    p.add_argument(
        "--force",
        action="store_true",
        help="release another operator's lock (needs its id; audited)",
    )

    p = add("postmortem", "Markdown timeline of the audit log on stdout")
    p.add_argument("--since", default=None)

    p = add("jira-migrate", "migrate issues from JIRA into PM Buddy")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--discover", action="store_true")
    p.add_argument("--map", action="store_true")
    p.add_argument("--json", action="store_true")

    p = add("serve", "the console in a web browser, always read-only, for spectators")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: loopback only)"
    )
    p.add_argument(
        "--public-url", default=None, help="the URL browsers use, when behind a reverse proxy"
    )

    add("config-check", "validate the config, name every problem")
    return parser


def _action_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--reason", default="", help="why; required with --force")
    p.add_argument("--force", action="store_true", help="override failed guards (audited)")


# --- config ----------------------------------------------------------------------------


def _load(args: argparse.Namespace, *, required: bool = True) -> Config | None:
    from pmb_console.config import find_config, load_config

    path = find_config(getattr(args, "config", None))
    if path is None:
        if required:
            raise UsageError(
                "no config found",
                "pass --config PATH, set $PMB_CONSOLE_CONFIG, or create "
                "~/.config/pmb-console/config.toml (see config.example.toml); `pmb-console demo` needs none",
            )
        return None
    cfg = load_config(path)
    console_updates: dict[str, Any] = {}
    if getattr(args, "read_only", False):
        console_updates["read_only"] = True
    if getattr(args, "theme", None):
        console_updates["theme"] = args.theme
    if console_updates:
        cfg = cfg.model_copy(update={"console": cfg.console.model_copy(update=console_updates)})
    return cfg


def _services(args: argparse.Namespace) -> Services:
    from pmb_console.bootstrap import bootstrap

    cfg = _load(args)
    assert cfg is not None
    return bootstrap(cfg)


# --- commands --------------------------------------------------------------------------


def cmd_open(args: argparse.Namespace) -> int:
    cfg = _load(args, required=False)
    if cfg is None:
        return cmd_demo(args)
    from pmb_console.bootstrap import bootstrap
    from pmb_console.tui.app import run_console

    return run_console(bootstrap(cfg))


def cmd_demo(args: argparse.Namespace) -> int:
    from pmb_console.demo import run_demo

    for name, default in (
        ("scenario", None),
        ("postgres", False),
        ("read_only", False),
        ("theme", None),
    ):
        if not hasattr(args, name):
            setattr(args, name, default)
    return run_demo(args)


def cmd_config_check(args: argparse.Namespace) -> int:
    cfg = _load(args)
    assert cfg is not None
    from pmb_console.errors import ConfigError, Problem
    from pmb_console.keymap import check_keymap

    keymap = check_keymap(cfg.keymap)
    if keymap.problems:
        raise ConfigError(
            [Problem(cfg.source, f"keymap.{p.binding_id}", p.what) for p in keymap.problems]
        )
    print(
        f"{cfg.source}: ok (environment {cfg.console.environment}, traffic {cfg.traffic.provider}, "
        f"database {cfg.database.provider})"
    )
    return ExitCode.OK


def cmd_status(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console import output
    from pmb_console.actions.traffic import read_status

    doc = read_status(ctx)
    output.emit(doc, args.json, output.format_status)
    return ExitCode.FAILED if doc.get("errors") else ExitCode.OK


def cmd_check(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console import output
    from pmb_console.actions.checklist import run_checklist, sign_off
    from pmb_console.errors import ReadOnlyRefused

    if args.sign_off:
        if ctx.config.console.read_only:
            raise ReadOnlyRefused("sign-off refused: this console is read-only")
        sign_off(ctx, args.sign_off, args.reason)
    results = run_checklist(ctx)
    doc = {
        "ok": all(r.ok for r in results),
        "release": ctx.config.release.version,
        "items": [r.as_dict() for r in results],
    }
    output.emit(doc, args.json, output.format_checklist)
    return ExitCode.OK if doc["ok"] else ExitCode.FAILED


def cmd_switch(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console.actions.traffic import SwitchAction

    return _run(ctx, args, SwitchAction(args.to, args.weight))


def cmd_rollback(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console.actions.traffic import RollbackAction

    return _run(ctx, args, RollbackAction())


def cmd_snapshot(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console.actions.database import SnapshotAction

    return _run(ctx, args, SnapshotAction(args.label))


def cmd_snapshots(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console import output
    from pmb_console.actions.database import list_snapshots

    if args.prune:
        from pmb_console.actions.database import PruneSnapshotsAction

        return _run(ctx, args, PruneSnapshotsAction())
    snaps = list_snapshots(ctx)
    if args.policy:
        from pmb_console.backup_policy import backup_policy

        policy = backup_policy(
            snaps,
            max_age_hours=ctx.config.backup.max_age_hours,
            retention_days=ctx.config.backup.retention_days,
        )
        output.emit(policy.as_dict(), args.json, output.format_policy)
        return ExitCode.OK if policy.fresh else ExitCode.FAILED
    output.emit([s.as_dict() for s in snaps], args.json, output.format_snapshots)
    return ExitCode.OK


def cmd_restore(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console.actions.database import RestoreAction

    return _run(ctx, args, RestoreAction(args.snapshot_id), typed=args.confirm)


def cmd_migrate(args: argparse.Namespace) -> int:
    ctx = _services(args)
    if args.lint_only:
        from pmb_console import output
        from pmb_console.actions.migration_lint import lint_pending

        report, doc = lint_pending(ctx)
        output.emit(doc, getattr(args, "json", False), output.format_lint)
        return ExitCode.REFUSED if report.breaking else ExitCode.OK
    from pmb_console.actions.database import MigrateAction

    return _run(ctx, args, MigrateAction())


def cmd_smoke(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console.actions.deploy import SmokeAction

    args.yes = True  # reads only: nothing to confirm
    return _run(ctx, args, SmokeAction(args.color))


def cmd_provision(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console.actions.deploy import DeployAction, ProvisionAction

    action = (
        ProvisionAction(args.color) if args.command == "provision" else DeployAction(args.color)
    )
    return _run(ctx, args, action)


def cmd_decommission(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console.actions.deploy import DecommissionAction

    return _run(ctx, args, DecommissionAction(args.color), typed=args.confirm)


def cmd_journal(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console import output
    from pmb_console.errors import ReadOnlyRefused
    from pmb_console.journal import ReleaseJournal, mark_step
    from pmb_console.runbook import build_view, format_runbook

    if args.mark:
        if ctx.config.console.read_only:
            raise ReadOnlyRefused("marking a step refused: this console is read-only")
        mark_step(ctx, args.mark, args.state, args.reason)
    views = build_view(ReleaseJournal.of(ctx).read())
    output.emit([v.as_dict() for v in views], args.json, lambda _: format_runbook(views))
    return ExitCode.OK


def cmd_resume(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console import output
    from pmb_console.actions.base import Confirmation
    from pmb_console.errors import ReadOnlyRefused
    from pmb_console.recovery import acknowledge, find_interrupted, format_interrupted, settle

    found = find_interrupted(ctx)
    if found is not None and not ctx.config.console.read_only:
        acknowledge(ctx, found)
    output.emit(found.as_dict() if found else None, args.json, lambda _: format_interrupted(found))
    choice = (
        "finish"
        if args.finish
        else "go-back"
        if args.go_back
        else "dismiss"
        if args.dismiss
        else ""
    )
    if found is None or not choice:
        return ExitCode.OK if found is None else ExitCode.FAILED
    if ctx.config.console.read_only:
        raise ReadOnlyRefused("resume refused: this console is read-only")
    chosen = found.finish if choice == "finish" else found.go_back

    def confirm(preview) -> Confirmation:
        output.print_preview(chosen, preview)
        if chosen is not None and chosen.destructive:
            return Confirmation(bool(args.confirm), args.confirm)
        return Confirmation(args.yes or output.ask_yes(f"{choice}? [y/N] "))

    outcome = settle(ctx, found, choice, confirm)
    if outcome is None:
        output.out(f"dismissed: the interrupted {found.action} is recorded as read back")
        return ExitCode.OK
    _hint_confirm(ctx, outcome, chosen, args.confirm)
    output.print_outcome(outcome, args.json)
    return outcome.exit_code


def cmd_monitor(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console import output
    from pmb_console.monitor import extend_window, watch_from_cli

    if args.extend is not None:
        output.out(extend_window(ctx, args.extend or None).countdown())
        return ExitCode.OK
    return watch_from_cli(ctx, output.out)


def cmd_assess(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console import output
    from pmb_console.rollback_assessment import assess, format_assessment

    found = assess(ctx)
    output.emit(
        found.as_dict(),
        args.json,
        lambda _: format_assessment(found, ctx.config.console.environment),
    )
    return ExitCode.OK


def cmd_audit(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console import output

    if args.verify:
        verify = getattr(ctx.audit, "verify", None)
        if verify is None:
            raise UsageError(
                "--verify needs the shared audit log",
                "set [audit] dsn_env; local JSONL has no hash chain",
            )
        checked, problem = verify()
        if problem:
            print(f"audit log NOT intact after {checked} good rows: {problem}")
            return ExitCode.FAILED
        print(f"audit log intact: {checked} rows, hash chain unbroken")
        return ExitCode.OK

    records = ctx.audit.records(since=_since(args.since))
    output.emit(records, args.json, output.format_audit)
    return ExitCode.OK


def cmd_lock(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console.actions.lock import take_lock

    taken = take_lock(ctx, args.reason)
    print(f"changes locked by {taken.describe()}; release with `pmb-console unlock`")
    return ExitCode.OK


def cmd_unlock(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console.actions.lock import release_lock, was_forced

    released = release_lock(ctx, args.lock_id, args.force)
    forced = was_forced(ctx, released)
    print(
        f"lock {released.lock_id} of {released.operator} released" + (" (forced)" if forced else "")
    )
    return ExitCode.OK


def cmd_postmortem(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console.postmortem import postmortem_text

    sys.stdout.write(postmortem_text(ctx, _since(args.since)))
    return ExitCode.OK


def cmd_jira_migrate(args: argparse.Namespace) -> int:
    from pmb_console.jira import cli_entry

    return cli_entry(args, _services(args))


def cmd_drill(args: argparse.Namespace) -> int:
    ctx = _services(args)
    from pmb_console.actions.drill import DrillAction, DrillHistory

    if args.history:
        from pmb_console import output

        output.emit(
            DrillHistory(ctx.config.console.state_dir).records(), args.json, output.format_drills
        )
        return ExitCode.OK
    args.yes = True  # a drill overwrites only the scratch drill target: nothing to confirm
    return _run(ctx, args, DrillAction(args.snapshot))


def cmd_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pmb_console.config import find_config
    from pmb_console.serve import run_serve

    path = find_config(getattr(args, "config", None))
    if path is not None:
        _load(args)  # a broken config is said here, not in every browser tab
    return run_serve(
        Path(path) if path else None,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        theme=getattr(args, "theme", None),
    )


def cmd_not_built(args: argparse.Namespace) -> int:
    raise PmbError(
        f"`{args.command}` is not built yet in this version",
        "see the README's status section for what works today",
    )


def _since(value: str | None):
    if not value:
        return None
    from pmb_console.audit import parse_time

    try:
        return parse_time(value)
    except ValueError:
        raise UsageError(
            f"--since {value!r} is not an ISO time", "e.g. 2026-11-24T22:00:00Z"
        ) from None


def _run(ctx: Services, args: argparse.Namespace, action, typed: str = "") -> int:
    from pmb_console import output
    from pmb_console.actions.base import Confirmation

    def confirm(preview) -> Confirmation:
        output.print_preview(action, preview)
        if action.destructive:
            return Confirmation(bool(typed), typed)
        if getattr(args, "yes", False):
            return Confirmation.yes()
        return Confirmation(output.ask_yes(f"{action.title}? [y/N] "))

    outcome = ctx.runner.run(
        action,
        confirm,
        force=getattr(args, "force", False),
        reason=getattr(args, "reason", ""),
        dry_run=getattr(args, "dry_run", False),
        progress=output.progress_printer(),
    )
    _hint_confirm(ctx, outcome, action, typed)
    output.print_outcome(outcome, getattr(args, "json", False))
    ctx.close()
    return outcome.exit_code


def _hint_confirm(ctx: Services, outcome, action, typed: str) -> None:
    """A destructive action run without --confirm: say what to pass (the runner speaks for
    both faces and cannot know it was a missing flag)."""
    if outcome.status == "not-confirmed" and not typed and getattr(action, "destructive", False):
        outcome.hint = f"pass --confirm {ctx.config.console.environment} to confirm"


COMMANDS: dict[str | None, Callable[[argparse.Namespace], int]] = {
    None: cmd_open,
    "demo": cmd_demo,
    "config-check": cmd_config_check,
    "status": cmd_status,
    "switch": cmd_switch,
    "rollback": cmd_rollback,
    "snapshot": cmd_snapshot,
    "snapshots": cmd_snapshots,
    "restore": cmd_restore,
    "migrate": cmd_migrate,
    "smoke": cmd_smoke,
    "audit": cmd_audit,
    "jira-migrate": cmd_jira_migrate,
    "lock": cmd_lock,
    "unlock": cmd_unlock,
    "check": cmd_check,
    "drill": cmd_drill,
    "decommission": cmd_decommission,
    "provision": cmd_provision,
    "deploy": cmd_provision,
    "journal": cmd_journal,
    "resume": cmd_resume,
    "monitor": cmd_monitor,
    "assess": cmd_assess,
    "postmortem": cmd_postmortem,
    "serve": cmd_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except PmbError as exc:
        print(f"pmb-console: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pmb-console: interrupted", file=sys.stderr)
        return ExitCode.FAILED
    except BrokenPipeError:
        return ExitCode.OK


if __name__ == "__main__":
    raise SystemExit(main())
