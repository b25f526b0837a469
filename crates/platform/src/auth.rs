//! Bearer JWT authentication for officer and admin APIs (DESIGN §7): issuer, audience,
//! expiry and not-before are checked and only allow-listed algorithms are accepted (so a
//! token signed with `none` or with a symmetric algorithm against a public key is refused).
//! Locally a development HS256 secret signs tokens (`laporctl token`); production configures
//! the identity provider's public key, or its JWKS URL so that keys rotate without a
//! redeploy. Roles are scoped to one SKPD.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lapor_domain::reference::OfficerRole;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tonic::{Request, Status};

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    /// Allow-list, e.g. `["EdDSA"]` in production, `["HS256"]` with the development secret.
    pub algorithms: Vec<String>,
    /// Development only; secret: `LAPOR__AUTH__DEV_SECRET`.
    #[serde(default)]
    pub dev_secret: String,
    /// PEM public key for RS256/ES256/EdDSA tokens from the identity provider.
    #[serde(default)]
    pub public_key_pem: String,
    /// The identity provider's JSON Web Key Set (e.g. Keycloak's
    /// `…/realms/<realm>/protocol/openid-connect/certs`). When set it replaces
    /// `public_key_pem`: tokens must name their key (`kid`); the set is read at start, every
    /// five minutes, and at once (at most every 30 s) when a token names a key not yet seen.
    #[serde(default)]
    pub jwks_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("auth configuration: {0}")]
    Config(String),
}

/// Who is calling, from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub name: String,
    pub role: OfficerRole,
    /// SKPD the role is scoped to; `None` only for provincial roles (admin, pimpinan).
    pub skpd: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    #[serde(default)]
    name: String,
    role: String,
    #[serde(default)]
    skpd: Option<String>,
}

pub struct Authenticator {
    keys: Keys,
    validation: Validation,
}

enum Keys {
    Fixed(DecodingKey),
    Published(Arc<jwks::KeySet>),
}

impl Authenticator {
    pub fn new(settings: &AuthSettings) -> Result<Self, AuthError> {
        let algorithms: Vec<Algorithm> = settings
            .algorithms
            .iter()
            .map(|a| {
                a.parse::<Algorithm>()
                    .map_err(|_| AuthError::Config(format!("unknown algorithm {a:?}")))
            })
            .collect::<Result<_, _>>()?;
        let Some(first) = algorithms.first().copied() else {
            return Err(AuthError::Config("no algorithm allowed".into()));
        };
        let symmetric = |a: &Algorithm| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512);
        // One key family per deployment: mixing would let a public key be used as an HMAC secret.
        if algorithms.iter().any(symmetric) != algorithms.iter().all(symmetric) {
            return Err(AuthError::Config(
                "do not mix symmetric and asymmetric algorithms".into(),
            ));
        }
        // jsonwebtoken checks every allowed algorithm against the key's family, so a list
        // spanning two families would refuse every token.
        let family = |a: &Algorithm| match a {
            Algorithm::EdDSA => 0,
            Algorithm::ES256 | Algorithm::ES384 => 1,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => 2,
            _ => 3,
        };
        if algorithms.iter().any(|a| family(a) != family(&first)) {
            return Err(AuthError::Config(
                "allow algorithms of one key family (EdDSA, ES*, RS*/PS* or HS*)".into(),
            ));
        }
        let keys = if !settings.jwks_url.is_empty() {
            if symmetric(&first) {
                return Err(AuthError::Config(
                    "a JWKS holds public keys: allow asymmetric algorithms".into(),
                ));
            }
            Keys::Published(jwks::KeySet::start(&settings.jwks_url, &algorithms)?)
        } else if symmetric(&first) {
            if settings.dev_secret.len() < 32 {
                return Err(AuthError::Config("dev_secret must be at least 32 bytes".into()));
            }
            Keys::Fixed(DecodingKey::from_secret(settings.dev_secret.as_bytes()))
        } else {
            let pem = settings.public_key_pem.as_bytes();
            Keys::Fixed(
                match first {
                    Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
                    Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
                    _ => DecodingKey::from_rsa_pem(pem),
                }
                .map_err(|e| AuthError::Config(format!("public key: {e}")))?,
            )
        };
        let mut validation = Validation::new(first);
        validation.algorithms = algorithms;
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Ok(Self { keys, validation })
    }

    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let published;
        let key = match &self.keys {
            Keys::Fixed(key) => key,
            Keys::Published(set) => {
                published = set.key_for(token)?;
                &published
            }
        };
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let role = OfficerRole::parse(&claims.role)
            .ok_or_else(|| AuthError::Invalid(format!("unknown role {:?}", claims.role)))?;
        let provincial = matches!(role, OfficerRole::Admin | OfficerRole::Pimpinan);
        if !provincial && claims.skpd.as_deref().is_none_or(str::is_empty) {
            return Err(AuthError::Invalid(format!(
                "role {} needs an skpd claim",
                role.as_str()
            )));
        }
        Ok(Principal {
            subject: claims.sub,
            name: claims.name,
            role,
            skpd: claims.skpd.filter(|s| !s.is_empty()),
        })
    }

    /// Reads `authorization: Bearer <jwt>` and verifies it.
    pub fn authenticate<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated(AuthError::Missing.to_string()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("authorization must be 'Bearer <token>'"))?;
        self.verify(token).map_err(|e| Status::unauthenticated(e.to_string()))
    }
}

