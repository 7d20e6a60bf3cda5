//! The connector token (DESIGN.md §3.2): made and signed by the cloud,
//! pasted into a connector, checked by both.
//!
//! Shape: `SCT<version>.<payload>.<signature>`, each part base64url without
//! padding. The payload is JSON (`Claims`); the signature is Ed25519 over
//! `SCT<version>.<payload>`. The signing public key travels in the claims, so
//! a connector can tell a token that was altered or copied incompletely
//! from a good one before storing anything; whether that key really is the
//! cloud's is checked by the cloud at registration (`TokenSigner::verify`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{self, Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

/// The only token format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const PREFIX: &str = "SCT";
/// Tokens are pasted into forms; anything longer is not a token.
pub const MAX_LEN: usize = 4096;

/// Which kind of network the connector group serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkKind {
    Wireless,
    Wired,
}

impl NetworkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkKind::Wireless => "wireless",
            NetworkKind::Wired => "wired",
        }
    }

    pub fn parse(s: &str) -> Option<NetworkKind> {
        match s.trim() {
            "wireless" => Some(NetworkKind::Wireless),
            "wired" => Some(NetworkKind::Wired),
            _ => None,
        }
    }
}

/// What a token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub tenant_id: String,
    pub tenant_name: String,
    pub group_id: String,
    /// The connector name the operator typed when creating the token.
    pub group_name: String,
    pub kind: NetworkKind,
    /// Base URL of the cloud API, `https://host[:port]`.
    pub cloud_url: String,
    /// SHA-256 (hex) of the cloud's TLS SubjectPublicKeyInfo.
    pub cloud_pin: String,
    /// The cloud's Ed25519 token-signing public key, base64url.
    pub signing_key: String,
    /// Shared secret presented at registration, base64url.
    pub secret: String,
    pub issued_at: i64,
    /// Unix seconds after which the cloud no longer accepts the token.
    pub expires_at: Option<i64>,
}

/// A token whose shape and signature checked out.
#[derive(Debug, Clone)]
pub struct Token {
    pub raw: String,
    pub claims: Claims,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is empty: paste the token created in the cloud")]
    Empty,
    #[error("the token is too long ({0} characters): it is not a connector token")]
    TooLong(usize),
    #[error(
        "the token contains a space, line break or non-printable character at position {0}: paste it as one line"
    )]
    BadCharacter(usize),
    #[error("this is not a Spaces Connector token: it should start with \"SCT1.\"")]
    NotAToken,
    #[error("token format version {0} is not supported: this connector reads version 1")]
    UnsupportedVersion(String),
    #[error(
        "the token is truncated: {0} of its 3 parts are present; copy the whole token from the cloud"
    )]
    Truncated(usize),
    #[error("the token's {0} is not valid base64url: it was altered or copied incompletely")]
    BadEncoding(&'static str),
    #[error("the token's contents are invalid: {0}")]
    BadClaims(String),
    #[error("the token is truncated: its signature has {0} of 86 characters")]
    TruncatedSignature(usize),
    #[error("the token's signature does not match its contents: it was altered")]
    Tampered,
    #[error("the token expired at {0}: create a new one in the cloud")]
    Expired(String),
    #[error("the token was not issued by this cloud")]
    Foreign,
}

