//! What the shared web pieces (login, setup, password, sessions, layout,
//! security layers) need from an application: the connector's admin UI and
//! the cloud's dashboard both implement `Portal`, so both log in the same
//! way with the same code.

use crate::auth::sessions::SessionPolicy;
use crate::auth::throttle::LoginThrottle;
use crate::db::Db;

pub trait Portal: Clone + Send + Sync + 'static {
    /// Product name shown in titles and the header.
    const PRODUCT: &'static str;
    /// Navigation entries: (href, key, label).
    const NAV: &'static [(&'static str, &'static str, &'static str)];

    /// The state file holding the admin, sessions and API tokens.
    fn db(&self) -> &Db;
    fn session_policy(&self) -> SessionPolicy;
    fn throttle(&self) -> &LoginThrottle;
    /// URL prefix of the CSS and JS.
    fn asset_prefix(&self) -> String;
}
