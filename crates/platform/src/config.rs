//! Configuration layers (DESIGN §8): built-in defaults < `deploy/config/common.toml` <
//! `deploy/config/<service>.toml` < environment `LAPOR__SECTION__KEY`. The config directory
//! is `LAPOR_CONFIG_DIR` (default `deploy/config`); missing files are skipped. Secrets come
//! only from the environment.

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::path::PathBuf;

pub fn load<T: DeserializeOwned>(service: &str, defaults: &str) -> Result<T, config::ConfigError> {
    let dir = PathBuf::from(std::env::var("LAPOR_CONFIG_DIR").unwrap_or_else(|_| "deploy/config".into()));
    Config::builder()
        .add_source(File::from_str(defaults, FileFormat::Toml))
        .add_source(File::from(dir.join("common.toml")).required(false))
        .add_source(File::from(dir.join(format!("{service}.toml"))).required(false))
        .add_source(
            Environment::with_prefix("LAPOR")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                // Lists set from the environment are comma-separated: LAPOR__AUTH__ALGORITHMS=HS256.
                .list_separator(",")
                .with_list_parse_key("auth.algorithms")
                .with_list_parse_key("quiet_hours.urgent_levels")
                .with_list_parse_key("open311.api_keys"),
        )
        .build()?
        .try_deserialize()
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `postgres://user@host:port/dbname`; the database is created when missing.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    pub url: String,
    /// Deliveries this replica handles at once, all its consumers together (each is its
    /// own database transaction, so keep it below `database.max_connections`); one
    /// consumer alone may use them all.
    #[serde(default = "default_consumer_concurrency")]
    pub consumer_concurrency: usize,
}

fn default_consumer_concurrency() -> usize {
    8
}

#[derive(Debug, Clone, Deserialize)]
pub struct ListenSettings {
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeedSettings {
    /// Directory with the reference data files (`deploy/seed`).
    pub dir: PathBuf,
}

/// Where another service's internal RPCs are served and the secret they take
/// (`x-lapor-service-token`), e.g. intake's reporter contacts and attachments.
#[derive(Debug, Clone, Deserialize)]
pub struct InternalPeerSettings {
    /// gRPC address, e.g. `http://lapor-intake:50051`.
    pub url: String,
    /// Shared secret; empty turns the calls off.
    #[serde(default)]
    pub service_token: String,
}

impl InternalPeerSettings {
    /// A channel that connects on first use, so a service starts while its peer is down.
    pub fn lazy_channel(&self) -> anyhow::Result<tonic::transport::Channel> {
        self.lazy_channel_with_timeout(std::time::Duration::from_secs(10))
    }

    /// For calls that carry files: megabytes to store before the answer.
    pub fn lazy_channel_with_timeout(&self, timeout: std::time::Duration) -> anyhow::Result<tonic::transport::Channel> {
        Ok(tonic::transport::Endpoint::from_shared(self.url.clone())?
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(timeout)
            .connect_lazy())
    }

    /// The token as request metadata.
    pub fn token(&self) -> anyhow::Result<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> {
        Ok(self.service_token.parse()?)
    }
}
