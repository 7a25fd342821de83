//! Command-line types (clap derive) and nothing else.
//!
//! Conventions: global flags work before or after the subcommand; every flag that takes a
//! time accepts RFC 3339, a plain date (midnight in `--time-zone` where the command has one,
//! else UTC), Unix seconds, `now` or `now-2h`, and `--at` refuses the future; every duration
//! is PromQL-style (`30s`, `5m`, `1h30m`, `28d`, at most `292y`); secrets are only ever read
//! from files.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub const EXIT_CODES: &str = "\
Exit codes:
  0  every evaluated SLO passed (warnings pass unless --fail-on warn); other commands: success
  1  at least one SLO breached
  2  usage or configuration error (found before any query is sent)
  3  could not decide: Prometheus unreachable, a query failed, or no data - and nothing breached";

#[derive(Debug, Parser)]
#[command(
    name = "vitals",
    version,
    about = "Health and SLO reporter for Prometheus",
    long_about = "Health and SLO reporter for Prometheus.\n\n\
        vitals runs named PromQL queries (the catalog in queries/), checks them against the \
        SLOs in slo.toml and prints tables or JSON; site.toml beside slo.toml says which \
        components exist and what the status screen and the report show of them. Without \
        these files in the working directory it uses the built-in catalog, site and SLOs of \
        the reference system (a 3D-printing shop: Shop/CRM/MES APIs, RabbitMQ, PostgreSQL, S3).",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Prometheus base URL, with the path prefix if the API sits under one (e.g.
    /// http://vmselect:8481/select/0/prometheus); user:password@ in it is sent as basic auth
    #[arg(
        long,
        global = true,
        env = "VITALS_PROMETHEUS_URL",
        hide_env_values = true,
        default_value = "http://localhost:9090",
        value_name = "URL"
    )]
    pub prometheus: String,

    /// SLO file [default: ./slo.toml, else the built-in reference SLOs]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Site file: components, status signals, report sections [default: site.toml beside
    /// the SLO file; the built-in reference site with the built-in SLOs]
    #[arg(long, global = true, value_name = "PATH")]
    pub site: Option<PathBuf>,

    /// Query catalog directory [default: queries/ beside the SLO file, else ./queries, else
    /// the built-in catalog]
    #[arg(long, global = true, value_name = "DIR")]
    pub queries: Option<PathBuf>,

    /// Output format (each command lists the ones it supports)
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// Time limit for each request to Prometheus
    #[arg(long, global = true, default_value = "30s", value_name = "DURATION")]
    pub timeout: String,

    /// How many queries may be in flight at once
    #[arg(long, global = true, default_value_t = 4, value_name = "N")]
    pub concurrency: usize,

    /// Time limit for all of a run's requests together, retries included (e.g. 2m)
    /// [default: none]
    #[arg(long, global = true, value_name = "DURATION")]
    pub deadline: Option<String>,

    /// Stop reading a reply that holds more series than this (a query that matches too much)
    #[arg(long, global = true, default_value_t = crate::prom::DEFAULT_MAX_SERIES, value_name = "N")]
    pub max_series: usize,

    /// Stop reading a reply larger than this (e.g. 64MiB, 1GiB)
    #[arg(long, global = true, default_value = "256MiB", value_name = "SIZE")]
    pub max_body_size: String,

    /// Use answers marked partial (Prometheus or Thanos warnings, VictoriaMetrics isPartial),
    /// showing their warnings, instead of treating them as failed queries
    #[arg(long, global = true)]
    pub allow_partial: bool,

    /// When to use colours (NO_COLOR in the environment means never, unless `always`)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Print only the data: no notes, warnings or progress bars
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Print how many requests went to Prometheus and how long the command took (stderr)
    #[arg(long, global = true)]
    pub stats: bool,

    /// Send `Authorization: Bearer <token>` with the token read from this file
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        help_heading = "Authentication"
    )]
    pub bearer_token_file: Option<PathBuf>,

    /// Send HTTP basic auth; the file holds `user:password` on one line
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        help_heading = "Authentication"
    )]
    pub basic_auth_file: Option<PathBuf>,

    /// Prometheus http_config YAML (basic_auth, authorization, tls_config, ...), as promtool's
    /// --http.config.file reads it
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        help_heading = "Authentication"
    )]
    pub http_config_file: Option<PathBuf>,

    /// Tenant of a multi-tenant backend (Mimir, Cortex, Loki; Thanos with
    /// --query.tenant-header=X-Scope-OrgID), sent as `X-Scope-OrgID` with every request
    #[arg(
        long,
        global = true,
        value_name = "ID",
        env = "VITALS_TENANT",
        help_heading = "Authentication"
    )]
    pub tenant: Option<String>,

    /// Extra request header, e.g. 'X-Scope-OrgID: shop' (repeatable)
    #[arg(
        long = "header",
        short = 'H',
        global = true,
        value_name = "'K: V'",
        help_heading = "Authentication"
    )]
    pub headers: Vec<String>,

    /// CA certificate(s) (PEM) to trust for https:// URLs, instead of the system's
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        help_heading = "Authentication"
    )]
    pub ca_cert: Option<PathBuf>,

    /// Client certificate (PEM) for mutual TLS
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        requires = "client_key",
        help_heading = "Authentication"
    )]
    pub client_cert: Option<PathBuf>,

    /// Client key (PEM: PKCS#8, RSA or EC) for mutual TLS
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        requires = "client_cert",
        help_heading = "Authentication"
    )]
    pub client_key: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
    Markdown,
    Junit,
    Html,
}

