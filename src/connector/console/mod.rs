//! Console commands: the same operations as the web UI, for an operator at
//! the VM console. They open the same state file as the running service;
//! WAL and the busy timeout make that safe.

use std::io::Write;

mod operate;

use operate::record;
pub use operate::{audit_trail, backup, support_bundle, upgrade};

use crate::connector::access_points::{self, AccessPointError};
use crate::connector::appliance::Appliance;
use crate::connector::changes;
use crate::connector::cli::{
    ApCommand, ControllerCommand, IdentityCommand, NetworkCommand, ProxyCommand, TokenCommand,
    WebCertCommand,
};
use crate::connector::cloud_link::config_sync;
use crate::connector::cloud_link::enroll::{self, EnrollError, Enrolled};
use crate::connector::controllers::{self, ControllerError, ControllerInput, DeviceWords};
use crate::connector::nmsp_identity::{RekeyError, RekeyInput};
use crate::connector::status;
use crate::connector::stored_token;
use crate::contract::access_point::AccessPointInput;
use crate::db::DbError;
use crate::portal::audit::Audited;
use crate::portal::auth::admin;

/// A console command's failure, printed as one line by the binary.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub fn status(a: &Appliance, out: &mut impl Write) -> Result<(), ConsoleError> {
    let s = a.db.call_blocking(|c| status::read(a, c))?;
    writeln!(out, "Spaces Connector {}", s.version)?;
    writeln!(out, "instance id:     {}", s.instance_id)?;
    writeln!(out, "hostname:        {}", s.hostname)?;
    writeln!(out, "addresses:       {}", s.addresses.join(", "))?;
    writeln!(out, "state file:      {}", a.db.path().display())?;
    writeln!(
        out,
        "admin password:  {}",
        if s.admin_set {
            "set"
        } else {
            "not set (open the web UI to set it)"
        }
    )?;
    match &s.token {
        Some(t) => writeln!(out, "tenant:          {} ({})", t.tenant_name, t.tenant_id)?,
        None => writeln!(out, "tenant:          none (no token)")?,
    }
    let registered = s.token.as_ref().and_then(|t| t.registered_at);
    match (&s.token, registered) {
        (None, _) => writeln!(out, "cloud link:      not configured")?,
        (Some(_), Some(at)) => writeln!(
            out,
            "cloud link:      registered {}",
            crate::clock::format_unix(at)
        )?,
        (Some(_), None) => writeln!(out, "cloud link:      token stored, not registered yet")?,
    }
    writeln!(
        out,
        "event spool:     {} events waiting, {} dropped by the cap",
        s.spool.events, s.spool.dropped_events
    )?;
    writeln!(
        out,
        "network:         {}",
        s.network.unwrap_or("not known yet (no token, no devices)")
    )?;
    writeln!(
        out,
        "{:<17}{}",
        format!("{}:", s.words.many),
        s.controller_count
    )?;
    writeln!(
        out,
        "client privacy:  {}",
        if s.privacy == "hashed" {
            "client MAC, IP and user names hashed before they leave the site"
        } else {
            "off"
        }
    )?;
    writeln!(out, "NMSP MAC:        {}", a.nmsp_mac_label())?;
    let nmsp = a.nmsp.current();
    writeln!(
        out,
        "NMSP key:        {} SHA-256 {} (SHA-1 {})",
        nmsp.kind.label(),
        nmsp.key_hash,
        nmsp.key_hash_sha1
    )?;
    writeln!(out, "authorise with:  {}", a.aireos_auth_command())?;
    Ok(())
}