impl Token {
    /// Checks everything a connector can check alone; nothing is stored here.
    pub fn parse(input: &str) -> Result<Token, TokenError> {
        let raw = input.trim();
        if raw.is_empty() {
            return Err(TokenError::Empty);
        }
        if raw.len() > MAX_LEN {
            return Err(TokenError::TooLong(raw.len()));
        }
        if let Some(pos) = raw.chars().position(|c| !c.is_ascii_graphic()) {
            return Err(TokenError::BadCharacter(pos + 1));
        }
        let parts: Vec<&str> = raw.split('.').collect();
        let version = parts[0].strip_prefix(PREFIX).ok_or(TokenError::NotAToken)?;
        if version != FORMAT_VERSION.to_string() {
            return Err(
                if version.chars().all(|c| c.is_ascii_digit()) && !version.is_empty() {
                    TokenError::UnsupportedVersion(version.to_string())
                } else {
                    TokenError::NotAToken
                },
            );
        }
        if parts.len() < 3 || parts[1].is_empty() || parts[2].is_empty() {
            let present = parts.iter().filter(|p| !p.is_empty()).count();
            return Err(TokenError::Truncated(present.min(2)));
        }
        if parts.len() > 3 {
            return Err(TokenError::BadClaims("it has more than 3 parts".into()));
        }
        // An Ed25519 signature is 64 bytes: 86 base64url characters. A
        // shorter one is the usual sign of a token cut off while copying.
        if parts[2].len() < 86 {
            return Err(TokenError::TruncatedSignature(parts[2].len()));
        }
        let payload = B64
            .decode(parts[1])
            .map_err(|_| TokenError::BadEncoding("contents"))?;
        let sig = B64
            .decode(parts[2])
            .map_err(|_| TokenError::BadEncoding("signature"))?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|e| {
            if e.is_eof() {
                TokenError::Truncated(2)
            } else {
                TokenError::BadClaims(e.to_string())
            }
        })?;
        claims.check()?;
        if sig.len() != 64 {
            return Err(TokenError::BadEncoding("signature"));
        }
        let key = B64
            .decode(&claims.signing_key)
            .map_err(|_| TokenError::BadClaims("signing key is not base64url".into()))?;
        let signed = signed_part(parts[0], parts[1]);
        signature::UnparsedPublicKey::new(&signature::ED25519, key)
            .verify(signed.as_bytes(), &sig)
            .map_err(|_| TokenError::Tampered)?;
        Ok(Token {
            raw: raw.to_string(),
            claims,
        })
    }

    /// Refuses a token past its expiry (checked by the cloud; shown by the
    /// connector).
    pub fn check_expiry(&self, now: i64) -> Result<(), TokenError> {
        match self.claims.expires_at {
            Some(exp) if now > exp => Err(TokenError::Expired(crate::clock::format_unix(exp))),
            _ => Ok(()),
        }
    }
}

impl Claims {
    fn check(&self) -> Result<(), TokenError> {
        let bad = |what: &str| Err(TokenError::BadClaims(what.to_string()));
        for (name, value) in [
            ("tenant id", &self.tenant_id),
            ("tenant name", &self.tenant_name),
            ("group id", &self.group_id),
            ("connector name", &self.group_name),
            ("secret", &self.secret),
        ] {
            if value.trim().is_empty() || value.len() > 256 {
                return bad(&format!("{name} is missing or too long"));
            }
        }
        let Some(rest) = self.cloud_url.strip_prefix("https://") else {
            return bad("the cloud URL must start with https://");
        };
        if rest.is_empty() || rest.contains(char::is_whitespace) {
            return bad("the cloud URL has no host");
        }
        if self.cloud_pin.len() != 64 || !self.cloud_pin.chars().all(|c| c.is_ascii_hexdigit()) {
            return bad("the cloud key pin must be 64 hex characters (SHA-256)");
        }
        Ok(())
    }
}

fn signed_part(head: &str, payload: &str) -> String {
    format!("{head}.{payload}")
}

/// The cloud's token signing key.
pub struct TokenSigner {
    key: Ed25519KeyPair,
}

