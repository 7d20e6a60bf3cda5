//! Console commands: the same operations as the web UI, for an operator at
//! the VM console. They open the same state file as the running service;
//! WAL and the busy timeout make that safe.

use std::io::Write;

use crate::appliance::Appliance;
use crate::auth::admin;
use crate::cli::{ControllerCommand, TokenCommand};
use crate::controllers::{self, ControllerError, ControllerInput};
use crate::status;
use crate::stored_token::{self, StoreTokenError};

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
    writeln!(out, "cloud link:      {}", s.cloud_link)?;
    writeln!(out, "controllers:     {}", s.controller_count)?;
    writeln!(out, "NMSP key hash:   {}", s.nmsp_key_hash)?;
    writeln!(out, "authorise with:  {}", a.aireos_auth_command())?;
    Ok(())
}

pub fn token(a: &Appliance, cmd: TokenCommand, out: &mut impl Write) -> Result<(), ConsoleError> {
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
            let stored =
                a.db.call_blocking(|c| stored_token::set(c, &token))
                    .map_err(|e| match e {
                        StoreTokenError::Invalid(t) => {
                            ConsoleError::Refused(format!("token refused: {t}"))
                        }
                        StoreTokenError::Db(d) => d.into(),
                    })?;
            writeln!(
                out,
                "token stored: tenant {} ({}), connector \"{}\"",
                stored.tenant_name, stored.tenant_id, stored.connector_name
            )?;
        }
        TokenCommand::Clear => {
            let removed = a.db.call_blocking(|c| stored_token::clear(c))?;
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
    out: &mut impl Write,
) -> Result<(), ConsoleError> {
    match cmd {
        ControllerCommand::List => {
            let list = a.db.call_blocking(|c| controllers::list(c))?;
            if list.is_empty() {
                writeln!(out, "no controllers")?;
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
                a.db.call_blocking(|c| controllers::add(c, &input))
                    .map_err(refused)?;
            writeln!(
                out,
                "added controller {} \"{}\" at {}:{}",
                added.id, added.name, added.host, added.port
            )?;
        }
        ControllerCommand::Remove { controller } => {
            let found = a
                .db
                .call_blocking(|c| controllers::find(c, &controller))?
                .ok_or_else(|| ConsoleError::Refused(format!("no controller \"{controller}\"")))?;
            let removed =
                a.db.call_blocking(|c| controllers::remove(c, found.id))
                    .map_err(refused)?;
            writeln!(out, "removed controller \"{}\"", removed.name)?;
        }
    }
    Ok(())
}

fn refused(e: ControllerError) -> ConsoleError {
    match e {
        ControllerError::Invalid(fields) => ConsoleError::Refused(
            fields
                .0
                .iter()
                .map(|(f, m)| format!("{f}: {m}"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        ControllerError::NotFound(id) => {
            ConsoleError::Refused(format!("no controller with id {id}"))
        }
        ControllerError::Db(d) => d.into(),
    }
}

pub fn reset_admin(a: &Appliance, out: &mut impl Write) -> Result<(), ConsoleError> {
    a.db.call_blocking(admin::reset)?;
    writeln!(
        out,
        "admin password removed and all sessions ended; open the web UI to set a new one"
    )?;
    Ok(())
}