/// `source`: the address the service connects from (`--source-ip`).
pub fn token(
    a: &Appliance,
    cmd: TokenCommand,
    source: Option<std::net::IpAddr>,
    out: &mut impl Write,
) -> Result<(), ConsoleError> {
    match cmd {
        TokenCommand::Show => match a.db.call_blocking(|c| stored_token::get(c))? {
            Some(t) => {
                writeln!(out, "tenant:     {} ({})", t.tenant_name, t.tenant_id)?;
                writeln!(out, "connector:  {}", t.connector_name)?;
                writeln!(out, "kind:       {}", t.kind)?;
                writeln!(out, "cloud:      {}", t.cloud_url)?;
            }
            None => writeln!(out, "no token stored")?,
        },
        TokenCommand::Set { token } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let done = runtime
                .block_on(enroll::enroll(
                    &a.db,
                    &a.introduction(source),
                    source,
                    &token,
                ))
                .map_err(|e| match e {
                    EnrollError::Db(d) => d.into(),
                    refused => ConsoleError::Refused(format!("token refused: {refused}")),
                })?;
            let (stored, note) = match done {
                Enrolled::Registered(t) => (t, "registered with the cloud".to_string()),
                Enrolled::Pending(t, why) => (
                    t,
                    format!("the cloud is not reachable yet ({why}); the service keeps trying"),
                ),
            };
            record(a, changes::token_set(&stored))?;
            writeln!(
                out,
                "token stored: tenant {} ({}), connector \"{}\"; {note}",
                stored.tenant_name, stored.tenant_id, stored.connector_name
            )?;
        }
        TokenCommand::Clear => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let removed = runtime.block_on(enroll::remove(&a.db))?;
            if removed {
                record(a, changes::token_cleared())?;
            }
            writeln!(
                out,
                "{}",
                if removed {
                    "token removed"
                } else {
                    "no token stored"
                }
            )?;
        }
    }
    Ok(())
}

pub fn controller(
    a: &Appliance,
    cmd: ControllerCommand,
    source: Option<std::net::IpAddr>,
    out: &mut impl Write,
) -> Result<(), ConsoleError> {
    match cmd {
        ControllerCommand::Check { controller } => {
            let found = a
                .db
                .call_blocking(|c| controllers::find(c, &controller))?
                .ok_or_else(|| ConsoleError::Refused(format!("no controller \"{controller}\"")))?;
            let target =
                crate::connector::preflight::Target::of(a, &found, source, Default::default());
            let check = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(crate::connector::preflight::run(target));
            writeln!(
                out,
                "check of \"{}\" ({}:{})",
                found.name, found.host, found.port
            )?;
            for s in &check.steps {
                let mark = if s.ok { "ok    " } else { "FAILED" };
                writeln!(out, "{mark} {}: {}", s.name, s.detail)?;
                if let Some(fix) = &s.fix {
                    writeln!(out, "       fix: {fix}")?;
                }
            }
            if let Some(s) = check.failed() {
                return Err(ConsoleError::Refused(format!(
                    "the check failed at: {}",
                    s.name
                )));
            }
        }
        ControllerCommand::List => {
            let (list, words) = a.db.call_blocking(|c| {
                Ok::<_, DbError>((controllers::list(c)?, controllers::words(c)?))
            })?;
            if list.is_empty() {
                writeln!(out, "no {}", words.many)?;
            }
            writeln!(
                out,
                "{:<5} {:<24} {:<40} {:<6} kind",
                "id", "name", "host", "port"
            )?;
            for c in list {
                writeln!(
                    out,
                    "{:<5} {:<24} {:<40} {:<6} {}",
                    c.id,
                    c.name,
                    c.host,
                    c.port,
                    c.kind.label()
                )?;
            }
        }
        ControllerCommand::Add {
            name,
            host,
            port,
            kind,
        } => {
            let input = ControllerInput {
                name,
                host,
                port: port.to_string(),
                kind,
            };
            let added =
                a.db.call_blocking(|c| config_sync::add_controller(c, &input))
                    .map_err(refused)?;
            record(a, changes::controller_added(&added))?;
            writeln!(
                out,
                "added {} {} \"{}\" at {}:{}",
                DeviceWords::of(Some(added.kind.network())).one,
                added.id,
                added.name,
                added.host,
                added.port
            )?;
        }
        ControllerCommand::Remove { controller } => {
            let found = a
                .db
                .call_blocking(|c| controllers::find(c, &controller))?
                .ok_or_else(|| ConsoleError::Refused(format!("no controller \"{controller}\"")))?;
            let removed =
                a.db.call_blocking(|c| config_sync::remove_controller(c, found.id))
                    .map_err(refused)?;
            record(a, changes::controller_removed(&removed))?;
            writeln!(out, "removed controller \"{}\"", removed.name)?;
        }
    }
    Ok(())
}

