//! The admin UI's certificate from an admin's own CA, over real HTTPS: the
//! appliance makes a key and a signing request, the CA (made here) signs
//! it, the chain is installed through the API, and the very next
//! connection is served with it, verified by a client that trusts only
//! that CA: no restart. A chain for another key, and the form without a
//! chain, are refused field by field and change nothing.

mod common;

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType, IsCa, Issuer,
    KeyPair,
};
use serde_json::json;

/// A client that trusts nothing but `ca_pem`.
fn trusting(ca_pem: &str) -> reqwest::Client {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(
        spaces_connector::tls::identity::crypto_provider(),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .pool_idle_timeout(spaces_connector::portal::server::CLIENT_POOL_IDLE)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_certificate_from_the_admins_ca_is_served_without_a_restart() {
    let c = ReadyAppliance::start("127.0.0.119").await;
    let shown = c.get_json("/api/v1/settings/web-certificate").await;
    assert_eq!(shown["certificate"]["self_signed"], true, "{shown}");

    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "Example Corp CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = p.self_signed(&ca_key).unwrap().pem();
    let ca = Issuer::new(p, ca_key);

    // Before: a client trusting only the CA refuses the self-signed one.
    let url = c.app.at("/login");
    assert!(trusting(&ca_pem).get(&url).send().await.is_err());

    let hostname = c.status().await["hostname"].as_str().unwrap().to_string();
    let r = c
        .http
        .post(c.app.at("/api/v1/settings/web-certificate/request"))
        .bearer_auth(&c.api)
        .json(&json!({"common_name": hostname, "names": "127.0.0.119"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csr: serde_json::Value = r.json().await.unwrap();
    let csr = csr["csr_pem"].as_str().unwrap();
    let signed = CertificateSigningRequestParams::from_pem(csr)
        .unwrap()
        .signed_by(&ca)
        .unwrap()
        .pem();

    let put = |body: serde_json::Value| {
        c.http
            .put(c.app.at("/api/v1/settings/web-certificate"))
            .bearer_auth(&c.api)
            .json(&body)
            .send()
    };
    // Refused: nothing pasted; a certificate for a key made elsewhere.
    let r = put(json!({})).await.unwrap();
    assert_eq!(r.status(), 422);
    let stranger = CertificateParams::new(vec!["127.0.0.119".to_string()])
        .unwrap()
        .signed_by(&KeyPair::generate().unwrap(), &ca)
        .unwrap()
        .pem();
    let r = put(json!({"chain_pem": stranger})).await.unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"]["fields"]["chain_pem"]
            .as_str()
            .unwrap()
            .contains("signing request"),
        "{body}"
    );
    assert!(
        trusting(&ca_pem).get(&url).send().await.is_err(),
        "nothing changed"
    );

    let r = put(json!({"chain_pem": format!("{signed}{ca_pem}")}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let shown: serde_json::Value = r.json().await.unwrap();
    assert_eq!(shown["certificate"]["self_signed"], false, "{shown}");
    assert_eq!(shown["certificate"]["chain_length"], 2);
    assert_eq!(shown["pending_request"], serde_json::Value::Null);

    // The next connection, same process: verified against the CA alone.
    let r = trusting(&ca_pem).get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let shown: serde_json::Value = json_of(
        trusting(&ca_pem)
            .get(c.app.at("/api/v1/settings/web-certificate"))
            .bearer_auth(&c.api),
    )
    .await;
    assert!(
        shown["certificate"]["issuer"]
            .as_str()
            .unwrap()
            .contains("Example Corp CA"),
        "{shown}"
    );
    c.app.stop().await;
}
