//! The `sluice` command line: wiring only, no engine logic.
//!
//! Each subcommand lives in its own module and returns the process exit code. The command-line
//! contract is in DESIGN.md and README.md; subcommands land with the issues that build them.

mod expr;
mod invoke;
mod run;
mod validate;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Sluice runs Logic Apps Standard workflow definitions against events from Kafka / Event Hubs,
/// RabbitMQ and HTTP.
#[derive(Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Host an app: its triggers start runs; live rates are shown every second. Stop with Ctrl-C.
    Run {
        /// The app folder.
        #[arg(default_value = "workflows")]
        app: PathBuf,
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
        #[arg(long)]
        virtual_time: bool,
    },
}

/// How listing commands print their result.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Lines for people.
    Text,
    /// A stable JSON document for tools (documented in README.md).
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { app } => run::run(&app),
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
        } => invoke::run(
            &app,
            &workflow,
            body.as_deref(),
            mocks.as_deref(),
            virtual_time,
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
