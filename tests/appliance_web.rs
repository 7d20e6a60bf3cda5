//! The admin UI driven over real HTTPS against an in-process appliance with
//! its own SQLite file: setup, login, throttling, CSRF, sessions, headers
//! and restart. (Forms, escaping and the API: `appliance_forms.rs`.)

mod common;

use common::*;

#[tokio::test]
async fn first_boot_leads_to_setup_and_setup_logs_in() {
    let (_dir, app, c) = fresh("127.0.0.2").await;
    for path in ["/", "/controllers", "/login", "/token"] {
        let r = c.get(app.at(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(location(&r), "/setup", "{path}");
    }
    let api = c.get(app.at("/api/v1/status")).send().await.unwrap();
    assert_eq!(api.status(), 503);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "setup_required");

    let token = csrf(&c, &app, "/setup").await;
    let code = app.setup_code();
    // Without the console's setup code, nobody on the network can set up.
    for wrong in ["", "AAAA-BBBB-CCCC"] {
        let r = c
            .post(app.at("/setup"))
            .form(&[
                ("csrf", token.as_str()),
                ("code", wrong),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("setup code is wrong"));
    }
    let short = c
        .post(app.at("/setup"))
        .form(&[
            ("csrf", token.as_str()),
            ("code", code.as_str()),
            ("password", "short"),
            ("confirm", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), 422);
    assert!(
        short
            .text()
            .await
            .unwrap()
            .contains("at least 10 characters")
    );
    let mismatch = c
        .post(app.at("/setup"))
        .form(&[
            ("csrf", token.as_str()),
            ("code", code.as_str()),
            ("password", PASSWORD),
            ("confirm", "something else"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(mismatch.status(), 422);
    assert!(mismatch.text().await.unwrap().contains("do not match"));

    set_up(&c, &app).await;
    let dash = c.get(app.at("/")).send().await.unwrap();
    assert_eq!(dash.status(), 200);
    let html = dash.text().await.unwrap();
    assert!(html.contains(&app.instance_id));
    assert!(html.contains("No token yet"));
    // Setup is over: nobody can set the password again.
    let again = c.get(app.at("/setup")).send().await.unwrap();
    assert_eq!(location(&again), "/login");
    app.stop().await;
}

#[tokio::test]
async fn login_success_failure_and_throttling() {
    let (_dir, app, c) = fresh("127.0.0.3").await;
    set_up(&c, &app).await;
    let fresh_client = app.client();
    let ok = log_in(&fresh_client, &app, PASSWORD).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(location(&ok), "/");
    let cookie = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-sc_session="))
        .expect("session cookie set");
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "cookie lacks {attr}: {cookie}");
    }

    let other = app.client();
    let wrong = log_in(&other, &app, "wrong password!").await;
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Wrong user name or password.")
    );
    let unknown = {
        let token = csrf(&other, &app, "/login").await;
        other
            .post(app.at("/login"))
            .form(&[
                ("csrf", token.as_str()),
                ("username", "root"),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap()
    };
    assert_eq!(unknown.status(), 401);
    // Third failure: from now on even the right password waits.
    assert_eq!(log_in(&other, &app, "wrong again!!").await.status(), 401);
    let throttled = log_in(&other, &app, PASSWORD).await;
    assert_eq!(throttled.status(), 429);
    let retry: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert!(
        throttled
            .text()
            .await
            .unwrap()
            .contains("Too many failed attempts")
    );
    app.stop().await;
}

#[tokio::test]
async fn csrf_is_enforced_on_every_form() {
    let (_dir, app, c) = fresh("127.0.0.4").await;
    set_up(&c, &app).await;
    let api = api_token(&c, &app).await;
    let form = |csrf: &str| {
        vec![
            ("csrf", csrf.to_string()),
            ("name", "WLC".to_string()),
            ("host", "10.0.0.1".to_string()),
            ("port", "16113".to_string()),
        ]
    };
    let missing = c
        .post(app.at("/controllers"))
        .form(&form(""))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 403);
    let forged = c
        .post(app.at("/controllers"))
        .form(&form("forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let good = csrf(&c, &app, "/controllers").await;
    let foreign = c
        .post(app.at("/controllers"))
        .header("origin", "https://evil.example")
        .form(&form(&good))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let cross_site = c
        .post(app.at("/controllers"))
        .header("sec-fetch-site", "cross-site")
        .form(&form(&good))
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    // Logout needs the token too.
    assert_eq!(
        c.post(app.at("/logout"))
            .form(&[("csrf", "x")])
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    // Pre-login forms: the double-submit token must match its cookie.
    let stranger = app.client();
    let r = stranger
        .post(app.at("/login"))
        .form(&[("csrf", "x"), ("username", "admin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(controller_count(&c, &app, &api).await, 0, "nothing stored");

    let same_origin = c
        .post(app.at("/controllers"))
        .header("origin", app.url.clone())
        .header("sec-fetch-site", "same-origin")
        .form(&form(&good))
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), 303);
    assert_eq!(controller_count(&c, &app, &api).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn idle_session_expires_and_sends_to_login() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestAppliance::start_with(dir.path(), "127.0.0.5", 1).await;
    let c = app.client();
    set_up(&c, &app).await;
    assert_eq!(
        c.get(app.at("/controllers")).send().await.unwrap().status(),
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let r = c.get(app.at("/controllers")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?notice=expired");
    let login = c
        .get(app.at("/login?notice=expired"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login.contains("Your session has ended"));
    app.stop().await;
}

#[tokio::test]
async fn password_change_and_logout() {
    let (_dir, app, c) = fresh("127.0.0.10").await;
    set_up(&c, &app).await;
    let other = app.client();
    assert_eq!(log_in(&other, &app, PASSWORD).await.status(), 303);

    let token = csrf(&c, &app, "/password").await;
    let wrong = c
        .post(app.at("/password"))
        .form(&[
            ("csrf", token.as_str()),
            ("current", "nope"),
            ("password", "a new password"),
            ("confirm", "a new password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    let ok = c
        .post(app.at("/password"))
        .form(&[
            ("csrf", token.as_str()),
            ("current", PASSWORD),
            ("password", "a new password"),
            ("confirm", "a new password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    // The other browser's session ended with the old password.
    assert_eq!(
        location(&other.get(app.at("/")).send().await.unwrap()),
        "/login?notice=expired"
    );
    assert_eq!(c.get(app.at("/")).send().await.unwrap().status(), 200);

    let token = csrf(&c, &app, "/").await;
    let out = c
        .post(app.at("/logout"))
        .form(&[("csrf", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&out), "/login?notice=logged-out");
    assert_eq!(c.get(app.at("/")).send().await.unwrap().status(), 303);
    assert_eq!(log_in(&c, &app, PASSWORD).await.status(), 401);
    assert_eq!(log_in(&c, &app, "a new password").await.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let (_dir, app, c) = fresh("127.0.0.11").await;
    for path in ["/setup", "/nope", "/api/v1/status", "/healthz"] {
        let r = c.get(app.at(path)).send().await.unwrap();
        let h = r.headers();
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'"),
            "{path}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert!(h.contains_key("strict-transport-security"), "{path}");
        assert!(h.contains_key("referrer-policy"), "{path}");
    }
    let html = c
        .get(app.at("/setup"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<script>"), "no inline script");
    let start = html.find("/static/").unwrap();
    let css = &html[start..start + html[start..].find('"').unwrap()];
    let r = c.get(app.at(css)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    app.stop().await;
}

#[tokio::test]
async fn restart_keeps_certificate_identity_controllers_and_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestAppliance::start(dir.path(), "127.0.0.12").await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let c = client_for(&app.pin, jar.clone());
    set_up(&c, &app).await;
    for (name, host) in [
        ("A", "10.0.0.1"),
        ("B", "10.0.0.2"),
        ("C", "wlc-c.example.com"),
    ] {
        assert_eq!(add_controller(&c, &app, name, host, "").await.status(), 303);
    }
    let (pin, instance) = (app.pin.clone(), app.instance_id.clone());
    app.stop().await;

    let app = TestAppliance::start(dir.path(), "127.0.0.12").await;
    assert_eq!(app.pin, pin, "same certificate key");
    assert_eq!(app.instance_id, instance);
    // Same cookie jar, new server process state: the session survived.
    let c = client_for(&app.pin, jar);
    let r = c.get(app.at("/controllers")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    for host in ["10.0.0.1", "10.0.0.2", "wlc-c.example.com"] {
        assert!(html.contains(host));
    }
    app.stop().await;
}
