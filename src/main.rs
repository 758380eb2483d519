//! The `sluice` command line: wiring only, no engine logic.
//!
//! - [`commands`]: one module per subcommand, each returning the process exit code.
//! - [`app_host`]: hosting an app in this process (the engine, its HTTP server, every
//!   connector's triggers), shared by `sluice run` and `sluice bench`.
//! - [`log`]: where log lines go (`--log-format`, `RUST_LOG`).
//!
//! The command-line contract is in README.md.

mod app_host;
mod commands;
mod log;

use commands::{bench, expr, gateway, invoke, mock, produce, run, runs, validate};

use clap::{Parser, Subcommand, ValueEnum};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;

/// Sluice runs Logic Apps Standard workflow definitions against events from Kafka / Event Hubs,
/// RabbitMQ and HTTP.
#[derive(Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines are written: `human` (`sluice: …`) or `json` (one object per line).
    /// `RUST_LOG` filters them (default `info`).
    #[arg(long, value_enum, global = true, default_value_t = log::LogFormat::Human)]
    log_format: log::LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Host an app: its triggers start runs; live rates are shown every second. Stop with Ctrl-C.
    Run {
        /// The app folder.
        #[arg(default_value = "workflows")]
        app: PathBuf,
        /// Where stateful runs are recorded (default: APP/.sluice).
        #[arg(long)]
        data: Option<PathBuf>,
        /// The HTTP port: Request triggers, the management API, /health, /metrics.
        #[arg(long, default_value_t = 7071)]
        port: u16,
        /// Canned action results for every run, by action name, as for `invoke`.
        #[arg(long)]
        mocks: Option<PathBuf>,
        /// Feed every Kafka trigger synthetic events at this rate (events/s; 100 if given
        /// without a value) and serve the sample app's scoring function in-process.
        #[arg(long, num_args = 0..=1, default_missing_value = "100", value_name = "RATE")]
        demo: Option<f64>,
        /// Record stateful runs in PostgreSQL instead (`postgres://user@host:port/database`);
        /// the app setting `Sluice.Store` gives the same. One instance writes to a database at a
        /// time.
        #[arg(long, value_name = "URL")]
        store: Option<String>,
    },
    /// The Logic Apps scaling studies on this machine: the engine in-process against the
    /// embedded Kafka cluster and a local downstream, with the study's figures beside ours,
    /// charts and JSON/Markdown under --results (docs/benchmarks.md).
    Bench {
        #[arg(value_enum)]
        scenario: bench::Scenario,
        #[command(flatten)]
        options: bench::Options,
    },
    /// Local stand-ins for downstreams, for tests and benchmarks.
    Mock {
        #[command(subcommand)]
        kind: MockKind,
    },
    /// The AI gateway as a standalone OpenAI-compatible proxy (/v1/chat/completions,
    /// /v1/embeddings, the Azure OpenAI paths, /metrics). Stop with Ctrl-C.
    Gateway {
        /// A gateway.json (backends, pools, APIs and their policies; docs/gateway.md).
        #[arg(long, conflicts_with = "backend")]
        config: Option<PathBuf>,
        /// An OpenAI-compatible base URL; repeat for a round-robin pool with no other policy.
        #[arg(long)]
        backend: Vec<String>,
        /// The port on 127.0.0.1 (0: any free port; the URL is printed).
        #[arg(long, default_value_t = 7074)]
        port: u16,
        /// Where the semantic cache keeps its store (default: beside the config file).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Produce synthetic JSON events to a Kafka topic (any cluster, the embedded one of
    /// `sluice run` included), at a fixed rate.
    Produce {
        /// Bootstrap servers, e.g. the address `sluice run` prints for its embedded cluster.
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: String,
        /// How many events.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// Events per second (0: as fast as possible).
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        /// The id of the first event.
        #[arg(long, default_value_t = 0)]
        first_id: u64,
        /// How long a batch waits to fill (librdkafka's linger.ms). The embedded cluster
        /// answers a fetch with one batch per partition, so larger batches consume faster.
        #[arg(long, default_value_t = 5)]
        linger_ms: u64,
    },
    /// Run history in the data directory: list, show, resubmit, cancel, purge.
    Runs {
        /// The app folder.
        #[arg(long, default_value = "workflows", global = true)]
        app: PathBuf,
        /// The data directory (default: APP/.sluice).
        #[arg(long, global = true)]
        data: Option<PathBuf>,
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Check app folders and workflow files; print every problem with file, line, column and
    /// JSON pointer; exit 1 if any workflow is invalid.
    Validate {
        /// App folders, workflow folders, workflow.json files or bare definitions.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Evaluate one expression, written as in a workflow string ('@add(1, 2)',
    /// 'Hello @{triggerBody()?['name']}'), and print the JSON result.
    Expr {
        /// The expression.
        expression: String,
        /// A JSON file with any of: variables, parameters, appsettings, triggerBody,
        /// triggerOutputs, actions ({"Name": {"outputs": …, "status": …}}), items ({"Loop": value}).
        #[arg(long)]
        context: Option<PathBuf>,
    },
    /// Run one workflow once, in-process, and print the run as JSON (with splitOn, an array of
    /// runs). Exit 0 when every run succeeded, 1 otherwise.
    Invoke {
        /// The app folder.
        app: PathBuf,
        /// The workflow (folder name).
        workflow: String,
        /// The trigger body: a JSON file, or - for standard input.
        #[arg(long)]
        body: Option<PathBuf>,
        /// Canned action results: {"Action": {"status": "Succeeded", "outputs": …, "error": …}}.
        #[arg(long)]
        mocks: Option<PathBuf>,
        /// Run on a virtual clock: Wait actions, retry delays and timeouts take no real time.
        /// For runs whose I/O actions are mocked: a real HTTP call would see its timeout
        /// expire at once.
        #[arg(long)]
        virtual_time: bool,
        /// Record stateful runs in this data directory, as `sluice run` does.
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RunsCommand {
    /// List runs, newest first; filters apply in the store.
    List {
        #[arg(long)]
        workflow: Option<String>,
        /// Succeeded, Failed, Cancelled, TimedOut, or Running.
        #[arg(long)]
        status: Option<String>,
        /// Runs that started at or after this time (ISO 8601).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Runs that started at or before this time (ISO 8601).
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Unfinished runs with no progress for this long (ISO 8601 duration, e.g. PT10M).
        #[arg(long)]
        stuck: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show one run: its trigger and the action tree with status, duration, retries and errors.
    Show {
        id: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run again with the same trigger outputs; with --from, actions that ran before ACTION keep
    /// their recorded results.
    Resubmit {
        id: String,
        #[arg(long)]
        from: Option<String>,
        /// Canned results by action name, as for `invoke`.
        #[arg(long)]
        mocks: Option<PathBuf>,
    },
    /// Mark an unfinished run Cancelled so it is not resumed.
    Cancel { id: String },
    /// Delete finished runs older than a duration (ISO 8601, e.g. P30D).
    Purge {
        #[arg(long)]
        older_than: String,
    },
}

#[derive(Subcommand)]
enum MockKind {
    /// An OpenAI-compatible model provider: chat completions (streaming too) with usage
    /// counted by tiktoken, deterministic embeddings, injectable 429/5xx. GET /_stats gives
    /// the counters; POST /_faults changes the faults while running.
    Llm {
        /// The port on 127.0.0.1 (0: any free port; the URL is printed).
        #[arg(long, default_value_t = 7073)]
        port: u16,
        /// Named in every answer's `x-mock-name` header.
        #[arg(long, default_value = "mock-llm")]
        name: String,
        /// Milliseconds each request takes.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Words in a reply (fewer when max_tokens asks for fewer).
        #[arg(long, default_value_t = 16)]
        completion_tokens: u64,
        /// Fraction of requests (0–1) answered with --fail-status.
        #[arg(long, default_value_t = 0.0)]
        fail_rate: f64,
        /// Answer the first N requests with --fail-status.
        #[arg(long, default_value_t = 0)]
        fail_first: u64,
        /// The status of an injected fault (429, 500, 503, …).
        #[arg(long, default_value_t = 429)]
        fail_status: u16,
        /// The Retry-After of an injected fault, in seconds.
        #[arg(long)]
        retry_after: Option<f64>,
    },
    /// A JSON function: `?ean=E` answers {"skus":["sku-E"]} (the burst benchmark's retail
    /// function), anything else echoes the request. GET /_stats gives the counters.
    Function {
        /// The port on 127.0.0.1 (0: any free port; the URL is printed).
        #[arg(long, default_value_t = 7072)]
        port: u16,
        /// Milliseconds each request takes.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// At most this many concurrent requests; beyond, 429 with Retry-After.
        #[arg(long)]
        capacity: Option<u64>,
        /// Fraction of requests (0–1) answered 500.
        #[arg(long, default_value_t = 0.0)]
        fail_rate: f64,
        /// The Retry-After of a 429, in seconds.
        #[arg(long, default_value_t = 1)]
        retry_after: u64,
    },
}

/// How listing commands print their result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Lines for people.
    Text,
    /// A stable JSON document for tools (documented in README.md).
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    log::init(cli.log_format);
    let result = match cli.command {
        Command::Run {
            app,
            data,
            port,
            mocks,
            demo,
            store,
        } => run::run(
            &app,
            data.as_deref(),
            port,
            mocks.as_deref(),
            demo,
            store.as_deref(),
        ),
        Command::Bench { scenario, options } => bench::run(scenario, options),
        Command::Mock {
            kind:
                MockKind::Llm {
                    port,
                    name,
                    latency_ms,
                    completion_tokens,
                    fail_rate,
                    fail_first,
                    fail_status,
                    retry_after,
                },
        } => mock::llm(
            port,
            sluice_mocks::llm::MockLlmConfig {
                name,
                latency: std::time::Duration::from_millis(latency_ms),
                completion_tokens,
                faults: sluice_mocks::llm::Faults {
                    fail_rate,
                    fail_first,
                    fail_status,
                    retry_after,
                },
            },
        ),
        Command::Gateway {
            config,
            backend,
            port,
            data,
        } => gateway::run(config.as_deref(), &backend, port, data.as_deref()),
        Command::Mock {
            kind:
                MockKind::Function {
                    port,
                    latency_ms,
                    capacity,
                    fail_rate,
                    retry_after,
                },
        } => mock::function(
            port,
            sluice_mocks::function::MockConfig {
                latency: std::time::Duration::from_millis(latency_ms),
                capacity,
                fail_rate,
                retry_after_seconds: retry_after,
            },
        ),
        Command::Produce {
            bootstrap,
            topic,
            count,
            rate,
            first_id,
            linger_ms,
        } => produce::run(produce::Options {
            bootstrap,
            topic,
            count,
            rate,
            first_id,
            linger_ms,
        }),
        Command::Runs { app, data, command } => {
            runs_request(command).and_then(|r| runs::run(&app, data.as_deref(), r))
        }
        Command::Validate { paths, format } => validate::run(&paths, format),
        Command::Expr {
            expression,
            context,
        } => expr::run(&expression, context.as_deref()),
        Command::Invoke {
            app,
            workflow,
            body,
            mocks,
            virtual_time,
            data,
        } => invoke::run(
            &app,
            &workflow,
            body.as_deref(),
            mocks.as_deref(),
            virtual_time,
            data.as_deref(),
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn duration(text: &str) -> anyhow::Result<sluice_engine::definition::duration::IsoDuration> {
    sluice_engine::definition::duration::IsoDuration::parse(text).map_err(|e| anyhow::anyhow!(e))
}

fn runs_request(command: RunsCommand) -> anyhow::Result<runs::Request> {
    use sluice_engine::definition::RunStatus;
    use sluice_engine::store::RunFilter;
    Ok(match command {
        RunsCommand::List {
            workflow,
            status,
            since,
            until,
            limit,
            stuck,
            format,
        } => {
            let running = status
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("Running"));
            let status = match status.filter(|_| !running) {
                Some(s) => Some(RunStatus::parse(&s).ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown status '{s}', expected Running or one of: {}",
                        RunStatus::expected()
                    )
                })?),
                None => None,
            };
            let stuck_for = stuck
                .as_deref()
                .map(duration)
                .transpose()?
                .map(|d| d.as_duration());
            let filter = RunFilter {
                workflow,
                status,
                running,
                since,
                until,
                stuck_for,
                limit,
            };
            runs::Request::List { filter, format }
        }
        RunsCommand::Show { id, format } => runs::Request::Show { id, format },
        RunsCommand::Resubmit { id, from, mocks } => runs::Request::Resubmit { id, from, mocks },
        RunsCommand::Cancel { id } => runs::Request::Cancel { id },
        RunsCommand::Purge { older_than } => runs::Request::Purge {
            older_than: duration(&older_than)?,
        },
    })
}
