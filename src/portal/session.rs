//! First-boot setup, login and logout.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::CookieJar;
use http::StatusCode;
use serde::Deserialize;

use super::layout::{CsrfForm, Layout, NoticeQuery, render};
use crate::portal::Portal;
use crate::portal::audit::Audited;
use crate::portal::auth::{
    admin, password, random_secret, secrets_equal, sessions, setup_code, throttle,
};
use crate::portal::error::WebError;
use crate::portal::guard::{
    ClientIp, CurrentSession, PRELOGIN_COOKIE, SESSION_COOKIE, cookie, removal,
};

/// When every password check is busy, come back after this.
const BUSY_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

pub fn routes<S: Portal>() -> Router<S> {
    Router::new()
        .route("/setup", get(setup_form::<S>).post(setup::<S>))
        .route("/login", get(login_form::<S>).post(login::<S>))
        .route("/logout", post(logout::<S>))
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    layout: Layout,
    /// Where a backup can be restored instead.
    restore: Option<&'static str>,
    /// The setup code as typed, kept when another field was wrong.
    code: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    csrf: String,
    /// The one-time setup code from the console.
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// The pre-login CSRF token: reuse the browser's, or issue one.
pub(crate) fn prelogin_token(jar: CookieJar) -> (CookieJar, String) {
    match jar.get(PRELOGIN_COOKIE).map(|c| c.value().to_string()) {
        Some(t) if !t.is_empty() => (jar, t),
        _ => {
            let t = random_secret();
            (jar.add(cookie(PRELOGIN_COOKIE, t.clone())), t)
        }
    }
}

pub(crate) fn check_prelogin(jar: &CookieJar, submitted: &str) -> Result<(), WebError> {
    match jar.get(PRELOGIN_COOKIE) {
        Some(c) if secrets_equal(c.value(), submitted) => Ok(()),
        _ => Err(WebError::BadCsrf),
    }
}

/// The directory holding the state file (and the setup code's file).
pub(crate) fn state_dir<S: Portal>(state: &S) -> std::path::PathBuf {
    state
        .db()
        .path()
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default()
}

async fn admin_exists<S: Portal>(state: &S) -> Result<bool, WebError> {
    Ok(state.db().call(|c| admin::exists(c)).await?)
}

async fn setup_form<S: Portal>(
    State(state): State<S>,
    jar: CookieJar,
) -> Result<Response, WebError> {
    if admin_exists(&state).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    let (jar, csrf) = prelogin_token(jar);
    let page = SetupPage {
        layout: Layout::new(&state, "Set up", "public", csrf),
        restore: S::SETUP_RESTORE,
        code: String::new(),
        error: None,
    };
    Ok((jar, render(&page)?).into_response())
}

async fn setup<S: Portal>(
    State(state): State<S>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    Form(form): Form<SetupForm>,
) -> Result<Response, WebError> {
    check_prelogin(&jar, &form.csrf)?;
    if admin_exists(&state).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    let refuse = |state: &S, status: StatusCode, err: WebError, csrf: String, code: String| {
        let page = SetupPage {
            layout: Layout::new(state, "Set up", "public", csrf),
            restore: S::SETUP_RESTORE,
            code,
            error: Some(err.to_string()),
        };
        let mut resp = (status, render(&page)?).into_response();
        err.retry_after(&mut resp);
        Ok::<_, WebError>(resp)
    };
    // The code is checked first, throttled like a password.
    match check_setup_code(&state, &ip, &form.code).await {
        Ok(()) => {}
        Err(err @ WebError::Throttled(_)) => {
            let status = StatusCode::TOO_MANY_REQUESTS;
            return refuse(&state, status, err, form.csrf, String::new());
        }
        Err(err @ WebError::Refused(_)) => {
            return refuse(&state, StatusCode::FORBIDDEN, err, form.csrf, String::new());
        }
        Err(e) => return Err(e),
    }
    if let Err(msg) = password::check_new(&form.password, &form.confirm) {
        let err = WebError::Refused(msg.to_string());
        return refuse(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            err,
            form.csrf,
            form.code,
        );
    }
    let hash = password::hash(form.password)
        .await
        .map_err(WebError::internal)?;
    let dir = state_dir(&state);
    let created = state
        .db()
        .call(move |c| {
            let created = admin::create(c, &hash)?;
            if created {
                setup_code::used(c, &dir)?;
            }
            Ok::<_, crate::db::DbError>(created)
        })
        .await?;
    if !created {
        return Ok(Redirect::to("/login").into_response());
    }
    tracing::info!(client = %ip, "admin password set at first boot");
    let done = start_session(&state, jar, &ip).await?;
    Ok(Audited::new("setup", "admin password set at first boot")
        .by(admin::USERNAME)
        .on(done))
}

/// Checks the one-time setup code, throttled like a password: the setup
/// page asks it, and so do an application's pages beside it (restoring a
/// backup instead). `Throttled`, or `Refused` with what to do.
pub(crate) async fn check_setup_code<S: Portal>(
    state: &S,
    ip: &str,
    code: &str,
) -> Result<(), WebError> {
    let attempt = state
        .throttle()
        .begin(throttle::keys(ip, "setup code"))
        .map_err(WebError::Throttled)?;
    let code = code.to_string();
    if !state
        .db()
        .call(move |c| setup_code::matches(c, &code))
        .await?
    {
        attempt.failed();
        tracing::warn!(client = %ip, "wrong setup code");
        return Err(WebError::Refused(
            "the setup code is wrong: it is printed on the appliance's console and kept in its state directory (setup-code)".into(),
        ));
    }
    attempt.succeeded();
    Ok(())
}

async fn login_form<S: Portal>(
    State(state): State<S>,
    jar: CookieJar,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, WebError> {
    let (jar, csrf) = prelogin_token(jar);
    let page = LoginPage {
        layout: Layout::new(&state, "Log in", "public", csrf).with_notice(&q),
        username: admin::USERNAME.to_string(),
        error: None,
    };
    Ok((jar, render(&page)?).into_response())
}

async fn login<S: Portal>(
    State(state): State<S>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    check_prelogin(&jar, &form.csrf)?;
    let refuse = |state: &S, err: WebError, form: LoginForm| {
        let page = LoginPage {
            layout: Layout::new(state, "Log in", "public", form.csrf),
            username: form.username,
            error: Some(err.to_string()),
        };
        let status = match err {
            WebError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::UNAUTHORIZED,
        };
        let mut resp = (status, render(&page)?).into_response();
        err.retry_after(&mut resp);
        Ok(resp)
    };
    // The slot is taken before the password is checked: parallel attempts
    // count as failures until their verdict is in.
    let attempt = match state.throttle().begin(throttle::keys(&ip, &form.username)) {
        Ok(a) => a,
        Err(wait) => return refuse(&state, WebError::Throttled(wait), form),
    };
    let user = throttle::normalise_user(&form.username);
    let stored = state
        .db()
        .call(move |c| admin::password_hash(c, &user))
        .await?;
    match password::verify(form.password.clone(), stored).await {
        Ok(true) => {}
        Ok(false) => {
            attempt.failed();
            tracing::warn!(client = %ip, "failed login");
            // What was typed as a user name is kept only when it is the
            // admin's: a password typed in the wrong field must not be.
            let who = match throttle::normalise_user(&form.username) == admin::USERNAME {
                true => admin::USERNAME,
                false => "unknown user",
            };
            let refused = refuse(
                &state,
                WebError::Refused("Wrong user name or password.".into()),
                form,
            )?;
            return Ok(Audited::new("login.failed", "wrong user name or password")
                .by(who)
                .on(refused));
        }
        Err(password::Busy) => {
            // Not the client's fault: its slot is given back uncounted.
            drop(attempt);
            return refuse(&state, WebError::Throttled(BUSY_RETRY), form);
        }
    }
    attempt.succeeded();
    tracing::info!(client = %ip, "admin logged in");
    let done = start_session(&state, jar, &ip).await?;
    Ok(Audited::new("login", "").by(admin::USERNAME).on(done))
}

/// Logs the browser in with a brand-new session id (any session it had is
/// ended), so an id planted before login is worthless after it.
async fn start_session<S: Portal>(
    state: &S,
    jar: CookieJar,
    ip: &str,
) -> Result<Response, WebError> {
    let old = jar
        .get(SESSION_COOKIE)
        .map(|c| crate::portal::auth::secret_hash(c.value()));
    let ip = ip.to_string();
    let (id, _) = state
        .db()
        .call(move |c| {
            if let Some(old) = old {
                sessions::delete(c, &old)?;
            }
            sessions::create(c, &ip)
        })
        .await?;
    let jar = jar
        .add(cookie(SESSION_COOKIE, id))
        .remove(removal(PRELOGIN_COOKIE));
    Ok((jar, Redirect::to("/")).into_response())
}

async fn logout<S: Portal>(
    State(state): State<S>,
    session: CurrentSession,
    jar: CookieJar,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let id = session.0.id_hash.clone();
    state.db().call(move |c| sessions::delete(c, &id)).await?;
    let jar = jar.remove(removal(SESSION_COOKIE));
    let done = (jar, Redirect::to("/login?notice=logged-out")).into_response();
    Ok(Audited::new("logout", "").on(done))
}
