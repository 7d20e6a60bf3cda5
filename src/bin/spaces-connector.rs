//! `spaces-connector`: the appliance (`serve`, the default) and its console
//! commands.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use spaces_connector::connector::appliance::Appliance;
use spaces_connector::connector::cli::{Cli, Command, NetworkCommand, ServeArgs};
use spaces_connector::connector::console;
use spaces_connector::connector::network;
use spaces_connector::connector::service::Service;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        None => serve(&cli.data_dir, ServeArgs::from_env()),
        Some(Command::Serve(args)) => serve(&cli.data_dir, args),
        Some(Command::Manual) => manual(),
        // Root's helper: must not open (and so create root-owned files
        // beside) the service's state file.
        Some(Command::FirstBoot {
            from,
            ovf_env,
            state_dir,
            source,
        }) => spaces_connector::connector::first_boot::collect(&from, ovf_env, &state_dir, &source)
            .map(|done| println!("{done}")),
        Some(Command::HashPassword) => hash_password(),
        Some(Command::Network(NetworkCommand::Apply {
            from,
            root,
            no_reload,
        })) => {
            let reload = root.is_none() && !no_reload;
            let root = root.unwrap_or_else(|| "/".into());
            network::helper::apply(&from, &root, reload).map(|done| println!("{done}"))
        }
        // Root's installer: never opens the service's state file either.
        Some(Command::UpgradeInstall {
            state_dir,
            work_dir,
            upgrades,
        }) => spaces_connector::connector::upgrade::install::Installer {
            state_dir,
            work_dir,
            extra_keys: upgrades.trust_release_key,
        }
        .run()
        .map(|done| println!("{done}"))
        .map_err(anyhow::Error::msg),
        Some(other) => run_console(&cli.data_dir, other),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// For a first-boot file: the hash of a password typed on standard input,
/// checked by the same rules as the setup page.
fn hash_password() -> anyhow::Result<()> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    spaces_connector::portal::auth::password::check_new(&password, &password)
        .map_err(|e| anyhow::anyhow!(e))?;
    let hash = tokio::runtime::Builder::new_current_thread()
        .build()?
        .block_on(spaces_connector::portal::auth::password::hash(password))?;
    println!("{hash}");
    Ok(())
}

/// The manual page, from the same clap definitions as the command line.
fn manual() -> anyhow::Result<()> {
    use clap::CommandFactory;
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    out.flush()?;
    Ok(())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SPACES_CONNECTOR_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use tracing_subscriber::prelude::*;
    // stderr (journald on the image) and the ring the Logs page reads.
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colours only for a person at a terminal: journald and
                // log files would keep the escape codes.
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(spaces_connector::service_log::RingLayer)
        .init();
}

/// Every AP and browser connection is a file descriptor; the usual soft
/// limit of 1,024 is far below what the caps allow. Under systemd the
/// unit's `LimitNOFILE` sets it (and its syscall filter forbids changing
/// it), so only a service started by hand raises its own soft limit.
fn raise_open_file_limit() {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        let _ = rlimit::increase_nofile_limit(u64::MAX);
    }
}

fn serve(data_dir: &std::path::Path, args: ServeArgs) -> anyhow::Result<()> {
    raise_open_file_limit();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let service = Service::start(data_dir, &args, shutdown.clone()).await?;
        let code = service.setup_code.clone();
        let setup = code.is_none();
        // The banner is a courtesy: a closed stdout must not stop the service.
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "Spaces Connector {} is running.",
            spaces_connector::VERSION
        );
        let _ = if setup {
            writeln!(out, "Open {} and log in.", service.url())
        } else {
            writeln!(
                out,
                "Open {}setup to set the admin password.",
                service.url()
            )
        };
        if let Some(code) = code {
            let _ = writeln!(
                out,
                "Setup code: {code} (asked by the setup page; also in {})",
                service
                    .appliance
                    .data_dir
                    .join(spaces_connector::portal::auth::setup_code::FILE)
                    .display()
            );
        }
        let _ = writeln!(out, "AP channel on {}", service.ap_addr);
        let _ = writeln!(out, "State file: {}", service.appliance.db.path().display());
        let _ = out.flush();
        // Under systemd (Type=notify) the unit is "started" only now, with
        // the listeners bound and the state file open.
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        tokio::select! {
            _ = wait_for_signal() => {}
            // The service asked to be started again (a restore).
            _ = shutdown.cancelled() => {}
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        tracing::info!("shutting down");
        shutdown.cancel();
        let restart = service.restart.clone();
        service.wait().await?;
        if restart.requested() {
            tracing::warn!("stopped to start again with the restored configuration");
            std::process::exit(spaces_connector::connector::service::RESTART_EXIT_CODE);
        }
        tracing::info!("stopped cleanly");
        Ok(())
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn run_console(data_dir: &std::path::Path, command: Command) -> anyhow::Result<()> {
    let appliance = Appliance::open(data_dir)?;
    let mut out = std::io::stdout().lock();
    match command {
        Command::Status => console::status(&appliance, &mut out)?,
        Command::Token(cmd) => {
            console::token(&appliance, cmd, ServeArgs::from_env().source_ip, &mut out)?
        }
        Command::Controller(cmd) => {
            console::controller(&appliance, cmd, ServeArgs::from_env().source_ip, &mut out)?
        }
        Command::Ap(cmd) => console::ap(&appliance, cmd, &mut out)?,
        Command::Identity(cmd) => console::identity(&appliance, cmd, &mut out)?,
        Command::Proxy(cmd) => console::proxy(&appliance, cmd, &mut out)?,
        Command::Network(cmd) => console::network(&appliance, cmd, &mut out)?,
        Command::WebCert(cmd) => console::web_cert(&appliance, cmd, &mut out)?,
        Command::ResetAdmin => console::reset_admin(&appliance, &mut out)?,
        Command::SupportBundle { out: path } => {
            console::support_bundle(&appliance, path, &mut out)?
        }
        Command::Backup {
            out: path,
            with_identity,
        } => console::backup(&appliance, &path, with_identity, &mut out)?,
        Command::Upgrade { file, upgrades } => {
            console::upgrade(&file, &upgrades, &appliance, &mut out)?
        }
        Command::Audit { limit } => console::audit_trail(&appliance, limit, &mut out)?,
        Command::Serve(_)
        | Command::Manual
        | Command::FirstBoot { .. }
        | Command::HashPassword
        | Command::UpgradeInstall { .. } => {
            unreachable!("handled by main")
        }
    }
    Ok(())
}