impl TokenSigner {
    /// Makes a new key; returns it with its PKCS#8 bytes for storage.
    pub fn generate() -> (TokenSigner, Vec<u8>) {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .expect("the system random source is available")
            .as_ref()
            .to_vec();
        let signer = TokenSigner::from_pkcs8(&pkcs8).expect("freshly generated key parses");
        (signer, pkcs8)
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<TokenSigner, String> {
        Ed25519KeyPair::from_pkcs8(pkcs8)
            .map(|key| TokenSigner { key })
            .map_err(|e| e.to_string())
    }

    /// The public key as it appears in `Claims::signing_key`.
    pub fn public_key(&self) -> String {
        B64.encode(self.key.public_key().as_ref())
    }

    /// Signs `claims` (whose `signing_key` is set to this key) into a token.
    pub fn issue(&self, mut claims: Claims) -> String {
        claims.signing_key = self.public_key();
        let head = format!("{PREFIX}{FORMAT_VERSION}");
        let payload = B64.encode(serde_json::to_vec(&claims).expect("claims serialise"));
        let signed = signed_part(&head, &payload);
        let sig = B64.encode(self.key.sign(signed.as_bytes()).as_ref());
        format!("{signed}.{sig}")
    }

    /// Full check at registration: shape, signature, issuer and expiry.
    pub fn verify(&self, input: &str, now: i64) -> Result<Token, TokenError> {
        let token = Token::parse(input)?;
        if token.claims.signing_key != self.public_key() {
            return Err(TokenError::Foreign);
        }
        token.check_expiry(now)?;
        Ok(token)
    }
}

/// Claims for tests and examples: a well-formed token for a made-up cloud.
pub fn example_claims(cloud_url: &str, cloud_pin: &str) -> Claims {
    Claims {
        tenant_id: "7f1c2a4e-0b7d-4f57-9a43-2f0b5c9d1e11".into(),
        tenant_name: "Example Corp".into(),
        group_id: "3c9e5b1a-6d2f-4e8a-b7c4-1a2b3c4d5e6f".into(),
        group_name: "HQ connectors".into(),
        kind: NetworkKind::Wireless,
        cloud_url: cloud_url.into(),
        cloud_pin: cloud_pin.into(),
        signing_key: String::new(),
        secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ".into(),
        issued_at: 1_700_000_000,
        expires_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> (TokenSigner, String) {
        let (signer, _) = TokenSigner::generate();
        let token = signer.issue(example_claims(
            "https://cloud.example:9443",
            &"ab".repeat(32),
        ));
        (signer, token)
    }

    #[test]
    fn issued_token_parses_and_verifies() {
        let (signer, token) = good();
        let parsed = Token::parse(&token).unwrap();
        assert_eq!(parsed.claims.tenant_name, "Example Corp");
        assert!(token.starts_with("SCT1."));
        signer.verify(&token, 0).unwrap();
        assert!(token.chars().all(|c| c.is_ascii_graphic()));
    }

    #[test]
    fn precise_errors_for_broken_tokens() {
        let (_, token) = good();
        assert!(matches!(Token::parse("  "), Err(TokenError::Empty)));
        assert!(matches!(Token::parse("hello"), Err(TokenError::NotAToken)));
        assert!(matches!(
            Token::parse(&token.replacen("SCT1", "SCT2", 1)),
            Err(TokenError::UnsupportedVersion(v)) if v == "2"
        ));
        let cut = &token[..token.rfind('.').unwrap()];
        assert!(matches!(Token::parse(cut), Err(TokenError::Truncated(2))));
        let short_sig = &token[..token.len() - 10];
        assert!(matches!(
            Token::parse(short_sig),
            Err(TokenError::TruncatedSignature(_))
        ));
        assert!(matches!(
            Token::parse(&format!("{} x", token)),
            Err(TokenError::BadCharacter(_))
        ));
    }

    #[test]
    fn altered_payload_is_tampered() {
        let (_, token) = good();
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: Claims = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        claims.tenant_name = "Evil Corp".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(serde_json::to_vec(&claims).unwrap()),
            parts[2]
        );
        assert_eq!(Token::parse(&forged).unwrap_err(), TokenError::Tampered);
    }

    #[test]
    fn another_clouds_token_is_foreign_and_expiry_is_checked() {
        let (signer, _) = TokenSigner::generate();
        let (other, _) = TokenSigner::generate();
        let mut claims = example_claims("https://c:1", &"00".repeat(32));
        let foreign = other.issue(claims.clone());
        assert_eq!(signer.verify(&foreign, 0).unwrap_err(), TokenError::Foreign);
        claims.expires_at = Some(100);
        let expiring = signer.issue(claims);
        assert!(signer.verify(&expiring, 50).is_ok());
        assert!(matches!(
            signer.verify(&expiring, 150),
            Err(TokenError::Expired(_))
        ));
    }

    #[test]
    fn random_garbage_never_panics() {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for len in 0..400 {
            let s: String = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (b' ' + (x % 95) as u8) as char
                })
                .collect();
            let _ = Token::parse(&s);
            let _ = Token::parse(&format!("SCT1.{s}.{s}"));
        }
    }
}
