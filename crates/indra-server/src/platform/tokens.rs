//! Access tokens (HS256 JWTs with Supabase-compatible claims) and opaque refresh tokens.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The claims of an access token. `sub`, `role` and `aud` are what Supabase Auth issues too, so
/// its tokens are accepted with the same secret; `org_id` and `user_role` are informational for
/// clients: each request reads the caller's organization and role from the database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub role: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_role: Option<String>,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &[u8], access_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&["authenticated"]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl,
        }
    }

    /// A signed access token for `sub`, valid for the configured time from `now` (Unix seconds).
    pub fn issue(
        &self,
        sub: Uuid,
        org_id: Uuid,
        user_role: &str,
        now: u64,
    ) -> anyhow::Result<String> {
        let claims = AccessClaims {
            sub,
            role: "authenticated".into(),
            aud: "authenticated".into(),
            iat: now,
            exp: now + self.access_ttl.as_secs(),
            org_id: Some(org_id),
            user_role: Some(user_role.to_owned()),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// The claims of a token with a valid signature, audience and expiry; `None` otherwise.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        (claims.role == "authenticated").then_some(claims)
    }
}

/// A new opaque secret (refresh token, session id): 32 random bytes, URL-safe base64.
pub fn new_opaque_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What is stored of an opaque secret: its SHA-256.
pub fn opaque_token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes!!";

    #[test]
    fn a_token_verifies_with_its_secret_only() {
        let keys = TokenKeys::new(SECRET, Duration::from_secs(900));
        let sub = Uuid::new_v4();
        let token = keys
            .issue(sub, Uuid::new_v4(), "provider", unix_now())
            .unwrap();
        assert_eq!(keys.verify(&token).unwrap().sub, sub);
        let other = TokenKeys::new(
            b"another-secret-of-at-least-32-bytes!",
            Duration::from_secs(900),
        );
        assert_eq!(other.verify(&token), None, "forged with another key");
        let mut tampered = token.clone();
        tampered.replace_range(tampered.len() - 2.., "xx");
        assert_eq!(keys.verify(&tampered), None);
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = TokenKeys::new(SECRET, Duration::from_secs(60));
        let token = keys
            .issue(Uuid::new_v4(), Uuid::new_v4(), "staff", unix_now() - 3600)
            .unwrap();
        assert_eq!(keys.verify(&token), None);
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let a = new_opaque_token().unwrap();
        let b = new_opaque_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(opaque_token_hash(&a).len(), 32);
        assert_ne!(opaque_token_hash(&a), a.as_bytes());
    }
}
