//! The identity provider's published keys (a JSON Web Key Set): read at start, every five
//! minutes, and — at most every 30 seconds — when a token names a key not seen yet, so the
//! provider can rotate its signing keys without LAPOR being redeployed. Verification itself
//! stays synchronous: it only reads the set held in memory.

use super::AuthError;
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const REFRESH_EVERY: Duration = Duration::from_secs(300);
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);
const UNKNOWN_KEY_INTERVAL: Duration = Duration::from_secs(30);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A key set is a few KiB; anything much larger is not one.
const MAX_BYTES: usize = 256 * 1024;

pub struct KeySet {
    url: String,
    allowed: Vec<Algorithm>,
    client: reqwest13::Client,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_on_demand: Mutex<Option<Instant>>,
    /// Wakes the refresher early; the refresher holds it, not the set, so it ends once the
    /// set is dropped.
    wake: Arc<Notify>,
}

impl KeySet {
    /// The set, with its refresher running on the current tokio runtime.
    pub fn start(url: &str, allowed: &[Algorithm]) -> Result<Arc<KeySet>, AuthError> {
        reqwest13::Url::parse(url).map_err(|e| AuthError::Config(format!("jwks_url: {e}")))?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| AuthError::Config("reading a JWKS needs a tokio runtime".into()))?;
        let client = reqwest13::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| AuthError::Config(format!("jwks client: {e}")))?;
        let set = Arc::new(KeySet {
            url: url.to_owned(),
            allowed: allowed.to_vec(),
            client,
            keys: RwLock::new(HashMap::new()),
            last_on_demand: Mutex::new(None),
            wake: Arc::new(Notify::new()),
        });
        runtime.spawn(refresh(Arc::downgrade(&set), set.wake.clone()));
        Ok(set)
    }

    /// The key a token names by its `kid`.
    pub fn key_for(&self, token: &str) -> Result<DecodingKey, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let kid = header
            .kid
            .ok_or_else(|| AuthError::Invalid("the token names no signing key (kid)".into()))?;
        let known = self.keys.read().ok().and_then(|keys| keys.get(&kid).cloned());
        if let Some(key) = known {
            return Ok(key);
        }
        self.reload_soon();
        Err(AuthError::Invalid(format!(
            "unknown signing key {kid:?}; the identity provider's keys are being reloaded, retry shortly"
        )))
    }

    fn reload_soon(&self) {
        // Before the first load the refresher is trying anyway.
        if self.keys.read().map(|keys| keys.is_empty()).unwrap_or(true) {
            return;
        }
        let Ok(mut last) = self.last_on_demand.lock() else {
            return;
        };
        if last.is_none_or(|at| at.elapsed() >= UNKNOWN_KEY_INTERVAL) {
            *last = Some(Instant::now());
            self.wake.notify_one();
        }
    }

    async fn fetch(&self) -> Result<usize, String> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest13::Response::error_for_status)
            .map_err(|e| e.to_string())?;
        if response.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err("the key set is too large".into());
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > MAX_BYTES {
            return Err("the key set is too large".into());
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = &jwk.common.key_id else { continue };
            // Encryption keys, and keys for algorithms not allowed here, are never used.
            if jwk
                .common
                .public_key_use
                .as_ref()
                .is_some_and(|u| *u != PublicKeyUse::Signature)
            {
                continue;
            }
            if let Some(alg) = jwk.common.key_algorithm
                && Algorithm::from_str(&alg.to_string()).map_or(true, |a| !self.allowed.contains(&a))
            {
                continue;
            }
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid.clone(), key);
                }
                Err(error) => tracing::warn!(%kid, %error, "unusable key in the identity provider's JWKS"),
            }
        }
        if keys.is_empty() {
            return Err("no usable signing key in the set".into());
        }
        let count = keys.len();
        if let Ok(mut held) = self.keys.write() {
            *held = keys;
        }
        Ok(count)
    }
}

async fn refresh(set: Weak<KeySet>, wake: Arc<Notify>) {
    loop {
        let Some(current) = set.upgrade() else { return };
        let wait = match current.fetch().await {
            Ok(count) => {
                tracing::info!(url = %current.url, keys = count, "identity provider keys loaded");
                REFRESH_EVERY
            }
            // The keys held stay in use; tokens signed with them still verify.
            Err(error) => {
                tracing::error!(url = %current.url, %error, "cannot read the identity provider's keys");
                RETRY_AFTER_FAILURE
            }
        };
        drop(current);
        let _ = tokio::time::timeout(wait, wake.notified()).await;
    }
}
