//! `sigmaline`: check Sigma rules, filter record streams, scan log files.

#![forbid(unsafe_code)]

mod bench;
mod check;
mod engine_args;
mod filter;
mod rsyslog;
mod scan;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sigmaline",
    version,
    about = "Compile a Sigma rule pack into one matcher; tag, keep or drop Windows event records at line rate"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Load rules and report what loads and why the rest does not.
    Check(check::Args),
    /// Filter newline-delimited records from stdin to stdout.
    Filter(filter::Args),
    /// Replay .evtx, .ndjson/.jsonl (optionally .gz) files: matches and a per-rule summary.
    Scan(scan::Args),
    /// Measure records/s and MB/s on your own records (JSON and msgpack, one core).
    Bench(bench::Args),
    /// Network sidecar: NDJSON in over TCP or a Unix socket, filtered NDJSON out to a TCP target.
    Serve(serve::Args),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Check(a) => check::run(a),
        Cmd::Filter(a) => filter::run(a),
        Cmd::Scan(a) => scan::run(a),
        Cmd::Bench(a) => bench::run(a),
        Cmd::Serve(a) => serve::run(a),
    };
    match code {
        Ok(c) => std::process::exit(c),
        Err(e) => {
            eprintln!("sigmaline: error: {e}");
            std::process::exit(2);
        }
    }
}
