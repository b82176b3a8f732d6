//! `cargo xtask ...`: development chores. The logic lives in the library (`xtask/src/lib.rs`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", bin_name = "cargo xtask", about = "Development chores for docspace-auth")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The checked-in OpenAPI document and the client generated from it.
    #[command(subcommand)]
    Openapi(Openapi),
}

#[derive(Subcommand)]
enum Openapi {
    /// Report whether openapi/docspace-auth.json and crates/client/src/generated.rs match the
    /// server; exit non-zero if either is stale.
    Check,
    /// Rewrite openapi/docspace-auth.json from the server and the client from it.
    Generate,
}

fn main() -> anyhow::Result<ExitCode> {
    let root = xtask::workspace_root();
    match Cli::parse().command {
        Command::Openapi(Openapi::Check) => {
            let report = xtask::check(&root)?;
            print!("{report}");
            Ok(if report.is_fresh() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Openapi(Openapi::Generate) => {
            for (path, outcome) in xtask::generate(&root)? {
                println!("{path}: {outcome}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
