//! How the connector's domain errors read on a page or in the API: each
//! maps once into the portal's `WebError`.

use crate::fields::FieldErrors;
use crate::portal::error::WebError;

impl From<crate::connector::controllers::ControllerError> for WebError {
    fn from(e: crate::connector::controllers::ControllerError) -> Self {
        use crate::connector::controllers::ControllerError as E;
        match e {
            E::Invalid(fields) => WebError::Invalid {
                message: "the controller was not saved: check the fields".into(),
                fields,
            },
            E::NotFound(_) => WebError::NotFound,
            E::Db(d) => d.into(),
        }
    }
}

impl From<crate::connector::access_points::AccessPointError> for WebError {
    fn from(e: crate::connector::access_points::AccessPointError) -> Self {
        use crate::connector::access_points::AccessPointError as E;
        match e {
            E::Invalid(fields) => WebError::Invalid {
                message: "the access point was not saved: check the fields".into(),
                fields,
            },
            E::NotFound(_) => WebError::NotFound,
            E::Db(d) => d.into(),
        }
    }
}

impl From<crate::connector::cloud_link::enroll::EnrollError> for WebError {
    fn from(e: crate::connector::cloud_link::enroll::EnrollError) -> Self {
        use crate::connector::cloud_link::enroll::EnrollError as E;
        match e {
            E::Db(d) => d.into(),
            refused => {
                let mut fields = FieldErrors::default();
                fields.add("token", refused.to_string());
                WebError::Invalid {
                    message: refused.to_string(),
                    fields,
                }
            }
        }
    }
}

impl From<crate::connector::nmsp_identity::RekeyError> for WebError {
    fn from(e: crate::connector::nmsp_identity::RekeyError) -> Self {
        use crate::connector::nmsp_identity::RekeyError as E;
        match e {
            E::Invalid(fields) => WebError::Invalid {
                message: "the key was not replaced: check the fields".into(),
                fields,
            },
            E::Identity(e) => WebError::internal(e),
        }
    }
}

impl From<crate::connector::proxy::ProxyError> for WebError {
    fn from(e: crate::connector::proxy::ProxyError) -> Self {
        use crate::connector::proxy::ProxyError as E;
        match e {
            E::Invalid(fields) => WebError::Invalid {
                message: "the proxy was not saved: check the fields".into(),
                fields,
            },
            E::Db(d) => d.into(),
        }
    }
}

impl From<crate::connector::web_cert::WebCertError> for WebError {
    fn from(e: crate::connector::web_cert::WebCertError) -> Self {
        use crate::connector::web_cert::WebCertError as E;
        match e {
            E::Invalid(fields) => WebError::Invalid {
                message: "the certificate was not changed: check the fields".into(),
                fields,
            },
            E::Db(d) => d.into(),
            E::Identity(e) => WebError::internal(e),
        }
    }
}

impl From<crate::connector::network::NetworkError> for WebError {
    fn from(e: crate::connector::network::NetworkError) -> Self {
        use crate::connector::network::NetworkError as E;
        match e {
            E::Invalid(fields) => WebError::Invalid {
                message: "the network settings were not changed: check the fields".into(),
                fields,
            },
            E::Db(d) => d.into(),
            other => WebError::Conflict(other.to_string()),
        }
    }
}

impl From<crate::connector::backup::RestoreError> for WebError {
    fn from(e: crate::connector::backup::RestoreError) -> Self {
        use crate::connector::backup::RestoreError as E;
        use crate::connector::backup::sealed::SealError as S;
        let field = match &e {
            E::Db(_) => None,
            E::Sealed(S::ShortPassphrase | S::CannotOpen) => Some("passphrase"),
            E::NoIdentity => Some("restore_as"),
            E::Sealed(_) | E::Damaged(_) => Some("backup"),
        };
        match (e, field) {
            (E::Db(d), _) => d.into(),
            (e, Some(field)) => {
                let mut fields = FieldErrors::default();
                fields.add(field, e.to_string());
                WebError::Invalid {
                    message: format!("nothing was restored: {e}"),
                    fields,
                }
            }
            (e, None) => WebError::internal(e),
        }
    }
}

impl From<crate::connector::upgrade::UpgradeError> for WebError {
    fn from(e: crate::connector::upgrade::UpgradeError) -> Self {
        use crate::connector::upgrade::UpgradeError as E;
        match e {
            E::Io(e) => WebError::internal(e),
            E::Pending(_) => WebError::Conflict(e.to_string()),
            refused => {
                let mut fields = FieldErrors::default();
                fields.add("bundle", refused.to_string());
                WebError::Invalid {
                    message: format!("nothing was changed: {refused}"),
                    fields,
                }
            }
        }
    }
}