impl Format {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
            Format::Html => "html",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// On-call snapshot: every component's signals, SLO state and last hour, with a verdict
    #[command(
        after_help = "Examples:\n  vitals status\n  vitals status --watch 15s\n  vitals status --at 2026-11-18T11:40:00Z --format json\n\nThe verdict is HEALTHY, DEGRADED (which components, why), DOWN (which) or UNKNOWN (what could not be read). Period KPIs (threshold SLOs with severity = \"none\") are shown but do not degrade a component.\nExit codes: 0 healthy or degraded without a breach, 1 a component down or an SLO that alerts breached, 2 a configuration error (e.g. a latency threshold that is not a bucket), 3 something could not be read.\nFormats: table (default), json."
    )]
    Status(StatusArgs),

    /// Evaluate the SLOs of slo.toml: the CI gate (exit 0 pass, 1 breach, 2 config, 3 undecided)
    #[command(
        after_help = "Examples:\n  vitals check\n  vitals check --slo mes-availability --at 2026-11-18T14:30:00Z --format json\n  vitals check --component shop --fail-on warn --format junit > slo.xml\n\n--source: windows of 30 minutes or more come from the recorded series of `vitals rules` (whole 5-minute intervals up to the last recorded point, the minutes since read raw) when they exist with the SLO's current fingerprint and cover the window (auto), always (recorded), or never (raw); the output says which each SLO used, and why not recorded (stale rules, short coverage).\nStatuses: pass; warn (meets the objective but a burn-rate alert condition holds, or a threshold is past its warn level); fail (objective missed: exit 1); inconclusive (no data, too few events, or a query failed: exit 3).\nFormats: table (default), json, junit, markdown."
    )]
    Check(CheckArgs),

    /// Run one catalog query, at an instant or over a range
    #[command(
        after_help = "Examples:\n  vitals query api.rps\n  vitals query api.error_ratio --param service=mes --at 2026-11-20T14:00:00Z\n  vitals query rabbitmq.queue_depth --param queue=shop.orders --since 24h\n  vitals query api.latency_p99 --from now-7d --to now --step 1h --format csv\n  vitals query --promql 'sum by (job) (up)' --since 1h\n\n--promql runs any PromQL (parsed offline first, exit 2 if it does not parse) with the same output; --unit sets how its values are shown.\nFormats: table (default), json, csv."
    )]
    Query(QueryArgs),

    /// Chart a catalog query over time: PNG or SVG (--out), or braille in the terminal
    #[command(
        after_help = "Examples:\n  vitals chart api.error_ratio --since 24h\n  vitals chart api.error_ratio --from 2026-11-18T10:00:00Z --to 2026-11-18T14:00:00Z --out outage.png\n  vitals chart rabbitmq.queue_depth --param queue=shop.orders --since 7d --out depth.svg --time-zone Europe/Moscow\n\nWithout --since or --from, the last 24h (--at does not apply: a chart is a range). Without --step, the step is chosen from the drawing width (one point per pixel at most). Threshold SLOs on the same query (with the same params) add their limit and warning lines and shade the intervals in which their condition held."
    )]
    Chart(ChartArgs),

    /// Incidents: the intervals in which an alert condition of slo.toml held, grouped, with causes and MTTR
    #[command(
        after_help = "Examples:\n  vitals incidents\n  vitals incidents --since 30d --slo mes-availability\n  vitals incidents --from 2026-11-16T00:00:00Z --to 2026-11-23T00:00:00Z --format markdown\n\nAn alert condition is what `vitals rules` alerts on: a budget SLO burning faster than a multi-window pair (page: 14.4x 1h/5m, 6x 6h/30m; ticket: 3x 1d/2h, 1x 3d/6h, scaled to the SLO window), a threshold SLO past its value for its `for` (not with severity = \"none\"), a scrape target down; restarts are listed for information. An incident spans the problem itself (the steps burning faster than the factor that fired, or past the warning level), accurate to one step; overlapping conditions are one incident. Cause hints compare the incident with the hour before it.\n--source: at a step of whole 5 minutes, budget SLOs' burn rates are summed from the recorded increases of `vitals rules` where those cover the range and the burn windows before it (auto), wherever they exist (recorded), or never (raw); `method` names the SLOs read so.\nExit codes: 0 when the search completed (with or without incidents), 3 when a query failed (the list may be incomplete).\nFormats: table (default), json, markdown."
    )]
    Incidents(IncidentsArgs),

    /// Period report: SLO compliance, business KPIs, components, incidents and charts, vs the previous period
    #[command(
        after_help = "Examples:\n  vitals report --week 2026-W47 --time-zone Europe/Moscow --format html --out reports/\n  vitals report --month 2026-11 --format markdown --out reports/\n  vitals report --from 2026-11-16T00:00:00Z --to 2026-11-23T00:00:00Z --format json\n  vitals report                     # the last complete ISO week, Markdown on stdout\n\nEvery number is shown beside the previous period's (the previous ISO week, calendar month, or range of the same length) with its change; a period still in progress is shown up to now, without changes. HTML is one self-contained file with inline SVG charts; Markdown references PNG charts written next to it (with --out); JSON carries the same numbers.\n--source: the SLOs' long windows as in `check`; the KPIs over the period are summed from the recorded KPI increases of `vitals rules` where those cover both periods (auto, recorded), never with raw, and so are the budget burn-down and the incidents' burn rates (at a step of whole 5 minutes) of SLOs whose recorded increases cover both periods; the report says which (kpi_sources, the incidents' method).\nSafe for cron: no terminal needed, nothing interactive; what could not be read is listed in the report and on stderr.\nExit codes: 0 the report is complete, 3 something could not be read (the report is still written, with the list), 2 bad flags.\nFormats: markdown (default), html, json."
    )]
    Report(ReportArgs),

    /// Generate Prometheus recording and alerting rules (multi-window multi-burn-rate) from slo.toml
    #[command(
        after_help = "Examples:\n  vitals rules --out /etc/prometheus/rules/vitals.yml --check\n  vitals rules --slo mes-availability\n  vitals rules --naming sloth --out /etc/prometheus/rules/vitals-sloth.yml --check\n\nPer ratio or latency SLO: recording rules slo:sli_error:ratio_rate<window> for every burn-rate window (scaled to the SLO window as `vitals check` scales them) and for the SLO window (in a group evaluated every 5m); alerts <Slo>BudgetBurn with severity page (14.4x over 1h/5m or 6x over 6h/30m) and ticket (3x over 1d/2h or 1x over 3d/6h). Per threshold SLO (unless severity = \"none\"): an alert after its `for` (default 5m). Without --slo, also TargetDown, ComponentDown and ComponentAbsent for the scrape targets. A group evaluated every 5m records each budget SLO's events per 5 minutes (slo:sli_bad:increase5m or slo:sli_good:increase5m, slo:sli_total:increase5m) with a vitals_fingerprint of its definition, which check, status and report read with --source auto|recorded (docs/recording.md). Without --slo, another (vitals-kpi-increases) records the exact 5-minute increase of every sum-of-increase term of the report's queries over the period (kpi:term:increase5m, kpi:term:evaluations5m, keyed by vitals_term), which report sums over its periods where they cover them. A group evaluated every 1m (vitals-threshold-minutes) records per alerting threshold SLO whether it is violated (slo:threshold_violated:bool1m, 1 or 0 per group, and slo:threshold_evaluations:1m), which report sums for the time each threshold was broken. Without --slo, two more groups evaluated every 1m: vitals-kpi-peaks records each peak KPI combined by its largest series (kpi:peak:max1m per component, heartbeat kpi:peak_evaluations:1m), which report takes the maximum of over a period; vitals-status-signals records every signal and sparkline query of status (vitals:status_signal, heartbeat vitals:status_signal_evaluations), which status reads when the last evaluation is at most 2 minutes old.\n--naming sloth writes the budget SLOs' rules as Sloth does, for Grafana dashboards built for Sloth: slo:sli_error:ratio_rate<window> over Sloth's fixed windows (5m, 30m, 1h, 2h, 6h, 1d, 3d and the SLO window) with labels sloth_id, sloth_service (the component), sloth_slo and sloth_window; slo:objective:ratio, slo:error_budget:ratio, slo:time_period:days, slo:current_burn_rate:ratio, slo:period_burn_rate:ratio, slo:period_error_budget_remaining:ratio and sloth_slo_info; the alerts over Sloth's pairs (1h/5m and 6h/30m page, 1d/2h and 3d/6h ticket, spending 2 %, 5 %, 10 % and 10 % of the budget) with sloth_severity. SLO windows of 3 days or less cannot have them (exit 2).\n--check runs `promtool check rules` on the result.\nExit codes: 0 written (and checked), 2 bad flags or promtool rejected the rules, 3 --check without promtool."
    )]
    Rules(RulesArgs),

    /// Write a Grafana dashboard (JSON) of the site's components, the SLOs and the KPIs
    #[command(
        after_help = "Examples:\n  vitals dashboard --out vitals-dashboard.json\n  vitals dashboard --rules /etc/prometheus/rules/vitals.yml --title \"Shop on call\" --out dash.json\n\nMade from the same files as `status` and `report`: a row per component (its headline and a time series per signal, levels drawn), per SLO the error budget left and the burn rate over the long window of each alert pair (a threshold SLO: its value against the objective), the report's business KPIs over the time range, and a monitoring-plan row linking every metric of the plan to its panels. The datasource is the template variable ${datasource} (type prometheus). SLO panels read the SLI expressions; with --rules FILE (the deployed output of `vitals rules`), the SLOs it records read the recorded series slo:sli_error:ratio_rate<window> instead. Import it in Grafana (Dashboards > New > Import) or provision it; Grafana 12 or later (schemaVersion 41).\nExit codes: 0 written, 2 bad flags, configuration or an unreadable --rules file.\nFormats: json (the only one)."
    )]
    Dashboard(DashboardArgs),
    /// Export slo.toml as OpenSLO v1 documents, or import OpenSLO documents into slo.toml entries
    #[command(
        subcommand,
        after_help = "Examples:\n  vitals openslo export --out openslo.yaml\n  vitals openslo export --slo shop-availability\n  vitals openslo import slos.yaml --out slo.toml\n\nexport writes one YAML stream: a DataSource (Prometheus), an SLO per SLO of slo.toml with its SLI inline (ratioMetric with counter: true for ratio and latency SLOs, thresholdMetric for thresholds), budgetingMethod Occurrences, a rolling or calendar timeWindow, and per burn-rate pair an AlertCondition (kind burnrate) and an AlertPolicy; what OpenSLO has no field for is in vitals/ annotations. import reads such documents back; what it cannot represent (Timeslices, a non-Prometheus source, a raw ratio, a query it cannot scale to vitals' windows, other burn-rate windows) is listed with file, line, document and field, and nothing is written. The mapping: docs/openslo.md.\nExit codes: 0 written, 2 bad flags, an SLO that cannot be exported, or documents that cannot be represented."
    )]
    Openslo(OpensloCommand),

    /// List the query catalog: name, unit, params and help
    #[command(
        after_help = "Formats: table (default), json, markdown (the docs/catalog.md mapping from the monitoring plan)."
    )]
    Queries(QueriesArgs),

    /// Write a starter site.toml and slo.toml for the services your Prometheus has
    #[command(
        after_help = "Examples:\n  vitals init --out my-site/\n  vitals --prometheus http://127.0.0.1:9090 init --out . --force\n\nLooks at the series Prometheus has now (or at --at): HTTP APIs (`service` of http_requests_total, with their latency buckets), RabbitMQ queues, PostgreSQL servers (pg_stat_activity_count), MinIO buckets and the shop's business counters, and writes a component for each with the signals of the shipped catalog, plus starter SLOs (availability 99.5 % and latency at the bucket nearest 0.5 s per API, queue depth, connection saturation, S3 latency, lost-order share). Both files are checked as `vitals lint` checks them before they are written; existing files are kept unless --force. The objectives are common first choices: tune them.\nExit codes: 0 written, 2 files exist or nothing known was found, 3 Prometheus could not be read."
    )]
    Init(InitArgs),

    /// Check queries/, site.toml and slo.toml without contacting Prometheus
    #[command(
        after_help = "Reports every problem (file:line:column), not only the first, and exits 2 if there is any.\nFormats: table (default), json."
    )]
    Lint,

    /// Print shell completions
    Completions {
        /// Shell to generate completions for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the man page (roff)
    Man,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Show the system as it was at this time, not in the future: RFC 3339, a date
    /// (2026-11-18: midnight UTC), Unix seconds or now-2h [default: now]
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,

    /// Refresh in place every DURATION until Ctrl-C (e.g. 15s)
    #[arg(long, value_name = "DURATION")]
    pub watch: Option<String>,

    /// Also show this Alertmanager's firing alerts and active silences, and where they
    /// disagree with vitals (an SLO failing with no alert firing, an alert silenced)
    #[arg(long, value_name = "URL", env = "VITALS_ALERTMANAGER_URL")]
    pub alertmanager: Option<String>,
    /// Where budget SLOs' windows of 30 minutes or more are read from: auto (the recorded series
    /// of `vitals rules` when they exist with the SLO's current fingerprint and cover the
    /// window, else raw), recorded, or raw. The signals and sparklines too: with auto or
    /// recorded, from the vitals-status-signals group's last evaluation when it is at most
    /// 2 minutes old (else raw); with raw, from the raw series at --at
    #[arg(long, value_enum, default_value_t = SliSource::Auto, value_name = "SOURCE")]
    pub source: SliSource,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only this SLO (repeatable)
    #[arg(long = "slo", value_name = "NAME")]
    pub slos: Vec<String>,

    /// Only SLOs of this component (repeatable)
    #[arg(long = "component", value_name = "C")]
    pub components: Vec<String>,

    /// Evaluate as if it were this time, not in the future: RFC 3339, a date (2026-11-18:
    /// midnight UTC), Unix seconds or now-2h [default: now]
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,

    /// Which status fails the run (exit 1)
    #[arg(long, value_enum, default_value_t = FailOn::Fail, value_name = "LEVEL")]
    pub fail_on: FailOn,

    /// Where budget SLOs' windows of 30 minutes or more are read from: auto (the recorded series
    /// of `vitals rules` when they exist with the SLO's current fingerprint and cover the
    /// window, else raw), recorded, or raw
    #[arg(long, value_enum, default_value_t = SliSource::Auto, value_name = "SOURCE")]
    pub source: SliSource,
}