/// A tonic interceptor that rejects unauthenticated calls and leaves the [`Principal`] in the
/// request extensions for the handler.
pub fn interceptor(authenticator: Arc<Authenticator>) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |mut request: Request<()>| {
        let principal = authenticator.authenticate(&request)?;
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

/// Metadata header carrying the internal service token on service-to-service calls.
pub const SERVICE_TOKEN_HEADER: &str = "x-lapor-service-token";

/// A tonic interceptor for internal services: the caller must present `token` (a shared
/// secret from configuration) in [`SERVICE_TOKEN_HEADER`]. An empty configured token refuses
/// every call, so an unconfigured deployment exposes nothing.
pub fn service_interceptor(token: Arc<String>) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    use sha2::{Digest, Sha256};
    move |request: Request<()>| {
        if token.is_empty() {
            return Err(Status::permission_denied("internal service token is not configured"));
        }
        let presented = request
            .metadata()
            .get(SERVICE_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Status::unauthenticated("missing internal service token"))?;
        // Comparing digests: timing can reveal only where two hashes differ, nothing of the token.
        if Sha256::digest(presented.as_bytes()) == Sha256::digest(token.as_bytes()) {
            Ok(request)
        } else {
            Err(Status::unauthenticated("wrong internal service token"))
        }
    }
}

/// The principal the interceptor verified.
pub fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no verified principal"))
}