/// `ap list|add|remove`. Changes made here reach the running service's
/// AP Channel within seconds (it re-reads the list) and the group through
/// the outbox.
pub fn ap(a: &Appliance, cmd: ApCommand, out: &mut impl Write) -> Result<(), ConsoleError> {
    match cmd {
        ApCommand::List => {
            let list = a.db.call_blocking(|c| access_points::list(c))?;
            if list.is_empty() {
                writeln!(out, "no access points allowed")?;
            }
            for ap in list {
                let by = if ap.added_by.is_empty() {
                    "this connector"
                } else {
                    &ap.added_by
                };
                writeln!(out, "{}  {}  (added by {by})", ap.key_hash, ap.name)?;
            }
        }
        ApCommand::Add { name, key_hash } => {
            let input = AccessPointInput { name, key_hash };
            let ap =
                a.db.call_blocking(|c| config_sync::add_access_point(c, &input))
                    .map_err(ap_refused)?;
            record(a, changes::access_point_added(&ap))?;
            writeln!(out, "allowed access point {} ({})", ap.name, ap.key_hash)?;
        }
        ApCommand::Remove { key_hash } => {
            let ap =
                a.db.call_blocking(|c| config_sync::remove_access_point(c, &key_hash))
                    .map_err(ap_refused)?;
            record(a, changes::access_point_removed(&ap))?;
            writeln!(out, "removed access point {} ({})", ap.name, ap.key_hash)?;
        }
    }
    Ok(())
}

fn ap_refused(e: AccessPointError) -> ConsoleError {
    match e {
        AccessPointError::Invalid(fields) => ConsoleError::Refused(fields.summary()),
        AccessPointError::NotFound(h) => {
            ConsoleError::Refused(format!("no access point with key hash {h}"))
        }
        AccessPointError::Db(d) => d.into(),
    }
}

fn refused(e: ControllerError) -> ConsoleError {
    match e {
        ControllerError::Invalid(fields) => ConsoleError::Refused(fields.summary()),
        ControllerError::NotFound(id) => {
            ConsoleError::Refused(format!("no controller with id {id}"))
        }
        ControllerError::Db(d) => d.into(),
    }
}