/// `--source`: where SLIs over long windows are read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SliSource {
    /// Recorded series when they are current and cover the window, else raw
    Auto,
    /// The recorded series with the SLO's current fingerprint, whatever they cover
    Recorded,
    /// The raw series
    Raw,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Only a missed objective
    Fail,
    /// Also a warning (burn-rate alert condition, threshold warn level)
    Warn,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Catalog query name (see `vitals queries`)
    #[arg(required_unless_present = "promql")]
    pub name: Option<String>,

    /// Set a query parameter (repeatable), e.g. --param service=shop|crm
    #[arg(long = "param", short = 'p', value_name = "K=V")]
    pub params: Vec<String>,

    /// Run this PromQL instead of a catalog query (checked offline first)
    #[arg(long, value_name = "EXPR", conflicts_with_all = ["name", "params"])]
    pub promql: Option<String>,

    /// The unit of --promql's values, for display: seconds, bytes, bytes_per_second, ratio,
    /// percent, rps, per_second, count
    #[arg(
        long,
        value_name = "UNIT",
        requires = "promql",
        default_value = "count"
    )]
    pub unit: String,

    #[command(flatten)]
    pub time: TimeArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to write site.toml and slo.toml into
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: String,

    /// Replace site.toml and slo.toml if they exist
    #[arg(long)]
    pub force: bool,

    /// Look at the series Prometheus had at this time [default: now]
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

