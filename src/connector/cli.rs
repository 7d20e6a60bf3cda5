//! The command line of `spaces-connector`: `serve` (the default) and the
//! console commands an operator runs at the VM console.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "spaces-connector",
    version,
    about = "Spaces Connector appliance"
)]
pub struct Cli {
    /// Directory holding the state file (connector.db).
    #[arg(
        long,
        env = "SPACES_CONNECTOR_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the appliance: web UI, controller sessions, cloud link (default).
    Serve(ServeArgs),
    /// Print the appliance's status.
    Status,
    /// Show, set or remove the connector token.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Add, list or remove controllers (on a wired connector: switches;
    /// `switch` is the same command).
    #[command(subcommand, alias = "switch")]
    Controller(ControllerCommand),
    /// Show the NMSP identity controllers authorise, or replace its key.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Show or set the appliance's network (address, DNS, host name, NTP),
    /// or (as root, by the image's helper units) render it for the
    /// system's daemons.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Headless first boot (run as root by the image's first-boot unit):
    /// check a config drive's spaces-connector.json and hand it over.
    #[command(hide = true, name = "first-boot")]
    FirstBoot {
        #[arg(long)]
        from: PathBuf,
        /// `--from` is VMware's OVF environment (vApp properties), not
        /// spaces-connector.json.
        #[arg(long)]
        ovf_env: bool,
        #[arg(long, default_value = "/var/lib/spaces-connector")]
        state_dir: PathBuf,
        /// Where it came from, for the System page.
        #[arg(long, default_value = "config drive")]
        source: String,
    },
    /// Print the argon2id hash of a password read from standard input,
    /// for a first-boot file's admin_password_hash.
    HashPassword,
    /// Show or set the HTTP(S) proxy the cloud link goes through.
    #[command(subcommand)]
    Proxy(ProxyCommand),
    /// The admin UI's certificate: show it, make a signing request, install
    /// a signed chain (or a certificate and key), or go back to
    /// self-signed.
    #[command(subcommand)]
    WebCert(WebCertCommand),
    /// List, allow or remove access points on the AP Channel.
    #[command(subcommand)]
    Ap(ApCommand),
    /// Remove the admin password (and all sessions); the web UI then asks
    /// for a new one, as at first boot.
    ResetAdmin,
    /// Write a support bundle (.tar.gz): version, configuration, audit
    /// trail and spool from the state file, and the service's journal
    /// where there is one; never a secret. The web UI's bundle also has
    /// the live sessions and statistics.
    SupportBundle {
        /// Where to write it (default: a new file in the current folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a backup of the configuration, sealed with a passphrase read
    /// from standard input (restore it on a System or setup page).
    Backup {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
        /// Include the appliance's identity (NMSP key, instance, cloud
        /// membership), for a replacement that controllers need not
        /// authorise again.
        #[arg(long)]
        with_identity: bool,
    },
    /// Check a signed update bundle and, on the appliance image, hand it
    /// to the helper that installs it (and rolls back by itself if the
    /// appliance is not healthy afterwards).
    Upgrade {
        file: PathBuf,
        #[command(flatten)]
        upgrades: UpgradeOptions,
    },
    /// The image's installer (root, started by its path unit when the
    /// service stages an upgrade): check the bundle again, snapshot the
    /// state file, install, restart, wait for health, roll back if it
    /// does not come.
    #[command(hide = true, name = "upgrade-install")]
    UpgradeInstall {
        #[arg(long, default_value = "/var/lib/spaces-connector")]
        state_dir: PathBuf,
        /// The installer's own directory: the installed package (to roll
        /// back to) and the snapshot.
        #[arg(long, default_value = "/var/lib/spaces-connector-upgrade")]
        work_dir: PathBuf,
        #[command(flatten)]
        upgrades: UpgradeOptions,
    },
    /// Print the audit trail: who changed what, when and from where,
    /// newest first.
    Audit {
        /// How many entries.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Print the manual page (roff), generated from these definitions, for
    /// the package.
    #[command(hide = true)]
    Manual,
}

/// How this machine takes signed upgrades: the service's, the console's
/// and the installer's options alike.
#[derive(Debug, Clone, Default, Args)]
pub struct UpgradeOptions {
    /// Install signed upgrades (the appliance image): a bundle uploaded
    /// on the System page is staged for the privileged installer
    /// (`spaces-connector-upgrade.service`). Elsewhere a bundle is checked
    /// and the .deb in it is for the admin to install.
    #[arg(
        long,
        env = "SPACES_CONNECTOR_MANAGE_UPGRADES",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub manage_upgrades: bool,

    /// Also trust update bundles signed by this Ed25519 key (base64 of
    /// the raw 32 bytes; `packaging/make-update-bundle --public-key`), as
    /// well as the release key built in: a lab's own builds.
    #[arg(
        long,
        env = "SPACES_CONNECTOR_TRUST_RELEASE_KEY",
        value_delimiter = ','
    )]
    pub trust_release_key: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// HTTPS address of the admin UI.
    #[arg(long, env = "SPACES_CONNECTOR_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,

