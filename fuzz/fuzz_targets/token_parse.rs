//! Fuzz target: arbitrary text as a connector token, the way the token page,
//! the API and the console take it: parsing never panics, and whatever
//! parses is checked against a cloud's key without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spaces_connector::contract::token::{Token, TokenSigner};
use std::sync::LazyLock;

static SIGNER: LazyLock<TokenSigner> = LazyLock::new(|| TokenSigner::generate().0);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(token) = Token::parse(text) {
        let _ = token.check_expiry(0);
        let _ = SIGNER.verify(text, 0);
    }
});