/// Instant (`--at`) or range (`--since`, `--from/--to`, `--step`).
#[derive(Debug, Args, Clone, Default)]
pub struct TimeArgs {
    /// Evaluate at this instant, not in the future: RFC 3339, a date (midnight UTC, or in
    /// --time-zone), Unix seconds or now-2h [default: now]
    #[arg(long, value_name = "TIME", conflicts_with_all = ["since", "from", "to", "step"])]
    pub at: Option<String>,

    /// Range query over the last DURATION (e.g. 24h)
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["from", "to"])]
    pub since: Option<String>,

    /// Range start
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// Range end [default: now]
    #[arg(long, value_name = "TIME", requires = "from")]
    pub to: Option<String>,

    /// Range resolution [default: chosen to keep each series under ~1,000 points]
    #[arg(long, value_name = "DURATION")]
    pub step: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// An ISO week, e.g. 2026-W47 (Monday to Monday in --time-zone)
    #[arg(long, value_name = "YYYY-Www", conflicts_with_all = ["month", "from", "to"])]
    pub week: Option<String>,

    /// A calendar month, e.g. 2026-11
    #[arg(long, value_name = "YYYY-MM", conflicts_with_all = ["from", "to"])]
    pub month: Option<String>,

    /// Period start (with --to; compared with the same length before it)
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// Period end [default: now]
    #[arg(long, value_name = "TIME", requires = "from")]
    pub to: Option<String>,

    /// Time zone of the calendar (and of a plain date in --from/--to): UTC or an IANA name
    /// such as Europe/Moscow
    #[arg(long, default_value = "UTC", value_name = "TZ")]
    pub time_zone: String,

    /// Write the report (and, for Markdown, its PNG charts) into this directory instead of stdout
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,

    /// Where budget SLOs' windows of 30 minutes or more are read from: auto (the recorded series
    /// of `vitals rules` when they exist with the SLO's current fingerprint and cover the
    /// window, else raw), recorded, or raw
    #[arg(long, value_enum, default_value_t = SliSource::Auto, value_name = "SOURCE")]
    pub source: SliSource,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Write the rules to this file instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,

    /// Only this SLO (repeatable); without it, every SLO and the scrape-target alerts
    #[arg(long = "slo", value_name = "NAME")]
    pub slos: Vec<String>,

    /// Check the result with `promtool check rules`
    #[arg(long)]
    pub check: bool,

    /// Names, labels and windows of the budget SLOs' rules: vitals' own, or Sloth's
    #[arg(long, value_enum, default_value = "vitals", value_name = "NAMING")]
    pub naming: crate::rules::Naming,
}

