"""The typed config: TOML validated by pydantic, every problem reported in one pass.

The field docstrings are the documentation; `config.example.toml` mirrors them. Unknown
keys are errors, so a typo cannot silently switch a guard off. Secrets never live here:
`*_env` keys name environment variables.
"""

from __future__ import annotations

import getpass
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pmb_console.config_checks import (
    Gaps,
    check_duration,
    name_gaps,
    parse_runtime_api,
    problems_of,
)
from pmb_console.errors import ConfigError, Problem

Color = Literal["blue", "green"]
COLORS: tuple[Color, Color] = ("blue", "green")


class Model(BaseModel):
    # The field docstrings document the keys for a reader of this file and of
    # config.example.toml; they are not copied into the models at run time
    # (use_attribute_docstrings parses each class's source: ~17 ms of every start).
    model_config = ConfigDict(extra="forbid", frozen=True)


def _default_operator() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except Exception:  # getuser raises when no name can be found
        return "unknown"


def is_production(environment: str, production: bool | None = None) -> bool:
    """Whether the console is pointed at production, which every screen marks in red.

    `production` ([console] production) decides when set; otherwise the environment's name
    does: it starts with "prod" or "prd" (production-eu, prod-us, prd), or is "live".
    """
    if production is not None:
        return production
    name = environment.strip().lower()
    return name.startswith(("prod", "prd")) or name == "live"


