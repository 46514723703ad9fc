"""The path every key takes: choose → preview (guards + plan) → confirm → run → outcome.

All deciding and doing happens in `services.runner`; this only sequences screens and
moves blocking calls onto threads. Action classes are imported when a key is pressed,
so opening the console never pays for the database or AWS modules.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.worker import WorkerFailed

from pmb_console.actions.base import Action, Confirmation
from pmb_console.errors import PmbError
from pmb_console.providers.base import ProgressFn, no_progress
from pmb_console.redact import redact
from pmb_console.tui.screens.choosers import PickerScreen, snapshot_choices, switch_choices
from pmb_console.tui.screens.confirm import ConfirmScreen
from pmb_console.tui.screens.run_progress import RunProgressScreen

if TYPE_CHECKING:
    from pmb_console.actions.runner import Outcome
    from pmb_console.recovery import Interrupted
    from pmb_console.tui.app import PmbConsoleApp

RunFn = Callable[[Confirmation, ProgressFn], "Outcome | None"]
"""How a confirmed action is carried out: the runner by default, or the resume choice."""

COLOR_CHOICES = [("green", "green"), ("blue", "blue")]


class FlowStopped(Exception):
    """The flow ended early and has already told the operator why."""


class ActionFlows:
    def __init__(self, app: PmbConsoleApp) -> None:
        self.app = app
        self.services = app.services
        self.outcome_screen: RunProgressScreen | None = None
        """The last action's outcome, which the operator reads before anything follows it."""

    # --- plumbing ---------------------------------------------------------------------

    async def in_thread(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking call on a thread worker and return its result (or raise its error)."""
        worker = self.app.run_worker(
            functools.partial(fn, *args, **kwargs),
            thread=True,
            group="io",
            exit_on_error=False,
            description=getattr(fn, "__name__", "blocking call"),
        )
        try:
            await worker.wait()
        except WorkerFailed as failed:
            raise failed.error from None
        return worker.result

    def say_error(self, what: str, exc: BaseException) -> None:
        if isinstance(exc, PmbError):
            hint = f"\nhint: {exc.hint}" if exc.hint else ""
            self.app.notify(
                redact(f"{exc.message}{hint}"), title=what, severity="error", timeout=10
            )
        else:
            self.app.notify(
                redact(f"{type(exc).__name__}: {exc}"),
                title=f"{what} (a bug)",
                severity="error",
                timeout=10,
            )

    # --- the flows --------------------------------------------------------------------

    async def run(self, kind: str) -> None:
        try:
            action = await self.choose(kind)
        except FlowStopped:
            return
        except Exception as exc:  # a provider fault while choosing: words, not a traceback
            self.say_error(kind, exc)
            return
        if action is not None:
            await self.after(await self.guarded(action))

    async def after(self, outcome: Outcome | None) -> None:
        """What follows an outcome: a traffic rollback is followed by the database assessment."""
        if outcome is not None and outcome.action == "rollback" and outcome.status == "succeeded":
            await self.show_assessment(after=self.outcome_screen)

    async def show_assessment(self, after: RunProgressScreen | None = None) -> None:
        """RUNBOOK §3 step 2: does the database need restoring, and what would that lose.

        Read while the operator reads the rollback's outcome (`after`); shown once it is closed.
        """
        from pmb_console.rollback_assessment import assess
        from pmb_console.tui.screens.assessment import AssessmentScreen

        try:
            assessment = await self.in_thread(assess, self.services)
        except Exception as exc:
            self.say_error("database assessment", exc)
            return
        # The outcome screen signals nothing when it closes; a tenth of a second is soon enough.
        while after is not None and after in self.app.screen_stack:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        environment = self.services.config.console.environment
        restore = await self.app.push_screen_wait(
            AssessmentScreen(
                assessment, environment, read_only=self.services.config.console.read_only
            )
        )
        action = assessment.restore_action()
        if restore and action is not None:
            await self.guarded(action)

    async def settle_interrupted(self, found: Interrupted, choice: str) -> None:
        """Finish, go back or dismiss an action a dead console left in flight."""
        from pmb_console.recovery import settle

        if choice == "dismiss":
            try:
                await self.in_thread(settle, self.services, found, choice, Confirmation(False))
            except Exception as exc:
                self.say_error("dismiss", exc)
                return
            self.app.notify(f"interrupted {found.action} left as read back", timeout=6)
            self.app.wake_poll()
            return
        action = found.finish if choice == "finish" else found.go_back
        if action is None:
            words = found.finish_words if choice == "finish" else found.go_back_words
            self.app.notify(f"nothing to run: {words}", title=choice, severity="warning", timeout=8)
            return

        def run(confirmation: Confirmation, progress: ProgressFn = no_progress) -> Outcome | None:
            return settle(self.services, found, choice, confirmation, progress=progress)

        await self.after(await self.guarded(action, run))

    async def backups(self) -> Action | None:
        """RUNBOOK §4 on screen: the policy and the drills; pruning goes through the guards."""
        from pmb_console.actions.database import PruneSnapshotsAction, list_snapshots
        from pmb_console.actions.drill import DrillAction, DrillHistory
        from pmb_console.backup_policy import backup_policy
        from pmb_console.tui.screens.backups import BackupsScreen

        backup = self.services.config.backup
        snapshots = await self.in_thread(list_snapshots, self.services)
        policy = backup_policy(
            snapshots, max_age_hours=backup.max_age_hours, retention_days=backup.retention_days
        )
        drills = await self.in_thread(DrillHistory(self.services.config.console.state_dir).records)
        chosen = await self.app.push_screen_wait(
            BackupsScreen(policy, drills, read_only=self.services.config.console.read_only)
        )
        if chosen == "prune":
            return PruneSnapshotsAction()
        if chosen == "drill":
            return DrillAction()  # the newest snapshot, into the configured scratch target
        return None

    async def choose(self, kind: str) -> Action | None:
        """The action a key means, after any choice the operator has to make."""
        if kind == "switch":
            from pmb_console.actions.traffic import SwitchAction

            weights = self.app.last_weights()
            choices = switch_choices(weights, list(self.services.config.traffic.weight_steps))
            choice = await self.app.push_screen_wait(PickerScreen("Switch traffic to…", choices))
            return None if choice is None else SwitchAction(choice[0], choice[1])
        if kind == "rollback":
            from pmb_console.actions.traffic import RollbackAction

            return RollbackAction()
        if kind == "snapshot":
            from pmb_console.actions.database import SnapshotAction

            return SnapshotAction(f"console-{self.services.config.console.operator}")
        if kind == "migrate":
            from pmb_console.actions.database import MigrateAction

            return MigrateAction()
        if kind == "restore":
            from pmb_console.actions.database import RestoreAction, list_snapshots

            self.app.notify("reading the snapshots…", timeout=2)
            snapshots = await self.in_thread(list_snapshots, self.services)
            snapshot_picks = snapshot_choices(snapshots)
            picked = await self.app.push_screen_wait(
                PickerScreen(
                    "Restore the database from…", snapshot_picks, empty="no snapshots found"
                )
            )
            return None if picked is None else RestoreAction(picked)
        if kind == "backups":
            return await self.backups()
        if kind == "smoke":
            color = await self.app.push_screen_wait(
                PickerScreen("Smoke test which color?", COLOR_CHOICES)
            )
            if color is None:
                return None
            from pmb_console.actions.deploy import SmokeAction

            return SmokeAction(color)
        if kind in ("provision", "deploy", "decommission"):
            from pmb_console.actions import deploy
            from pmb_console.journal import new_color, old_color

            # The color the runbook step means comes first: the new one, or the old one to retire.
            first = (old_color if kind == "decommission" else new_color)(self.services.config)
            colors = sorted(COLOR_CHOICES, key=lambda choice: choice[1] != first)
            verb = {
                "provision": "Provision",
                "deploy": "Deploy the release to",
                "decommission": "Decommission",
            }
            color = await self.app.push_screen_wait(
                PickerScreen(f"{verb[kind]} which color?", colors)
            )
            if color is None:
                return None
            step = {
                "provision": deploy.ProvisionAction,
                "deploy": deploy.DeployAction,
                "decommission": deploy.DecommissionAction,
            }[kind]
            return step(color)
        raise ValueError(f"unknown flow {kind!r}")

    async def guarded(self, action: Action, run: RunFn | None = None) -> Outcome | None:
        """Preview, confirm, run and show the outcome; the outcome, or None if none was reached."""
        app = self.app
        runner = self.services.runner

        def run_action(confirmation: Confirmation, progress: ProgressFn = no_progress) -> Outcome:
            return runner.run(action, confirmation, progress=progress)

        carry_out: RunFn = run or run_action
        if action.mutating and self.services.config.console.read_only:
            # The key is greyed; the palette can still ask. The runner refuses and records it.
            outcome = await self.in_thread(carry_out, Confirmation(False))
            if outcome is not None:
                app.notify(outcome.message, title="read-only", severity="warning", timeout=8)
            return outcome
        app.busy = True
        try:
            app.notify(f"{action.title}: reading the guards and the plan…", timeout=2)
            try:
                preview = await self.in_thread(self.services.runner.preview, action)
            except Exception as exc:
                self.say_error(action.title, exc)
                return None
            if preview.plan.nothing_to_do and not preview.failed:
                # Through the runner all the same: "nothing to do" is audited and marks the
                # runbook step (resume has its own bookkeeping for it).
                await self.in_thread(carry_out, Confirmation(False))
                app.notify(preview.plan.summary, title=action.title, timeout=6)
                return None
            confirmation = await app.push_screen_wait(
                ConfirmScreen(
                    title=action.title,
                    environment=self.services.config.console.environment,
                    production=self.services.config.console.is_production,
                    preview=preview,
                    destructive=action.destructive,
                    monotonic=app.monotonic,
                )
            )
            if confirmation is None:
                # Recorded as not confirmed, like `--yes` missing on the command line.
                outcome = await self.in_thread(carry_out, Confirmation(False))
                if outcome is not None:
                    app.notify(outcome.message, title=action.title, timeout=5)
                return outcome
            screen = RunProgressScreen(action.title)
            await app.push_screen(screen)
            app.running_action = action.name

            def progress(text: str, fraction: float | None = None) -> None:
                app.call_from_thread(screen.report, redact(text), fraction)

            try:
                outcome = await self.in_thread(carry_out, confirmation, progress)
            except Exception as exc:  # the runner records its own faults; this is a bug
                self.say_error(action.title, exc)
                screen.dismiss(None)
                return None
            if outcome is None:
                screen.dismiss(None)
                return None
            screen.finish(outcome)
            self.outcome_screen = screen
            return outcome
        finally:
            app.busy = False
            app.running_action = ""
            app.wake_poll()
