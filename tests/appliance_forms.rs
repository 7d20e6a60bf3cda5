//! The appliance's forms and JSON API over real HTTPS: validation errors
//! that keep the input and store nothing, escaping, delete confirmation,
//! API tokens, and the token page's precise errors.

mod common;

use common::*;
use spaces_connector::contract::token::{TokenSigner, example_claims};

#[tokio::test]
async fn controller_form_validation_keeps_input_and_stores_nothing() {
    let (_dir, app, c) = fresh("127.0.0.6").await;
    set_up(&c, &app).await;
    let api = api_token(&c, &app).await;

    let r = add_controller(&c, &app, "WLC 1", "10.0.0.300", "16113").await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"id="host-error""#),
        "error shown next to the host field"
    );
    assert!(html.contains(r#"value="10.0.0.300""#), "input kept");
    assert!(html.contains(r#"value="WLC 1""#), "other fields kept");

    for (port, field) in [
        ("0", "port-error"),
        ("70000", "port-error"),
        ("abc", "port-error"),
    ] {
        let html = add_controller(&c, &app, "WLC", "10.0.0.1", port)
            .await
            .text()
            .await
            .unwrap();
        assert!(html.contains(field), "port {port}");
    }
    let html = add_controller(&c, &app, "  ", "10.0.0.1", "16113")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("name-error"));
    assert_eq!(controller_count(&c, &app, &api).await, 0);

    assert_eq!(
        add_controller(&c, &app, "WLC 1", "10.0.0.1", "")
            .await
            .status(),
        303
    );
    let dup = add_controller(&c, &app, "wlc 1", "10.0.0.2", "16113").await;
    assert_eq!(dup.status(), 422);
    assert!(dup.text().await.unwrap().contains("already exists"));
    let dup_addr = add_controller(&c, &app, "Other", "10.0.0.1", "16113").await;
    assert!(
        dup_addr
            .text()
            .await
            .unwrap()
            .contains("already configured")
    );

    let huge = "x".repeat(1024 * 1024);
    let token = csrf(&c, &app, "/controllers").await;
    let r = c
        .post(app.at("/controllers"))
        .form(&[
            ("csrf", token.as_str()),
            ("name", &huge),
            ("host", "10.0.0.9"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = c
        .post(app.at("/api/v1/controllers"))
        .bearer_auth(&api)
        .header("content-type", "application/json")
        .body(format!(r#"{{"name":"{huge}","host":"10.0.0.9"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(controller_count(&c, &app, &api).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn controller_names_are_escaped_and_delete_asks_first() {
    let (_dir, app, c) = fresh("127.0.0.7").await;
    set_up(&c, &app).await;
    let evil = r#"<script>alert("x")</script>"#;
    assert_eq!(
        add_controller(&c, &app, evil, "wlc.example.com", "")
            .await
            .status(),
        303
    );
    let html = c
        .get(app.at("/controllers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains(evil));
    assert!(html.contains("&#60;script&#62;"), "escaped");

    let start = html.find("href=\"/controllers/").unwrap() + "href=\"".len();
    let href = &html[start..start + html[start..].find('"').unwrap()];
    assert!(href.ends_with("/delete"));
    let confirm = c
        .get(app.at(href))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(confirm.contains("Delete"));
    assert!(confirm.contains("&#60;script&#62;"));
    let r = c
        .post(app.at(href))
        .form(&[("csrf", csrf_of(&confirm))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let html = c
        .get(app.at("/controllers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("No controllers yet"));
    assert!(html.contains("config auth-list add sha256-lbs-ssc"));
    app.stop().await;
}

#[tokio::test]
async fn api_token_and_session_auth() {
    let (_dir, app, c) = fresh("127.0.0.8").await;
    set_up(&c, &app).await;
    let api = api_token(&c, &app).await;
    assert!(api.starts_with("scapi_"));
    let anon = app.client();

    let r = anon
        .get(app.at("/api/v1/controllers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "unauthorized");
    let r = anon
        .get(app.at("/api/v1/controllers"))
        .bearer_auth("scapi_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let r = anon
        .post(app.at("/api/v1/controllers"))
        .bearer_auth(&api)
        .json(&serde_json::json!({"name": "WLC A", "host": "10.1.1.1", "port": 16113, "kind": "catalyst9800"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    assert_eq!(created["kind"], "catalyst9800");

    let r = anon
        .post(app.at("/api/v1/controllers"))
        .bearer_auth(&api)
        .json(&serde_json::json!({"name": "", "host": "999.1.1.1", "port": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "validation_failed");
    for f in ["name", "host", "port"] {
        assert!(e["error"]["fields"][f].is_string(), "field {f}: {e}");
    }
    let r = anon
        .post(app.at("/api/v1/controllers"))
        .bearer_auth(&api)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A browser session may read, but must send its CSRF token to write.
    assert_eq!(
        c.get(app.at("/api/v1/status"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = c
        .post(app.at("/api/v1/controllers"))
        .json(&serde_json::json!({"name": "B", "host": "10.1.1.2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let id = created["id"].as_i64().unwrap();
    let r = anon
        .delete(app.at(&format!("/api/v1/controllers/{id}")))
        .bearer_auth(&api)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(controller_count(&c, &app, &api).await, 0);
    app.stop().await;
}

#[tokio::test]
async fn token_page_stores_good_tokens_and_explains_bad_ones() {
    let (_dir, app, c) = fresh("127.0.0.9").await;
    set_up(&c, &app).await;
    let (signer, _) = TokenSigner::generate();
    let good = signer.issue(example_claims("https://127.0.0.1:9", &"ab".repeat(32)));

    let truncated = good[..good.len() - 20].to_string();
    let r = paste_token(&c, &app, &truncated).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("truncated"), "precise error");
    assert!(html.contains(&truncated), "input kept");
    let r = paste_token(&c, &app, &good.replacen("SCT1", "SCT9", 1)).await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("version 9 is not supported")
    );
    let r = paste_token(&c, &app, "garbage token").await;
    assert_eq!(r.status(), 422);
    let stored: serde_json::Value = json_of(c.get(app.at("/api/v1/token"))).await;
    assert!(stored["token"].is_null(), "nothing stored on error");

    let r = paste_token(&c, &app, &good).await;
    assert_eq!(r.status(), 303);
    let html = c
        .get(app.at("/token"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("7f1c2a4e-0b7d-4f57-9a43-2f0b5c9d1e11"));
    assert!(html.contains("HQ connectors"));
    assert!(html.contains("https://127.0.0.1:9"));
    let dash = c
        .get(app.at("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(dash.contains("Example Corp"));
    app.stop().await;
}

/// The re-key form: refused with a reason beside each field while the
/// admin has not confirmed (the key stays), then a new key, a notice
/// saying every controller must authorise it, and the new hash shown.
#[tokio::test]
async fn the_rekey_form_wants_confirmation_then_replaces_the_key() {
    let (_dir, app, c) = fresh("127.0.0.114").await;
    set_up(&c, &app).await;
    let before = app.key_hash();
    let url = app.at("/controllers");
    let r = submit(
        &c,
        &url,
        &app.at("/identity/rekey"),
        &[("key_type", "rsa-2048")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"confirm-error\""), "{html}");
    assert!(!html.contains("id=\"key_type-error\""));
    assert_eq!(app.key_hash(), before, "nothing changed");

    let r = submit(
        &c,
        &url,
        &app.at("/identity/rekey"),
        &[("key_type", "ecdsa-p256"), ("confirm", "yes")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let html = page(&c, &app.at(&to)).await;
    let after = app.key_hash();
    assert_ne!(after, before);
    assert!(
        html.contains("Every controller must now authorise"),
        "{html}"
    );
    assert!(html.contains(&format!("id=\"key-hash\">{after}<")));
    assert!(html.contains("id=\"key-type\">ECDSA P-256<"));
    app.stop().await;
}

/// The dashboard and the API say whether the clock is synchronised, as
/// the time service (timedatectl) tells it, and the dashboard warns
/// whenever it is not known to be: here, usually, no time service answers.
#[tokio::test]
async fn the_dashboard_says_whether_the_clock_is_synchronised() {
    let c = ReadyAppliance::start("127.0.0.118").await;
    let clock = c.status().await["clock"].clone();
    let detail = clock["detail"].as_str().unwrap();
    assert!(!detail.is_empty(), "{clock}");
    let dash = c.page("/").await;
    let synchronised = clock["synchronised"] == true;
    assert_eq!(
        dash.contains("id=\"clock-warning\""),
        !synchronised,
        "warned unless synchronised: {clock}"
    );
    assert!(dash.contains("id=\"clock-sync\""));
    if !synchronised {
        assert!(dash.contains(detail), "the reason is shown: {detail}");
    }
    println!("clock here: {clock}");
    c.app.stop().await;
}

/// The System page's certificate and proxy forms: refused beside the
/// field, then a signing request shown on the page to copy; a pasted
/// chain that is not PEM is refused and shown again.
#[tokio::test]
async fn the_system_page_makes_a_signing_request_and_checks_what_is_pasted() {
    let (_dir, app, c) = fresh("127.0.0.120").await;
    set_up(&c, &app).await;
    let url = app.at("/system");
    let r = submit(
        &c,
        &url,
        &app.at("/system/certificate/request"),
        &[("common_name", "no spaces allowed")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"common_name-error\""));
    let r = submit(
        &c,
        &url,
        &app.at("/system/certificate/request"),
        &[
            ("common_name", "connector.example.test"),
            ("names", "10.0.0.5"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let html = page(&c, &url).await;
    assert!(
        html.contains("<pre class=\"wrap\" id=\"csr\">-----BEGIN CERTIFICATE REQUEST-----"),
        "{html}"
    );
    let r = submit(
        &c,
        &url,
        &app.at("/system/certificate"),
        &[("chain_pem", "not pem")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"chain_pem-error\"") && html.contains(">not pem</textarea>"));
    let r = submit(
        &c,
        &url,
        &app.at("/system/proxy"),
        &[("url", "http://proxy.example.com:3128/x")],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"url-error\""));
    app.stop().await;
}