pub fn identity(
    a: &Appliance,
    cmd: IdentityCommand,
    out: &mut impl Write,
) -> Result<(), ConsoleError> {
    if let IdentityCommand::Rekey { key_type, yes } = cmd {
        let input = RekeyInput {
            key_type,
            confirm: yes,
        };
        a.nmsp.rekey(&input).map_err(|e| match e {
            RekeyError::Invalid(f) => {
                ConsoleError::Refused(f.summary().replace("confirm: confirm", "--yes: confirm"))
            }
            RekeyError::Identity(e) => ConsoleError::Refused(e.to_string()),
        })?;
        let v = a.identity_view();
        record(a, changes::rekeyed(v.key_type.as_str(), &v.key_hash))?;
        writeln!(
            out,
            "new NMSP key made: every controller must authorise it before it talks to this connector again"
        )?;
    }
    let v = a.identity_view();
    writeln!(out, "MAC address:     {}", v.mac)?;
    writeln!(out, "key:             {}", v.key_type_label)?;
    writeln!(out, "key hash:        {} (SHA-256)", v.key_hash)?;
    writeln!(out, "key hash SHA-1:  {}", v.key_hash_sha1)?;
    writeln!(out, "AireOS:          {}", v.aireos_command)?;
    writeln!(out, "Catalyst 9800, in configuration mode:")?;
    for line in v.catalyst_command.lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

pub fn proxy(a: &Appliance, cmd: ProxyCommand, out: &mut impl Write) -> Result<(), ConsoleError> {
    use crate::connector::proxy::{self, ProxyError, ProxyInput};
    let input = match cmd {
        ProxyCommand::Show => None,
        ProxyCommand::Clear => Some(ProxyInput::default()),
        ProxyCommand::Set {
            url,
            username,
            password_stdin,
            no_proxy,
        } => {
            let mut password = String::new();
            if password_stdin {
                std::io::stdin().read_line(&mut password)?;
            }
            Some(ProxyInput {
                url,
                username,
                password: password.trim_end_matches(['\r', '\n']).to_string(),
                no_proxy,
            })
        }
    };
    let shown = match input {
        None => a.db.call_blocking(|c| proxy::get(c))?,
        Some(input) => {
            let stored =
                a.db.call_blocking(|c| proxy::set(c, &input))
                    .map_err(|e| match e {
                        ProxyError::Invalid(f) => ConsoleError::Refused(f.summary()),
                        ProxyError::Db(d) => d.into(),
                    })?;
            record(a, changes::proxy_set(&stored.url))?;
            stored
        }
    }
    .view();
    if shown.url.is_empty() {
        writeln!(out, "proxy:     none (the cloud link connects directly)")?;
        return Ok(());
    }
    writeln!(out, "proxy:     {}", shown.url)?;
    if !shown.username.is_empty() {
        let pw = if shown.password_set {
            "password set"
        } else {
            "no password"
        };
        writeln!(out, "user:      {} ({pw})", shown.username)?;
    }
    if !shown.no_proxy.is_empty() {
        writeln!(out, "direct to: {}", shown.no_proxy)?;
    }
    Ok(())
}

pub fn web_cert(
    a: &Appliance,
    cmd: WebCertCommand,
    out: &mut impl Write,
) -> Result<(), ConsoleError> {
    use crate::connector::web_cert::{CertUpload, CsrInput, WebCertError};
    let refused = |e: WebCertError| match e {
        WebCertError::Invalid(f) => ConsoleError::Refused(f.summary()),
        WebCertError::Db(d) => d.into(),
        WebCertError::Identity(e) => ConsoleError::Refused(e.to_string()),
    };
    let cell = &a.web_cert;
    match cmd {
        WebCertCommand::Show => {}
        WebCertCommand::Request { common_name, names } => {
            let change = changes::certificate_requested(&common_name);
            let csr = cell
                .request(&CsrInput { common_name, names })
                .map_err(refused)?;
            record(a, change)?;
            write!(out, "{csr}")?;
            writeln!(
                out,
                "have your CA sign it, then: spaces-connector web-cert install --chain FILE"
            )?;
            return Ok(());
        }
        WebCertCommand::Install { chain, key } => {
            let read = |p: &std::path::Path| {
                std::fs::read_to_string(p)
                    .map_err(|e| ConsoleError::Refused(format!("cannot read {}: {e}", p.display())))
            };
            let upload = CertUpload {
                chain_pem: read(&chain)?,
                key_pem: key.as_deref().map(read).transpose()?.unwrap_or_default(),
            };
            cell.install(&upload).map_err(refused)?;
            record(a, changes::certificate_installed(&cell.info().subject))?;
            writeln!(
                out,
                "installed: the admin UI serves it from the next connection"
            )?;
        }
        WebCertCommand::SelfSigned => {
            cell.reset_self_signed(&a.hostname).map_err(refused)?;
            record(a, changes::certificate_self_signed())?;
            writeln!(out, "back to a self-signed certificate")?;
        }
    }
    let info = cell.info();
    writeln!(out, "subject:     {}", info.subject)?;
    writeln!(
        out,
        "issuer:      {}{}",
        info.issuer,
        if info.self_signed {
            " (self-signed)"
        } else {
            ""
        }
    )?;
    writeln!(out, "names:       {}", info.names.join(", "))?;
    writeln!(
        out,
        "valid:       {} to {}",
        info.not_before, info.not_after
    )?;
    for w in &info.warnings {
        writeln!(out, "warning:     {w}")?;
    }
    if cell.pending_request().map_err(refused)?.is_some() {
        writeln!(out, "a signing request is waiting for its certificate")?;
    }
    Ok(())
}

pub fn network(
    a: &Appliance,
    cmd: NetworkCommand,
    out: &mut impl Write,
) -> Result<(), ConsoleError> {
    use crate::connector::network::{self, NetworkError, NetworkInput, confirm};
    let refused = |e: NetworkError| match e {
        NetworkError::Invalid(f) => ConsoleError::Refused(f.summary()),
        NetworkError::Db(d) => d.into(),
        other => ConsoleError::Refused(other.to_string()),
    };
    match cmd {
        NetworkCommand::Show => {}
        NetworkCommand::Set { input: i } => {
            let input = NetworkInput {
                hostname: i.hostname,
                mode: i.mode,
                address: i.address,
                gateway: i.gateway,
                ipv6_address: i.ipv6_address,
                ipv6_gateway: i.ipv6_gateway,
                dns: i.dns,
                search: i.search,
                ntp: i.ntp,
            };
            let made =
                a.db.call_blocking(|c| network::set_at_console(c, &input))
                    .map_err(refused)?;
            // A running service hands it to the helper within a second;
            // without one, hand it over now.
            confirm::handoff(&a.data_dir, &made)?;
            record(a, changes::network_changed(&input))?;
            writeln!(out, "network settings in force")?;
        }
        NetworkCommand::Confirm => {
            a.db.call_blocking(|c| confirm::confirm(c))?;
            record(a, changes::network_confirmed())?;
            writeln!(out, "network settings confirmed")?;
        }
        NetworkCommand::Apply { .. } => unreachable!("run without the state file"),
    }
    let s = a.db.call_blocking(|c| network::settings::get(c))?.input();
    writeln!(out, "host name:  {}", s.hostname)?;
    if s.mode == "static" {
        writeln!(out, "IPv4:       {} via {}", s.address, s.gateway)?;
    } else {
        writeln!(out, "IPv4:       DHCP")?;
    }
    if !s.ipv6_address.is_empty() {
        writeln!(out, "IPv6:       {} via {}", s.ipv6_address, s.ipv6_gateway)?;
    }
    writeln!(out, "DNS:        {}", s.dns)?;
    writeln!(out, "search:     {}", s.search)?;
    writeln!(out, "NTP:        {}", s.ntp)?;
    if let Some(p) = a.db.call_blocking(|c| confirm::pending(c))? {
        writeln!(
            out,
            "waiting for confirmation until {} (then the previous settings come back)",
            crate::clock::format_unix(p.deadline)
        )?;
    }
    Ok(())
}

pub fn reset_admin(a: &Appliance, out: &mut impl Write) -> Result<(), ConsoleError> {
    a.db.call_blocking(admin::reset)?;
    record(
        a,
        Audited::new(
            "password.reset",
            "admin password removed at the console; all sessions ended",
        ),
    )?;
    let code =
        a.db.call_blocking(|c| crate::portal::auth::setup_code::pending(c, &a.data_dir))?;
    writeln!(
        out,
        "admin password removed and all sessions ended; open the web UI to set a new one"
    )?;
    if let Some(code) = code {
        writeln!(out, "setup code: {code}")?;
    }
    Ok(())
}