/// Mints a development token (HS256 with `dev_secret`) for `laporctl token` and tests.
pub fn mint_dev_token(settings: &AuthSettings, principal: &Principal, ttl_seconds: u64) -> Result<String, AuthError> {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = Claims {
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        sub: principal.subject.clone(),
        exp: now + ttl_seconds,
        nbf: now,
        iat: now,
        name: principal.name.clone(),
        role: principal.role.as_str().to_owned(),
        skpd: principal.skpd.clone(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(settings.dev_secret.as_bytes()),
    )
    .map_err(|e| AuthError::Invalid(e.to_string()))
}

mod jwks;

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AuthSettings {
        AuthSettings {
            issuer: "lapor-dev".into(),
            audience: "lapor".into(),
            algorithms: vec!["HS256".into()],
            dev_secret: "0123456789abcdef0123456789abcdef".into(),
            public_key_pem: String::new(),
            jwks_url: String::new(),
        }
    }

    fn penghubung() -> Principal {
        Principal {
            subject: "dinkes-penghubung1".into(),
            name: "Rina".into(),
            role: OfficerRole::Penghubung,
            skpd: Some("dinkes".into()),
        }
    }

    #[test]
    fn accepts_a_valid_token() {
        let token = mint_dev_token(&settings(), &penghubung(), 60).expect("mint");
        let auth = Authenticator::new(&settings()).expect("auth");
        assert_eq!(auth.verify(&token).expect("valid"), penghubung());
    }

    #[test]
    fn rejects_wrong_audience_issuer_key_expiry_and_alg_none() {
        let auth = Authenticator::new(&settings()).expect("auth");
        let other_audience = AuthSettings {
            audience: "someone-else".into(),
            ..settings()
        };
        assert!(
            auth.verify(&mint_dev_token(&other_audience, &penghubung(), 60).expect("mint"))
                .is_err()
        );
        let other_issuer = AuthSettings {
            issuer: "evil".into(),
            ..settings()
        };
        assert!(
            auth.verify(&mint_dev_token(&other_issuer, &penghubung(), 60).expect("mint"))
                .is_err()
        );
        let other_key = AuthSettings {
            dev_secret: "ffffffffffffffffffffffffffffffff".into(),
            ..settings()
        };
        assert!(
            auth.verify(&mint_dev_token(&other_key, &penghubung(), 60).expect("mint"))
                .is_err()
        );
        // Expired well beyond the leeway.
        let now = jsonwebtoken::get_current_timestamp();
        let expired = Claims {
            iss: "lapor-dev".into(),
            aud: "lapor".into(),
            sub: "x".into(),
            exp: now - 3600,
            nbf: now - 7200,
            iat: now - 7200,
            name: String::new(),
            role: "admin".into(),
            skpd: None,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &expired,
            &EncodingKey::from_secret(settings().dev_secret.as_bytes()),
        )
        .expect("encode");
        assert!(auth.verify(&token).is_err());
        // alg=none: header {"alg":"none"} with the same claims and no signature.
        let good = mint_dev_token(&settings(), &penghubung(), 60).expect("mint");
        let payload = good.split('.').nth(1).expect("payload");
        let none_token = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(auth.verify(&none_token).is_err());
    }

    #[test]
    fn scoped_roles_need_an_skpd() {
        let auth = Authenticator::new(&settings()).expect("auth");
        let unscoped = Principal {
            skpd: None,
            ..penghubung()
        };
        assert!(
            auth.verify(&mint_dev_token(&settings(), &unscoped, 60).expect("mint"))
                .is_err()
        );
    }

    /// Ed25519 test key of RFC 8037, appendix A.1: the private seed and the public `x`.
    const RFC8037_SEED: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn provider_token(kid: Option<&str>) -> String {
        use base64::Engine;
        let seed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(RFC8037_SEED)
            .expect("seed");
        // PKCS#8 wrapping of an Ed25519 seed.
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
        ];
        der.extend(seed);
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            iss: "lapor-dev".into(),
            aud: "lapor".into(),
            sub: "sso-officer-7".into(),
            exp: now + 600,
            nbf: now,
            iat: now,
            name: "Rina".into(),
            role: "penghubung".into(),
            skpd: Some("dinkes".into()),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&der)).expect("sign")
    }

    /// The identity provider's key set, served over HTTP; `kid` names its one key.
    async fn serve_jwks(kid: Arc<std::sync::Mutex<String>>, fetches: Arc<std::sync::atomic::AtomicUsize>) -> String {
        let app = axum::Router::new().route(
            "/certs",
            axum::routing::get(move || {
                let (kid, fetches) = (kid.clone(), fetches.clone());
                async move {
                    fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let kid = kid.lock().expect("kid").clone();
                    axum::Json(serde_json::json!({"keys": [
                        {"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "kid": kid, "use": "sig", "alg": "EdDSA"},
                        {"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "kid": "enc", "use": "enc"}
                    ]}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/certs")
    }

    async fn eventually_verifies(auth: &Authenticator, token: &str) -> Principal {
        for _ in 0..100 {
            if let Ok(principal) = auth.verify(token) {
                return principal;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        auth.verify(token).expect("verifies in time")
    }

    #[tokio::test]
    async fn verifies_with_the_identity_providers_published_keys_and_follows_rotation() {
        let kid = Arc::new(std::sync::Mutex::new("2026-11".to_owned()));
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let url = serve_jwks(kid.clone(), fetches.clone()).await;
        let auth = Authenticator::new(&AuthSettings {
            algorithms: vec!["EdDSA".into()],
            dev_secret: String::new(),
            jwks_url: url,
            ..settings()
        })
        .expect("auth");
        let principal = eventually_verifies(&auth, &provider_token(Some("2026-11"))).await;
        assert_eq!(
            (principal.subject.as_str(), principal.skpd.as_deref()),
            ("sso-officer-7", Some("dinkes"))
        );
        // No kid, a key used for encryption, a development HS256 token: refused.
        assert!(auth.verify(&provider_token(None)).is_err());
        assert!(auth.verify(&provider_token(Some("enc"))).is_err());
        let dev = mint_dev_token(&settings(), &penghubung(), 60).expect("mint");
        assert!(auth.verify(&dev).is_err());
        // The provider rotates: a token with the new key is refused once, the set is read
        // again at once, and the token verifies; the old key is gone.
        *kid.lock().expect("kid") = "2026-12".into();
        let before = fetches.load(std::sync::atomic::Ordering::SeqCst);
        let rotated = provider_token(Some("2026-12"));
        assert!(auth.verify(&rotated).is_err());
        eventually_verifies(&auth, &rotated).await;
        assert!(fetches.load(std::sync::atomic::Ordering::SeqCst) > before);
        assert!(auth.verify(&provider_token(Some("2026-11"))).is_err());
        // A JWKS with symmetric algorithms is a configuration error.
        assert!(
            Authenticator::new(&AuthSettings {
                jwks_url: "http://127.0.0.1:9/certs".into(),
                ..settings()
            })
            .is_err()
        );
    }

    #[test]
    fn refuses_weak_or_mixed_configuration() {
        let weak = AuthSettings {
            dev_secret: "short".into(),
            ..settings()
        };
        assert!(Authenticator::new(&weak).is_err());
        let mixed = AuthSettings {
            algorithms: vec!["HS256".into(), "RS256".into()],
            ..settings()
        };
        assert!(Authenticator::new(&mixed).is_err());
        let two_families = AuthSettings {
            algorithms: vec!["EdDSA".into(), "RS256".into()],
            public_key_pem: "unused".into(),
            ..settings()
        };
        assert!(Authenticator::new(&two_families).is_err());
    }
}