    /// Optional plain-HTTP address that redirects to HTTPS (e.g. 0.0.0.0:80).
    #[arg(long, env = "SPACES_CONNECTOR_REDIRECT_LISTEN")]
    pub redirect_listen: Option<SocketAddr>,

    /// Directory of the UI's CSS and JS (found automatically when unset).
    #[arg(long, env = "SPACES_CONNECTOR_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,

    /// Seconds of inactivity after which a login session ends.
    #[arg(long, env = "SPACES_CONNECTOR_SESSION_IDLE_SECS", default_value_t = 30 * 60)]
    pub session_idle_secs: u64,

    /// TLS address where access points stream IoT/BLE telemetry (the AP
    /// Channel).
    #[arg(
        long,
        env = "SPACES_CONNECTOR_AP_LISTEN",
        default_value = "0.0.0.0:16114"
    )]
    pub ap_listen: SocketAddr,

    /// Open AP Channel connections allowed from one address (APs normally
    /// have one each; more is a misbehaving or hostile client).
    #[arg(
        long,
        env = "SPACES_CONNECTOR_AP_MAX_PER_ADDRESS",
        default_value_t = 16
    )]
    pub ap_max_per_address: usize,

    /// Open AP Channel connections allowed in all.
    #[arg(
        long,
        env = "SPACES_CONNECTOR_AP_MAX_CONNECTIONS",
        default_value_t = 20_000
    )]
    pub ap_max_connections: usize,

    /// Manage this machine's network (the appliance image): settings made
    /// on the Network page are handed to the privileged helper
    /// (`spaces-connector-network.service`). Elsewhere the host's network
    /// is shown read-only.
    #[arg(
        long,
        env = "SPACES_CONNECTOR_MANAGE_NETWORK",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub manage_network: bool,

    #[command(flatten)]
    pub upgrades: UpgradeOptions,

    /// Seconds a network change waits for confirmation before the previous
    /// settings come back.
    #[arg(long, hide = true, default_value_t = 120)]
    pub network_confirm_secs: i64,

    /// Source address of outbound connections (controllers and cloud);
    /// default: chosen by the routing table.
    #[arg(long, env = "SPACES_CONNECTOR_SOURCE_IP")]
    pub source_ip: Option<std::net::IpAddr>,

    /// Seconds between heartbeats to the cloud.
    #[arg(long, env = "SPACES_CONNECTOR_HEARTBEAT_SECS", default_value_t = 5)]
    pub heartbeat_secs: u64,

    /// Largest size of the event spool kept while the cloud is away (MiB);
    /// beyond it the oldest events are dropped, and counted.
    #[arg(long, env = "SPACES_CONNECTOR_SPOOL_CAP_MB", default_value_t = 256)]
    pub spool_cap_mb: u64,

    /// Exact spool cap in bytes (tests); overrides --spool-cap-mb.
    #[arg(long, hide = true)]
    pub spool_cap_bytes: Option<u64>,

    /// Milliseconds between echo requests to a controller.
    #[arg(
        long,
        env = "SPACES_CONNECTOR_ECHO_INTERVAL_MS",
        default_value_t = 15_000,
        hide = true
    )]
    pub echo_interval_ms: u64,

    /// Milliseconds of silence after which a controller is declared dead.
    #[arg(
        long,
        env = "SPACES_CONNECTOR_DEAD_AFTER_MS",
        default_value_t = 30_000,
        hide = true
    )]
    pub dead_after_ms: u64,

    /// Seconds after login at which a session ends regardless of use.
    #[arg(long, env = "SPACES_CONNECTOR_SESSION_MAX_SECS", default_value_t = 12 * 60 * 60)]
    pub session_max_secs: u64,
}