#[derive(Debug, Args)]
pub struct IncidentsArgs {
    /// Only this SLO's conditions (repeatable); without it, every SLO and the scrape targets
    #[arg(long = "slo", value_name = "NAME")]
    pub slos: Vec<String>,

    /// Search the last DURATION [default: 7d]
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["from", "to"])]
    pub since: Option<String>,

    /// Range start
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// Range end [default: now]
    #[arg(long, value_name = "TIME", requires = "from")]
    pub to: Option<String>,

    /// Resolution, whole minutes, at least 1m and at least two scrapes [default: 2m, coarser for long ranges]
    #[arg(long, value_name = "DURATION")]
    pub step: Option<String>,

    /// Where budget SLOs' burn rates are read from at a step of whole 5 minutes: auto (the
    /// recorded increases of `vitals rules` with the SLO's current fingerprint when they
    /// cover the range and its lookback, else raw), recorded (whatever they cover), or raw
    #[arg(long, value_enum, default_value_t = SliSource::Auto, value_name = "SOURCE")]
    pub source: SliSource,
}

#[derive(Debug, Args)]
pub struct ChartArgs {
    /// Catalog query name (see `vitals queries`) [default: the headline of --component]
    pub name: Option<String>,

    /// Draw this component's series only; without NAME, its headline signal (site.toml)
    #[arg(long, value_name = "NAME")]
    pub component: Option<String>,