class ConsoleConfig(Model):
    environment: str = "production"
    """Name of the environment; typed to confirm destructive actions."""
    production: bool | None = None
    """Whether this is production (the red banner on the header and the confirmation).
    Unset: derived from the environment name (starts with "prod" or "prd", or is "live")."""
    operator: str = Field(default_factory=_default_operator)
    """Who is at the keyboard; recorded with every action. Default: $USER."""
    read_only: bool = False
    """Refuse every mutating action (spectator mode)."""
    theme: str = "pmb-dark"
    """Theme name: pmb-dark, pmb-light, war-room, colour-blind, or a file in themes/."""
    state_dir: Path = Path("~/.local/state/pmb-console")
    """Where the journal, the local audit log and the local lock live."""
    demo: bool = False
    """Set by `pmb-console demo`: the header says DEMO."""

    @field_validator("state_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return Path(os.path.expanduser(str(v)))

    @property
    def is_production(self) -> bool:
        """[console] production when set, else what the environment's name says."""
        return is_production(self.environment, self.production)


class GithubConfig(Model):
    repo: str = ""
    """owner/name of the repository whose CI and reviews the checklist reads."""
    token_env: str = "GITHUB_TOKEN"
    """Environment variable holding a GitHub token."""
    api_url: str = "https://api.github.com"
    """GitHub API base URL (GitHub Enterprise: https://HOST/api/v3)."""


class ReleaseConfig(Model):
    version: str = ""
    """The release being deployed, as tagged in git (e.g. v1.1.0)."""
    git_dir: str = "."
    """The git checkout holding the release tag."""
    github: GithubConfig = GithubConfig()


class Instance(Model):
    name: str
    """Instance name, shown in the panes; for HAProxy usually the server name."""
    health_url: str = ""
    """Answers 2xx when the instance is healthy."""
    metrics_url: str = ""
    """Prometheus text exposition of the instance."""


class ColorConfig(Model):
    version: str = ""
    """The application version this color runs."""
    instances: list[Instance] = []
    """The instances of this color."""
    base_url: str = ""
    """Base URL smoke tests are run against."""


class ColorsConfig(Model):
    blue: ColorConfig = ColorConfig()
    green: ColorConfig = ColorConfig()

    def of(self, color: str) -> ColorConfig:
        return self.blue if color == "blue" else self.green


class HealthConfig(Model):
    timeout: float = Field(default=2.0, gt=0)
    """Seconds an instance has to answer its health_url before the guard fails."""


class PrometheusSourceConfig(Model):
    url: str = ""
    """Prometheus server base URL, for source = "prometheus"."""
    queries: dict[str, dict[str, str]] = {}
    """PromQL per color: {blue = {requests_per_second = "...", error_rate = "...", p95_seconds = "...", up = "..."}};
    a query not given is built from the metric names with a color label."""

    @field_validator("queries")
    @classmethod
    def _known_queries(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        # A misspelt name would silently fall back to the default query.
        known = ("requests_per_second", "error_rate", "p95_seconds", "up")
        for color, queries in v.items():
            if color not in COLORS:
                raise ValueError(f"unknown color {color!r} (blue or green)")
            unknown = sorted(set(queries) - set(known))
            if unknown:
                raise ValueError(
                    f"unknown query {', '.join(unknown)} for {color} (known: {', '.join(known)})"
                )
        return v


class MetricsConfig(Model):
    source: Literal["scrape", "prometheus"] = "scrape"
    """scrape: fetch each instance's metrics_url; prometheus: ask a Prometheus server."""
    interval: float = Field(default=1.0, gt=0)
    """Seconds between polls."""
    timeout: float = Field(default=2.0, gt=0)
    """Seconds one scrape may take before it counts as an error."""
    max_bytes: int = Field(default=4_000_000, gt=0)
    """A metrics body larger than this counts as an error."""
    concurrency: int = Field(default=100, gt=0)
    """Scrapes in flight at once."""
    requests_metric: str = "http_requests_total"
    """Counter of requests, labelled by status."""
    status_label: str = "status"
    """Label holding the HTTP status on the requests counter."""
    duration_metric: str = "http_request_duration_seconds"
    """Histogram of request durations in seconds."""
    error_rate_threshold: float = Field(default=0.02, ge=0, le=1)
    """Share of 5xx above which a color is in breach (0.02 = 2%)."""
    p95_threshold_ms: float = Field(default=500.0, gt=0)
    """p95 latency in milliseconds above which a color is in breach."""
    slow_ms: float = Field(default=1000.0, gt=0)
    """A scrape slower than this marks the instance slow."""
    prometheus: PrometheusSourceConfig = PrometheusSourceConfig()


class HaproxyConfig(Model):
    runtime_api: str = "unix:///run/haproxy/admin.sock"
    """HAProxy runtime API address: unix:///path or tcp://host:port."""
    backend: str = "pmbuddy"
    """The backend whose servers carry PM Buddy's traffic."""
    servers: dict[Color, list[str]] = {"blue": ["blue-1"], "green": ["green-1"]}
    """Server names of each color inside the backend."""
    timeout: float = Field(default=2.0, gt=0)
    """Seconds the runtime API has to answer."""

    @field_validator("runtime_api")
    @classmethod
    def _address(cls, v: str) -> str:
        parse_runtime_api(v)
        return v

    @field_validator("servers")
    @classmethod
    def _one_color_each(cls, v: dict[Color, list[str]]) -> dict[Color, list[str]]:
        # A server under both colors would take whichever weight was set last.
        both = sorted(set(v.get("blue", [])) & set(v.get("green", [])))
        if both:
            raise ValueError(
                f"each server under one color only; {', '.join(both)} is under both blue and green"
            )
        return v


class AlbConfig(Model):
    listener_arn: str = ""
    """The listener whose default action forwards to the two target groups."""
    target_groups: dict[Color, str] = {}
    """Target group ARN of each color."""

    def gaps(self) -> Gaps:
        """The keys provider = "alb" needs that are empty: (key, what it should hold)."""
        gaps = [] if self.listener_arn else [("listener_arn", "the ARN of the ALB listener")]
        return gaps + [
            (f"target_groups.{c}", f"the ARN of the {c} target group")
            for c in COLORS
            if not self.target_groups.get(c)
        ]


class Route53Config(Model):
    hosted_zone_id: str = ""
    """Hosted zone holding the weighted records."""
    record_name: str = ""
    """The record clients resolve (with the trailing dot)."""
    record_type: str = "CNAME"
    """CNAME, A or AAAA."""
    set_identifiers: dict[Color, str] = {"blue": "blue", "green": "green"}
    """SetIdentifier of each color's weighted record."""

    def gaps(self) -> Gaps:
        """The keys provider = "route53" needs that are empty: (key, what it should hold)."""
        gaps = [] if self.hosted_zone_id else [("hosted_zone_id", "the hosted zone id")]
        gaps += [] if self.record_name else [("record_name", "the record clients resolve")]
        return gaps + [
            (f"set_identifiers.{c}", f"the SetIdentifier of the {c} record")
            for c in COLORS
            if not self.set_identifiers.get(c)
        ]


class DemoTrafficConfig(Model):
    state_file: str = ""
    """Where the demo router keeps its weights (set by the demo itself)."""


class TrafficConfig(Model):
    provider: Literal["haproxy", "alb", "route53", "demo"] = "demo"
    """Which load balancer or DNS moves the traffic."""
    haproxy: HaproxyConfig = HaproxyConfig()
    alb: AlbConfig = AlbConfig()
    route53: Route53Config = Route53Config()
    demo: DemoTrafficConfig = DemoTrafficConfig()
    weight_steps: list[int] = [10, 25, 50, 100]
    """Gradual weights offered by the switch screen."""

    @model_validator(mode="wrap")
    @classmethod
    def _provider_keys(cls, data: Any, handler: Any) -> Any:
        return name_gaps(data, handler, TrafficConfig.gaps, "provider")

    def gaps(self) -> Gaps:
        """The keys the chosen provider needs that are empty."""
        if self.provider not in ("alb", "route53"):
            return []
        section = self.alb if self.provider == "alb" else self.route53
        needed = f'(provider = "{self.provider}" needs it)'
        return [(f"{self.provider}.{key}", f"{what} {needed}") for key, what in section.gaps()]


class AwsConfig(Model):
    region: str = ""
    """AWS region; empty: the default chain's."""
    profile: str = ""
    """AWS profile; empty: the default credential chain."""
    endpoint_url: str = ""
    """Set only to talk to a local AWS emulator."""


class PgDumpConfig(Model):
    backup_dir: str = "~/.local/state/pmb-console/backups"
    """Where dumps and their manifests are written."""
    jobs: int = Field(default=2, ge=1)
    """Parallel jobs for pg_restore."""
    pg_dump: str = "pg_dump"
    """The pg_dump program."""
    pg_restore: str = "pg_restore"
    """The pg_restore program."""


class RdsConfig(Model):
    instance_id: str = ""
    """The RDS instance of the production database."""
    snapshot_prefix: str = "pmb-console"
    """Prefix of manual snapshot ids."""


class DrillConfig(Model):
    target_dsn_env: str = ""
    """Variable holding the DSN of the scratch database drills restore into."""
    smoke_query: str = "SELECT 1"
    """SQL run against the restored database to call the drill good."""
    rds_dsn_env: str = ""
    """With [database] provider = "rds": variable holding a DSN template for the drill's
    scratch instance; its host and port are replaced by the scratch instance's endpoint.
    Empty: the smoke phase of an RDS drill is skipped (and recorded as skipped)."""


class DatabaseConfig(Model):
    provider: Literal["pg_dump", "rds", "demo"] = "pg_dump"
    """How snapshots are taken and restored."""
    dsn_env: str = "PMB_DATABASE_URL"
    """The name of the variable holding the DSN (libpq PG* variables work when it is unset)."""
    migrations_dir: str = "migrations"
    """Directory of *.sql migration files, applied in name order."""
    lock_timeout: str = "5s"
    """PostgreSQL lock_timeout for each migration: "5s", "500ms", "2min", or milliseconds."""
    statement_timeout: str = "5min"
    """PostgreSQL statement_timeout for each migration, written like lock_timeout."""
    connect_timeout: int = Field(default=5, gt=0)
    """Seconds to wait for the database to answer."""
    pg_dump: PgDumpConfig = PgDumpConfig()
    rds: RdsConfig = RdsConfig()
    drill: DrillConfig = DrillConfig()

    @field_validator("lock_timeout", "statement_timeout")
    @classmethod
    def _timeout(cls, v: str) -> str:
        return check_duration(v)

    @model_validator(mode="wrap")
    @classmethod
    def _provider_keys(cls, data: Any, handler: Any) -> Any:
        return name_gaps(data, handler, DatabaseConfig.gaps, "provider")

    def gaps(self) -> Gaps:
        """The keys the chosen provider needs that are empty. dsn_env may be empty for
        pg_dump: libpq's PG* variables and defaults apply."""
        if self.provider == "rds" and not self.rds.instance_id:
            return [("rds.instance_id", 'the RDS instance identifier (provider = "rds" needs it)')]
        return []


class BackupConfig(Model):
    retention_days: int = Field(default=30, gt=0)
    """Keep snapshots at least this long."""
    max_age_hours: float = Field(default=24, gt=0)
    """The newest snapshot must be younger than this before a deployment."""


class LogSourceConfig(Model):
    kind: Literal["file", "cloudwatch", "command"]
    """file: follow a file like tail -F; command: stream a program's stdout; cloudwatch: a log group."""
    color: Literal["blue", "green", "lb", "db", "other"] = "other"
    """Which color the lines belong to."""
    path: str = ""
    """For kind = "file"."""
    command: list[str] = []
    """For kind = "command": argv of the program."""
    group: str = ""
    """For kind = "cloudwatch": the log group."""
    stream_prefix: str = ""
    """For kind = "cloudwatch": only streams with this prefix."""
    filter_pattern: str = ""
    """For kind = "cloudwatch": a CloudWatch filter pattern."""

    def gaps(self) -> Gaps:
        """The keys this kind of source needs that are empty: (key, what it should hold)."""
        if self.kind == "file" and not self.path.strip():
            return [("path", 'a file path for kind = "file"')]
        if self.kind == "command" and not self.command:
            what = 'the program to run for kind = "command", e.g. ["kubectl", "logs", "-f", "..."]'
            return [("command", what)]
        if self.kind == "cloudwatch" and not self.group.strip():
            return [("group", 'a log group for kind = "cloudwatch"')]
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _kind_keys(cls, data: Any, handler: Any) -> Any:
        return name_gaps(data, handler, LogSourceConfig.gaps, "kind")


class LogsConfig(Model):
    lines: int = Field(default=10_000, gt=0)
    """Lines kept in the log tail buffer."""
    sources: list[LogSourceConfig] = []


class AuditConfig(Model):
    dsn_env: str = ""
    """Set: shared audit log, lock and live feed in PostgreSQL; empty: local files."""


class NotifyConfig(Model):
    webhook_env: str = ""
    """The variable holding a Slack-compatible incoming webhook URL; empty: no notifications."""
    timeout: float = Field(default=3.0, gt=0)
    """Seconds a post may take; a slow or failing webhook never holds up an action."""


class JiraColumnsConfig(Model):
    key: str = "key"
    """Column holding the JIRA key (e.g. PMB-12); must be unique, upserts are keyed on it."""
    summary: str = "summary"
    """Column holding the summary."""
    description: str = "description"
    """Column holding the description converted to Markdown."""
    type: str = "type"
    """Column holding the PM Buddy issue type (e.g. STORY)."""
    status: str = "status"
    """Column holding the PM Buddy column title."""
    assignees: str = "assignees"
    """text[] column holding the assignees' PM Buddy user emails."""
    story_points: str = "story_points"
    """numeric column holding the story points (NULL when JIRA has none)."""


class JiraConfig(Model):
    url: str = ""
    """JIRA base URL, e.g. https://example.atlassian.net."""
    flavor: Literal["cloud", "datacenter"] = "cloud"
    """cloud: REST v3, email + API token; datacenter: REST v2, personal access token."""
    email_env: str = "JIRA_EMAIL"
    """Variable holding the account email (cloud basic auth)."""
    token_env: str = "JIRA_API_TOKEN"
    """Variable holding the API token (cloud) or personal access token (datacenter)."""
    jql: str = ""
    """The bounded JQL selecting the team's issues, e.g. project = PMB ORDER BY key."""
    story_points_field: str = "customfield_10016"
    """Field id of the story points; `jira-migrate --discover` lists candidates."""
    page_size: int = Field(default=100, ge=1, le=1000)
    """Issues asked for per search page."""
    timeout: float = Field(default=30.0, gt=0)
    """Seconds one JIRA request may take."""
    max_retries: int = Field(default=8, ge=0)
    """Retries of one request on 429/503 or a network fault before the run fails."""
    issue_types: dict[str, str] = {}
    """JIRA issue type name → PM Buddy type, e.g. {Story = "STORY"}."""
    statuses: dict[str, str] = {}
    """JIRA status name → PM Buddy column title."""
    assignees: dict[str, str] = {}
    """JIRA account id → PM Buddy user email (overrides the email JIRA shows)."""
    assignees_csv: str = ""
    """CSV of account_id,email for users whose email JIRA hides."""
    default_type: str = ""
    """PM Buddy type for unmapped JIRA types; empty: a run refuses while any is unmapped."""
    default_status: str = ""
    """PM Buddy column for unmapped JIRA statuses; empty: a run refuses while any is unmapped."""
    unknown_assignee: Literal["refuse", "unassigned"] = "refuse"
    """An assignee with no known email: refuse the run, or import the issue unassigned."""
    target_dsn_env: str = "PMB_DATABASE_URL"
    """Variable holding the DSN of PM Buddy's database."""
    target_table: str = "issues"
    """Table the issues are upserted into (schema.table allowed)."""
    target_columns: JiraColumnsConfig = JiraColumnsConfig()
    """Column names in the target table."""


class DeployConfig(Model):
    provision_command: list[str] = []
    """argv that provisions a color, e.g. ["terraform", "apply", "-auto-approve", "-var", "color={color}"];
    {color} and {version} are replaced."""
    deploy_command: list[str] = []
    """argv that deploys [release] version to a color, e.g. ["kubectl", "apply", "-f", "green.yaml"]."""
    decommission_command: list[str] = []
    """argv that takes the old color down; empty: its weight is set to 0 and its servers out."""
    command_timeout: float = Field(default=1800.0, gt=0)
    """Seconds a provision, deploy or decommission command may run before it is stopped."""
    version_key: str = "release.version"
    """Dotted key in each instance's /healthz JSON holding the version it runs."""
    version_metric: str = ""
    """Else: a metric whose label (version_label) holds the version, e.g. pmb_build_info."""
    version_label: str = "version"
    """The label of version_metric holding the version."""


class MonitorConfig(Model):
    window_minutes: float = Field(default=60.0, gt=0)
    """How long the new color is watched after the switch before blue may be decommissioned."""
    breach_polls: int = Field(default=3, ge=1)
    """Consecutive polls over a threshold before a breach is raised."""
    auto_rollback: bool = False
    """On a breach, roll traffic back without asking (recorded with the reason)."""
    extend_minutes: float = Field(default=15.0, gt=0)
    """Minutes one press of "extend" adds to the window."""


class SmokeCheck(Model):
    path: str
    """Path requested from the color's base_url, e.g. /api/health."""
    status: int = Field(default=200, ge=100, le=599)
    """The HTTP status expected."""
    text: str = ""
    """Text the body must contain; empty: any body."""


class SmokeConfig(Model):
    checks: list[SmokeCheck] = []
    """The HTTP checks run against a color before it takes traffic."""
    timeout: float = Field(default=5.0, gt=0)
    """Seconds each check may take."""


class Config(Model):
    console: ConsoleConfig = ConsoleConfig()
    release: ReleaseConfig = ReleaseConfig()
    colors: ColorsConfig = ColorsConfig()
    health: HealthConfig = HealthConfig()
    metrics: MetricsConfig = MetricsConfig()
    traffic: TrafficConfig = TrafficConfig()
    aws: AwsConfig = AwsConfig()
    database: DatabaseConfig = DatabaseConfig()
    backup: BackupConfig = BackupConfig()
    logs: LogsConfig = LogsConfig()
    audit: AuditConfig = AuditConfig()
    notify: NotifyConfig = NotifyConfig()
    jira: JiraConfig = JiraConfig()
    deploy: DeployConfig = DeployConfig()
    monitor: MonitorConfig = MonitorConfig()
    smoke: SmokeConfig = SmokeConfig()
    keymap: dict[str, str] = {}
    """Rebind console keys by binding id, e.g. rollback = "ctrl+r"."""

    source: str = Field(default="", exclude=True)
    """The file this config was read from (not a key)."""


DEFAULT_PATH = Path("~/.config/pmb-console/config.toml")


def find_config(explicit: str | None) -> Path | None:
    """--config, else $PMB_CONSOLE_CONFIG, else ~/.config/pmb-console/config.toml if it exists."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("PMB_CONSOLE_CONFIG")
    if env:
        return Path(env)
    default = Path(os.path.expanduser(str(DEFAULT_PATH)))
    return default if default.exists() else None


def load_config(path: Path | str) -> Config:
    """Read and validate a config file; raises ConfigError naming every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [Problem(str(path), "", "a readable config file", exc.strerror or str(exc))]
        ) from None
    return parse_config(text, str(path))


_TOML_LINE = re.compile(r"at line (\d+), column (\d+)")


def parse_config(text: str, filename: str = "<config>") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_LINE.search(str(exc))
        line = int(m.group(1)) if m else None
        raise ConfigError([Problem(filename, "", "valid TOML", str(exc), line)]) from None
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_of(exc, text, filename)) from None
    return cfg.model_copy(update={"source": filename})


def demo_config(state_dir: Path) -> Config:
    """The config the embedded demo starts from, before it knows its ports."""
    return Config(
        console=ConsoleConfig(environment="demo", state_dir=state_dir, demo=True),
        traffic=TrafficConfig(provider="demo"),
        database=DatabaseConfig(provider="demo"),
    )


def data_of(cfg: Config) -> dict[str, Any]:
    return cfg.model_dump(mode="json")