impl ServeArgs {
    /// Serve settings from the environment and defaults alone, for when no
    /// subcommand is given.
    pub fn from_env() -> ServeArgs {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: ServeArgs,
        }
        Only::parse_from(["spaces-connector"]).args
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Show the stored token's tenant and cloud.
    Show,
    /// Check and store a token (replaces any stored one).
    Set { token: String },
    /// Remove the stored token.
    Clear,
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// The settings in force, and any change waiting for confirmation.
    Show,
    /// Change the settings; in force at once (the console is not behind
    /// the network being changed, so there is nothing to confirm).
    Set {
        #[command(flatten)]
        input: NetworkArgs,
    },
    /// Confirm a change made in the web UI or the API.
    Confirm,
    /// Render the settings handed over by the service into the files of
    /// systemd-networkd, -resolved and -timesyncd and the host name, then
    /// reload them. Run as root by spaces-connector-network.service.
    #[command(hide = true)]
    Apply {
        /// The hand-off file the service writes.
        #[arg(long, default_value = "/var/lib/spaces-connector/network.json")]
        from: PathBuf,
        /// Render under this root instead of / (and reload nothing).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Write the files only (at boot, before the daemons start).
        #[arg(long)]
        no_reload: bool,
    },
}

/// The network fields as console options.
#[derive(Debug, Clone, Args)]
pub struct NetworkArgs {
    #[arg(long)]
    pub hostname: String,
    /// dhcp or static.
    #[arg(long, default_value = "dhcp")]
    pub mode: String,
    /// 10.0.0.5/24 (static).
    #[arg(long, default_value = "")]
    pub address: String,
    #[arg(long, default_value = "")]
    pub gateway: String,
    #[arg(long, default_value = "")]
    pub ipv6_address: String,
    #[arg(long, default_value = "")]
    pub ipv6_gateway: String,
    /// DNS servers, comma separated.
    #[arg(long, default_value = "")]
    pub dns: String,
    #[arg(long, default_value = "")]
    pub search: String,
    /// NTP servers, comma separated.
    #[arg(long, default_value = "")]
    pub ntp: String,
}

#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
    /// The proxy in use (never its password).
    Show,
    /// Set the proxy; a running service reconnects through it within
    /// seconds.
    Set {
        /// e.g. http://proxy.example.com:3128
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "")]
        username: String,
        /// Read the password from the first line of standard input (kept
        /// off the command line and out of the shell history).
        #[arg(long)]
        password_stdin: bool,
        /// Reached directly: hosts, .domains, addresses or networks, comma
        /// separated.
        #[arg(long, default_value = "")]
        no_proxy: String,
    },
    /// Go direct: remove the proxy and its credentials.
    Clear,
}

#[derive(Debug, Subcommand)]
pub enum WebCertCommand {
    /// The certificate in use and any signing request waiting.
    Show,
    /// Make a key (it never leaves the appliance) and print its signing
    /// request (CSR) for your CA.
    Request {
        /// The name the admin UI is opened at.
        #[arg(long)]
        common_name: String,
        /// More DNS names or IP addresses, comma separated.
        #[arg(long, default_value = "")]
        names: String,
    },
    /// Install a PEM chain (this appliance's certificate first): the
    /// answer to the signing request, or with --key a certificate and key
    /// made elsewhere. A running service serves it within seconds.
    Install {
        #[arg(long, value_name = "FILE")]
        chain: std::path::PathBuf,
        #[arg(long, value_name = "FILE")]
        key: Option<std::path::PathBuf>,
    },
    /// Go back to a new self-signed certificate.
    SelfSigned,
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// The MAC, key type, both key hashes and the commands to paste on
    /// each type of controller.
    Show,
    /// Replace the NMSP key. Every controller refuses this connector until
    /// it authorises the new key hash; a running service switches to the
    /// new key within seconds.
    Rekey {
        /// rsa-2048 (what controllers expect) or ecdsa-p256.
        #[arg(long, default_value = "rsa-2048")]
        key_type: String,
        /// Confirm that every controller must authorise the new key.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApCommand {
    /// List allowed access points and the sources refused lately.
    List,
    /// Allow an access point by the SHA-256 key hash of its certificate.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        key_hash: String,
    },
    /// Remove an access point by its key hash.
    Remove { key_hash: String },
}

#[derive(Debug, Subcommand)]
pub enum ControllerCommand {
    /// List configured controllers.
    List,
    /// Add a controller.
    Add {
        /// A name for the controller.
        #[arg(long)]
        name: String,
        /// IP address or host name.
        #[arg(long)]
        host: String,
        #[arg(long, default_value_t = 16113)]
        port: u32,
        /// aireos, catalyst9800 or catalyst-switch (default: aireos, or
        /// catalyst-switch on a wired connector).
        #[arg(long, default_value = "")]
        kind: String,
    },
    /// Remove a controller by id, name or address.
    Remove { controller: String },
    /// Pre-flight check of a controller (by id, name or address): name
    /// resolution, TCP, TLS and its key, authorisation, subscription, first
    /// data; exits non-zero at the first step that fails, with the fix.
    Check { controller: String },
}
