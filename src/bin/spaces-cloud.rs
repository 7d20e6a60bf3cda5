//! `spaces-cloud`: the reference cloud (tokens, registration, config,
//! de-duplicating ingest, firehose, dashboard).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use spaces_connector::cloud::{CloudArgs, CloudService};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "spaces-cloud", version, about = "Spaces reference cloud")]
struct Cli {
    #[command(flatten)]
    args: CloudArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SPACES_CLOUD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: CloudArgs) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let cloud = CloudService::start(&args, shutdown.clone()).await?;
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "Spaces Cloud {} is running.",
        spaces_connector::VERSION
    );
    let _ = writeln!(
        out,
        "Open {}/ to set up tenants and tokens.",
        cloud.state.url
    );
    let _ = writeln!(out, "Cloud key pin: {}", cloud.state.pin);
    if args.sink {
        let _ = writeln!(
            out,
            "SINK MODE (benchmarks): events are checked, counted and dropped; nothing is stored"
        );
    }
    if let Some(code) = &cloud.setup_code {
        let _ = writeln!(out, "Setup code: {code} (asked by the setup page)");
    }
    let _ = out.flush();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    shutdown.cancel();
    cloud.wait().await
}