    /// Set a query parameter (repeatable), e.g. --param service=mes
    #[arg(long = "param", short = 'p', value_name = "K=V")]
    pub params: Vec<String>,

    #[command(flatten)]
    pub time: TimeArgs,

    /// Write the chart to a .png or .svg file instead of drawing it in the terminal
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,

    /// Picture width in pixels
    #[arg(long, default_value_t = 1000)]
    pub width: u32,

    /// Picture height in pixels
    #[arg(long, default_value_t = 480)]
    pub height: u32,

    /// Time zone of the time axis (and of a plain date in --from/--to): UTC, local, or an
    /// IANA name
    #[arg(long, default_value = "UTC", value_name = "TZ")]
    pub time_zone: String,
}

#[derive(Debug, Args)]
pub struct QueriesArgs {
    /// Only queries whose name starts with this (e.g. `api` or `rabbitmq.`)
    pub prefix: Option<String>,
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Write the dashboard to this file instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,

    /// Dashboard title [default: "vitals: <site name>"]; the uid is made from it
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,

    /// The deployed rule file (`vitals rules --out`): the SLOs it records read their
    /// recorded series instead of the SLI expressions
    #[arg(long, value_name = "FILE")]
    pub rules: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum OpensloCommand {
    /// Write the SLOs of slo.toml as OpenSLO v1 YAML documents
    #[command(
        after_help = "Examples:\n  vitals openslo export --out openslo/\n  vitals openslo export --slo shop-availability --slo shop-latency\n\nThe queries come from the SLI layer in OpenSLO's counter form (sum(rate(x[{{window}}])) is written sum(x), counter: true); an SLO whose template has no counter form is named and nothing is written. The burn-rate AlertConditions are the pairs of `vitals rules`.\nExit codes: 0 written, 2 bad flags or an SLO that cannot be exported."
    )]
    Export(OpensloExportArgs),
    /// Convert OpenSLO v1 YAML documents into slo.toml entries
    #[command(
        after_help = "Examples:\n  vitals openslo import slos.yaml --out slo.toml\n  vitals openslo import slo.yaml sli.yaml datasource.yaml\n\nReads vitals' own export and other tools' documents: counter queries become rate(...[{{window}}]) templates, a bucket over its count a latency SLO, an SLI inline or by indicatorRef. Everything that cannot be represented is listed as file:line: document N (Kind `name`): field: why.\nExit codes: 0 written, 2 bad flags or something that cannot be represented (nothing is written then)."
    )]
    Import(OpensloImportArgs),
}

#[derive(Debug, Args)]
pub struct OpensloExportArgs {
    /// Write to this file, or into this directory as openslo.yaml [default: stdout]
    #[arg(long, value_name = "DIR|FILE")]
    pub out: Option<std::path::PathBuf>,

    /// Only this SLO (repeatable)
    #[arg(long = "slo", value_name = "NAME")]
    pub slos: Vec<String>,
}

#[derive(Debug, Args)]
pub struct OpensloImportArgs {
    /// OpenSLO YAML files (each may hold several documents)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<std::path::PathBuf>,

    /// Write the slo.toml entries to this file [default: stdout]
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}
