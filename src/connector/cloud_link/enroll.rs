//! Entering a token: check it, register with the cloud it names, store it.
//! Shared by the web page, the API and the console, so each gives the same
//! precise answers and stores nothing when the token or the cloud is
//! refused. A cloud that is merely unreachable does not stop the token
//! from being stored: the link keeps trying to register.

use std::net::IpAddr;
use std::time::Duration;

use super::client::{ClientError, CloudClient};
use super::config_sync;
use crate::connector::controllers::{self, DeviceWords};
use crate::connector::stored_token::{self, StoredToken};
use crate::contract::cloud_api::{PROTOCOL_VERSION, RegisterRequest};
use crate::contract::token::{Token, TokenError};
use crate::db::{Db, DbError};

const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);

/// Who this connector is, as it introduces itself to the cloud.
#[derive(Debug, Clone)]
pub struct Introduction {
    pub instance_id: String,
    pub member_key: String,
    pub hostname: String,
    pub addresses: Vec<String>,
}

impl Introduction {
    pub fn request(&self, token: &Token) -> RegisterRequest {
        RegisterRequest {
            token: token.raw.clone(),
            instance_id: self.instance_id.clone(),
            hostname: self.hostname.clone(),
            addresses: self.addresses.clone(),
            software_version: crate::VERSION.to_string(),
            protocol_version: PROTOCOL_VERSION,
            member_key: self.member_key.clone(),
        }
    }
}

#[derive(Debug)]
pub enum Enrolled {
    /// Registered: the cloud knows this connector.
    Registered(StoredToken),
    /// Stored, but the cloud could not be reached yet (the reason).
    Pending(StoredToken, String),
}

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error(transparent)]
    Invalid(#[from] TokenError),
    #[error("the cloud refused the token: {0}")]
    Refused(String),
    #[error(
        "refusing to register: the server at {url} is not the cloud that made this token (its key does not match the token's pin)"
    )]
    WrongKey { url: String },
    /// The token's network is not the one of the devices already here.
    #[error("{0}")]
    Mixed(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

pub async fn enroll(
    db: &Db,
    who: &Introduction,
    source: Option<IpAddr>,
    input: &str,
) -> Result<Enrolled, EnrollError> {
    let token = Token::parse(input)?;
    token.check_expiry(crate::clock::now_unix())?;
    // A connector never mixes: refused before the cloud hears of it.
    let network = token.claims.kind;
    let other = db
        .call(move |c| {
            Ok::<_, DbError>(
                controllers::list(c)?
                    .into_iter()
                    .find(|d| d.kind.network() != network),
            )
        })
        .await?;
    if let Some(d) = other {
        return Err(EnrollError::Mixed(format!(
            "This token is for a {} network, but this connector has a {} (\"{}\"): remove its {} first, or use a {} token.",
            network.as_str(),
            d.kind.label(),
            d.name,
            DeviceWords::of(Some(d.kind.network())).many,
            d.kind.network().as_str(),
        )));
    }
    let proxy = db.call(|c| crate::connector::proxy::get(c)).await?;
    let client = CloudClient::new(&token, source, &proxy)
        .map_err(|e| EnrollError::Refused(e.to_string()))?;
    let answer = tokio::time::timeout(REGISTER_TIMEOUT, client.register(&who.request(&token)))
        .await
        .unwrap_or_else(|_| Err(ClientError::Unreachable("no answer within 10 s".into())));
    let (credential, pending) = match answer {
        Ok(resp) => (Some(resp.credential), None),
        Err(ClientError::Refused { message, .. }) => return Err(EnrollError::Refused(message)),
        Err(ClientError::WrongKey(_)) => {
            return Err(EnrollError::WrongKey {
                url: token.claims.cloud_url.clone(),
            });
        }
        Err(e) => (None, Some(e.to_string())),
    };
    let stored = db
        .call(move |c| {
            let stored = stored_token::set(c, &token, credential.as_deref())?;
            // The new group learns this connector's controllers.
            config_sync::clear_outbox(c)?;
            config_sync::offer_all(c)?;
            Ok::<_, DbError>(stored)
        })
        .await?;
    Ok(match pending {
        None => Enrolled::Registered(stored),
        Some(reason) => Enrolled::Pending(stored, reason),
    })
}

/// Removes the token: the connector stops reporting; its controllers stay.
pub async fn remove(db: &Db) -> Result<bool, DbError> {
    db.call(|c| {
        config_sync::clear_outbox(c)?;
        stored_token::clear(c)
    })
    .await
}
