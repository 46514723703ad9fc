"""`pmb-console jira-migrate [--dry-run] [--resume] [--discover] [--map]`: the headless face.

No logic of its own: it runs `JiraMigrateAction` through the ActionRunner, or asks the
client and the mapping module for discovery and mapping, and prints. The report and
results go to stdout (one JSON document with --json); progress and errors to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from pmb_console.errors import ExitCode, PmbError, ReadOnlyRefused, UsageError

if TYPE_CHECKING:
    from argparse import Namespace

    from pmb_console.bootstrap import Services
    from pmb_console.jira.mapping import Inventory


def cli_entry(args: Namespace, services: Services) -> int:
    """Run one jira-migrate command; returns the exit code (DESIGN.md)."""
    as_json = bool(getattr(args, "json", False))
    try:
        check_config(services, needs_target=not (args.dry_run or args.discover or args.map))
        if args.discover:
            return discover(services, as_json)
        if args.map:
            return map_interactively(services, as_json)
        return migrate(services, args, as_json)
    except PmbError as exc:
        _fail(exc.message, exc.hint, exc.exit_code, as_json)
        return exc.exit_code
    except KeyboardInterrupt:
        _fail(
            "interrupted (Ctrl+C)",
            "run jira-migrate --resume to continue",
            ExitCode.FAILED,
            as_json,
        )
        return ExitCode.FAILED


def check_config(services: Services, needs_target: bool) -> None:
    """Name what the [jira] section lacks before anything is contacted (exit 2)."""
    import os

    cfg = services.config.jira
    missing = []
    if not cfg.url:
        missing.append("[jira] url (the JIRA site)")
    if not cfg.jql.strip():
        missing.append("[jira] jql (a bounded JQL, e.g. project = PMB ORDER BY key)")
    if not os.environ.get(cfg.token_env or ""):
        missing.append(f"${cfg.token_env or '[jira] token_env'} (the JIRA token)")
    if cfg.flavor == "cloud" and not os.environ.get(cfg.email_env or ""):
        missing.append(f"${cfg.email_env or '[jira] email_env'} (the JIRA account email)")
    if needs_target and not os.environ.get(cfg.target_dsn_env or ""):
        missing.append(
            f"${cfg.target_dsn_env or '[jira] target_dsn_env'} (PM Buddy's database DSN)"
        )
    if missing:
        raise UsageError(
            "jira-migrate needs: " + "; ".join(missing),
            "set them in the config and the environment; config.example.toml documents [jira]",
        )


# --- the migration ---------------------------------------------------------------------


def migrate(services: Services, args: Namespace, as_json: bool) -> int:
    from pmb_console.actions.base import Confirmation
    from pmb_console.actions.jira import JiraMigrateAction
    from pmb_console.actions.runner import Preview

    printer = _ProgressPrinter(sys.stderr)
    action = JiraMigrateAction(dry_run=args.dry_run, resume=args.resume, reading=printer)
    interactive = sys.stdin.isatty() and not getattr(args, "yes", False)

    def confirm(preview: Preview) -> Confirmation:
        if not interactive:
            return Confirmation.yes()  # the command line itself is the operator's instruction
        print(
            preview.plan.summary, *[f"  {s}" for s in preview.plan.steps], sep="\n", file=sys.stderr
        )
        answer = input("go ahead? [y/N] ").strip().lower()
        return Confirmation(answer in ("y", "yes"))

    outcome = services.runner.run(action, confirm, dry_run=args.dry_run, progress=printer)
    printer.end()
    code = outcome.exit_code
    report = action.report
    if outcome.status == "dry-run" and report is not None and report.has_unmapped:
        code = ExitCode.REFUSED  # the real run would refuse: say so in the exit code too
    if as_json:
        document = outcome.as_dict()
        document["report"] = report.as_dict() if report else None
        print(json.dumps(document, default=str))
        return code
    if report is not None:
        print(report.text())
    if outcome.status == "refused" and outcome.guards:
        failed = {g.name for g in outcome.guards if not g.ok}
        print(outcome.message, file=sys.stderr)
        if failed & {"issue types mapped", "statuses mapped", "assignees known"}:
            print(
                "  hint: map what is listed with: pmb-console jira-migrate --map", file=sys.stderr
            )
        if "target table ready" in failed:
            print(
                "  hint: create the table (the default schema is in the README) or set "
                "[jira] target_table and target_columns",
                file=sys.stderr,
            )
    elif not outcome.ok or outcome.status != "dry-run":
        print(outcome.message, file=sys.stderr)
        if outcome.hint:
            print(f"  hint: {outcome.hint}", file=sys.stderr)
    return code


class _ProgressPrinter:
    """Progress on stderr: rewritten in place on a terminal, at most a line a second
    otherwise, so a log file stays readable."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0

    def end(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()

    def __call__(self, message: str, fraction: float | None = None) -> None:
        now = time.monotonic()
        waiting = "waiting" in message
        if not self.tty and now - self.last < 1.0 and not waiting:
            return
        self.last = now
        done = f" ({fraction:.0%})" if fraction is not None else ""
        if self.tty:
            self.stream.write(f"\r\x1b[K{message}{done}")
        else:
            self.stream.write(f"{message}{done}\n")
        self.stream.flush()


# --- discovery and mapping -------------------------------------------------------------


def discover(services: Services, as_json: bool) -> int:
    """Candidate story-points fields, and the types, statuses and assignees in use."""
    from pmb_console.jira.client import JiraClient

    cfg = services.config.jira
    with JiraClient(cfg) as client:
        fields = client.custom_fields()
        inventory = _survey(services, client)
    candidates = [f for f in fields if f.looks_like_story_points]
    if as_json:
        print(
            json.dumps(
                {
                    "story_points_candidates": [vars(f) for f in candidates],
                    "story_points_field": cfg.story_points_field,
                    "custom_fields": len(fields),
                    **inventory.as_dict(),
                }
            )
        )
        return ExitCode.OK
    print(f"story points field now: {cfg.story_points_field}")
    print("candidates ([jira] story_points_field):")
    for f in candidates:
        print(f"  {f.id:<22} {f.name} ({f.type or 'any'})")
    if not candidates:
        print(f"  none among {len(fields)} custom fields; look for the field in JIRA's admin pages")
    _print_inventory(inventory, services)
    return ExitCode.OK


def map_interactively(services: Services, as_json: bool) -> int:
    """List every type, status and assignee found with counts and their targets; on a
    terminal, ask for each unmapped one and save the answers into the config."""
    from pmb_console.jira.client import JiraClient
    from pmb_console.jira.mapping import Mapping, save_choices

    asks = not as_json and sys.stdin.isatty()
    if asks and services.config.console.read_only:
        # Refused before a question is asked: the answers could not be saved.
        raise ReadOnlyRefused(
            "jira-migrate --map refused: this console is read-only, so no mapping is saved "
            "into the config",
            "run it without --read-only (and without [console] read_only); "
            "--map --json lists what is unmapped without saving",
        )
    if asks and sys.stdout.isatty():
        return _map_on_screen(services)
    cfg = services.config.jira
    with JiraClient(cfg) as client:
        inventory = _survey(services, client)
    mapping = Mapping.from_config(cfg, services.config.source)
    gaps = mapping.gaps(inventory)
    if as_json or not sys.stdin.isatty():
        if as_json:
            print(json.dumps({**inventory.as_dict(), "unmapped": gaps.as_dict()}))
        else:
            _print_inventory(inventory, services)
            for line in gaps.describe():
                print(line)
        return ExitCode.REFUSED if gaps.blocking else ExitCode.OK
    _print_inventory(inventory, services)
    choices = {
        "issue_types": _ask("issue type", inventory.types, cfg.issue_types),
        "statuses": _ask("status", inventory.statuses, cfg.statuses),
        "assignees": _ask_emails(inventory, mapping),
    }
    changed = {table: {**getattr(cfg, table), **new} for table, new in choices.items() if new}
    if not changed:
        print("nothing changed")
        return ExitCode.REFUSED if gaps.blocking else ExitCode.OK
    if not services.config.source or services.config.source.startswith("<"):
        raise UsageError(
            "there is no config file to save the mapping into", "run with --config PATH"
        )
    save_choices(services.config.source, changed)
    print(f"saved into {services.config.source}: " + ", ".join(f"[jira.{t}]" for t in changed))
    return ExitCode.OK


def _map_on_screen(services: Services) -> int:
    """A full terminal: the console's mapping screen (the palette opens the same one)."""
    source = services.config.source
    if not source or source.startswith("<"):
        raise UsageError(
            "there is no config file to save the mapping into", "run with --config PATH"
        )
    from pmb_console.tui.screens.jira_mapping import run_mapping_screen

    if run_mapping_screen(services.config):
        print(f"saved into {source}")
        return ExitCode.OK
    print("mapping closed without saving; nothing changed")
    return ExitCode.REFUSED


def _ask(kind: str, found: dict[str, int], current: dict[str, str]) -> dict[str, str]:
    targets = sorted(set(current.values()))
    chosen: dict[str, str] = {}
    for name, count in sorted(found.items(), key=lambda item: -item[1]):
        if name in current:
            continue
        menu = "  ".join(f"{i}) {t}" for i, t in enumerate(targets, start=1))
        prompt = f"{kind} {name!r} ({count} issues) → PM Buddy [{menu}; type a name; Enter skips]: "
        answer = input(prompt).strip()
        if answer.isdigit() and 1 <= int(answer) <= len(targets):
            answer = targets[int(answer) - 1]
        if answer:
            chosen[name] = answer
            if answer not in targets:
                targets.append(answer)
    return chosen


def _ask_emails(inventory: Inventory, mapping: Any) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for account, count in inventory.assignees.most_common():
        user = inventory.users[account]
        if mapping.email_of(user):
            continue
        answer = input(
            f"email of {user.display_name or account} ({account}, {count} issues; Enter skips): "
        )
        if "@" in answer:
            chosen[account] = answer.strip()
    return chosen


def _survey(services: Services, client: Any) -> Inventory:
    from pmb_console.jira.mapping import Mapping
    from pmb_console.jira.migrate import Migration, Position

    cfg = services.config.jira
    printer = _ProgressPrinter(sys.stderr)
    migration = Migration(
        cfg,
        client,
        Mapping(cfg, {}),
        Position(services.config.console.state_dir, cfg),
        lambda p: printer(p.describe()),
    )
    inventory = migration.survey()
    printer.end()
    return inventory


def _print_inventory(inventory: Inventory, services: Services) -> None:
    from pmb_console.jira.mapping import Mapping

    cfg = services.config.jira
    mapping = Mapping.from_config(cfg, services.config.source)
    print(f"{inventory.issues} issues found by: {cfg.jql}")
    for title, counts, target in (
        ("issue types", inventory.types, mapping.type_of),
        ("statuses", inventory.statuses, mapping.status_of),
    ):
        print(f"{title}:")
        for name, n in counts.most_common():
            print(f"  {n:>6}  {name!r} → {target(name) or 'UNMAPPED'}")
    print("assignees:")
    for account, n in inventory.assignees.most_common():
        user = inventory.users[account]
        print(
            f"  {n:>6}  {user.display_name or account} ({account}) → {mapping.email_of(user) or 'NO EMAIL'}"
        )
    if inventory.unassigned:
        print(f"  {inventory.unassigned:>6}  (unassigned)")


def _fail(message: str, hint: str, code: int, as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "ok": False,
                    "status": "failed",
                    "message": message,
                    "hint": hint,
                    "exit_code": code,
                }
            )
        )
    print(message, file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
