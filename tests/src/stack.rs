//! One complete LAPOR system inside the test process.

use crate::mailbox::SmtpSink;
use crate::rabbit;
use lapor_domain::reference::OfficerRole;
use lapor_platform::Listeners;
use lapor_platform::auth::{AuthSettings, Principal};
use lapor_platform::config::{AmqpSettings, DatabaseSettings, ListenSettings, SeedSettings};
use lapor_proto::analytics::v1::analytics_service_client::AnalyticsServiceClient;
use lapor_proto::intake::v1::intake_service_client::IntakeServiceClient;
use lapor_proto::notification::v1::notification_service_client::NotificationServiceClient;
use lapor_proto::routing::v1::directory_service_client::DirectoryServiceClient;
use lapor_proto::routing::v1::policy_service_client::PolicyServiceClient;
use lapor_proto::routing::v1::routing_service_client::RoutingServiceClient;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub const SERVICES: [&str; 4] = ["intake", "routing", "notification", "analytics"];
pub const TEST_VAULT_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
pub const TEST_AUTH_SECRET: &str = "test-only-secret-0123456789abcdef0123";

pub fn auth_settings() -> AuthSettings {
    AuthSettings {
        issuer: "lapor-test".into(),
        audience: "lapor".into(),
        algorithms: vec!["HS256".into()],
        dev_secret: TEST_AUTH_SECRET.into(),
        public_key_pem: String::new(),
        jwks_url: String::new(),
    }
}

/// A valid bearer token for `role`, scoped to `skpd` (None for provincial roles).
pub fn token(role: OfficerRole, skpd: Option<&str>) -> String {
    let principal = Principal {
        subject: format!("test-{}-{}", role.as_str(), skpd.unwrap_or("prov")),
        name: format!("Test {}", role.as_str()),
        role,
        skpd: skpd.map(str::to_owned),
    };
    lapor_platform::auth::mint_dev_token(&auth_settings(), &principal, 3600).expect("mint test token")
}

/// Wraps a request with `authorization: Bearer <token>`.
pub fn authorized<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = format!("Bearer {token}").parse().expect("ascii token");
    request.metadata_mut().insert("authorization", value);
    request
}

/// What the test's SMS aggregator presents to intake's webhook.
pub const TEST_SMS_WEBHOOK_TOKEN: &str = "test-sms-webhook-token";

/// The key the test's Open311 client POSTs with, and the jurisdiction it names.
pub const TEST_OPEN311_API_KEY: &str = "test-open311-api-key";
pub const TEST_OPEN311_JURISDICTION: &str = "kalselprov.go.id";

/// Shared by intake and notification for reporter-contact lookups.
pub const TEST_SERVICE_TOKEN: &str = "test-internal-service-token";

/// The vendor TLV the simulator and notification agree on for idempotency keys.
pub const SMS_IDEMPOTENCY_TLV: u16 = 0x1401;

pub fn smsc_config() -> lapor_smpp::sim::SmscConfig {
    lapor_smpp::sim::SmscConfig {
        system_id: "lapor".into(),
        password: "lapor".into(),
        faults: lapor_smpp::sim::Faults::default(),
        idempotency_tlv: Some(SMS_IDEMPOTENCY_TLV),
    }
}

pub fn smpp_settings(addr: std::net::SocketAddr) -> lapor_notification::channels::smpp::SmppSettings {
    lapor_notification::channels::smpp::SmppSettings {
        addr: addr.to_string(),
        system_id: "lapor".into(),
        password: "lapor".into(),
        system_type: String::new(),
        bind: "transceiver".into(),
        source_addr: "1708".into(),
        window: 10,
        max_per_second: 200,
        enquire_link_seconds: 30,
        response_timeout_ms: 5_000,
        idempotency_tlv: Some(SMS_IDEMPOTENCY_TLV),
        max_segments: 6,
    }
}

static STACK_COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct StackConfig {
    pub name: &'static str,
    /// Pool size per service; small, so parallel suites fit PostgreSQL's 100 connections.
    pub max_connections: u32,
    /// Intake's abuse limits; generous by default, as every suite submits from 127.0.0.1.
    pub limits: lapor_intake::limits::LimitSettings,
    /// Analytics' leadership digests; off by default so other suites' mailboxes stay quiet.
    pub digest: lapor_analytics::digest::DigestSettings,
    /// Most bytes of attachments per submission (10 MiB, as deployed, by default).
    pub attachment_bytes: usize,
}

impl StackConfig {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            max_connections: 4,
            limits: lapor_intake::limits::LimitSettings {
                per_ip_per_minute: 10_000,
                per_contact_per_hour: 10_000,
                trusted_proxies: Vec::new(),
                code_attempts_per_hour: 10_000,
            },
            digest: lapor_analytics::digest::DigestSettings {
                enabled: false,
                send_hour: 7,
                poll_seconds: 60,
                dashboard_url: String::new(),
            },
            attachment_bytes: 10 * 1024 * 1024,
        }
    }
}

struct Running {
    stop: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
    grpc_port: u16,
    http_port: u16,
}

pub struct Stack {
    pub prefix: String,
    pub vhost: String,
    pub smtp: SmtpSink,
    /// The SMSC simulator: a real SMPP peer on loopback that notification binds to.
    pub smsc: lapor_smpp::sim::Smsc,
    limits: lapor_intake::limits::LimitSettings,
    digest: lapor_analytics::digest::DigestSettings,
    attachment_bytes: usize,
    running: HashMap<&'static str, Running>,
    _maildir: tempdir::TempDirGuard,
    /// Intake's attachment store (a local directory, as `make run` uses).
    attachments: tempdir::TempDirGuard,
    vhost_guard: rabbit::VhostGuard,
}

mod tempdir {
    use std::path::PathBuf;

    /// Removes the directory when dropped.
    pub struct TempDirGuard(pub PathBuf);

    impl Drop for TempDirGuard {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn database_url(prefix: &str, service: &str) -> String {
    format!("postgres://postgres@127.0.0.1:5432/{prefix}_{service}")
}

/// Logs go to the test output only with TEST_LOG=1.
fn init_test_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            let _ = tracing_subscriber_init();
        }
    });
}

fn tracing_subscriber_init() -> anyhow::Result<()> {
    let guard = lapor_platform::telemetry::init("lapor-e2e")?;
    std::mem::forget(guard);
    Ok(())
}

async fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace().nth(1)?.parse().ok()
}

impl Stack {
    pub async fn start(config: StackConfig) -> anyhow::Result<Self> {
        init_test_tracing();
        let prefix = format!(
            "lapor_test_{}_{}_{}",
            config.name,
            std::process::id(),
            STACK_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let vhost = prefix.clone();
        rabbit::create_vhost(&vhost).await?;
        let vhost_guard = rabbit::VhostGuard::new(&vhost);
        let maildir = std::env::temp_dir().join(format!("{prefix}_mail"));
        let attachments = std::env::temp_dir().join(format!("{prefix}_attachments"));
        let smtp = SmtpSink::start(maildir.clone()).await?;
        let smsc = lapor_smpp::sim::Smsc::start("127.0.0.1:0", smsc_config()).await?;
        let mut stack = Stack {
            prefix,
            vhost,
            smtp,
            smsc,
            running: HashMap::new(),
            limits: config.limits.clone(),
            digest: config.digest.clone(),
            attachment_bytes: config.attachment_bytes,
            _maildir: tempdir::TempDirGuard(maildir),
            attachments: tempdir::TempDirGuard(attachments),
            vhost_guard,
        };
        // One at a time, routing before notification: both declare the SKPD queues, and
        // RabbitMQ 3.10 has been seen to wedge when the same quorum queues are created from
        // two connections at once. Intake first: routing and notification call it.
        for service in ["intake", "routing", "notification", "analytics"] {
            stack.start_service(service, config.max_connections).await?;
            stack.wait_ready(Duration::from_secs(60)).await?;
        }
        Ok(stack)
    }

    /// Intake's internal RPCs. Intake starts first, so its port is known here.
    fn intake_peer(&self) -> lapor_platform::config::InternalPeerSettings {
        lapor_platform::config::InternalPeerSettings {
            url: format!(
                "http://127.0.0.1:{}",
                self.running.get("intake").map(|r| r.grpc_port).unwrap_or(0)
            ),
            service_token: TEST_SERVICE_TOKEN.into(),
        }
    }

    /// Where intake keeps attachments in this stack.
    pub fn attachments_dir(&self) -> &std::path::Path {
        &self.attachments.0
    }

    fn database(&self, service: &str, max_connections: u32) -> DatabaseSettings {
        DatabaseSettings {
            url: database_url(&self.prefix, service),
            max_connections,
        }
    }

    /// Starts (or restarts) one service on fresh port-0 listeners.
    pub async fn start_service(&mut self, service: &'static str, max_connections: u32) -> anyhow::Result<()> {
        let any = ListenSettings {
            addr: "127.0.0.1:0".parse()?,
        };
        let listeners = Listeners::bind(any.addr, any.addr).await?;
        let (grpc_port, http_port) = (listeners.grpc_port(), listeners.http_port());
        let amqp = AmqpSettings {
            url: rabbit::amqp_url(&self.vhost),
            consumer_concurrency: 8,
        };
        let seed = SeedSettings {
            dir: repo_root().join("deploy/seed"),
        };
        let database = self.database(service, max_connections);
        let stop = CancellationToken::new();
        let token = stop.clone();
        let handle = match service {
            "intake" => {
                let settings = lapor_intake::Settings {
                    database,
                    amqp,
                    grpc: any.clone(),
                    http: any,
                    seed,
                    vault: lapor_intake::VaultSettings {
                        key_id: "test".into(),
                        key: TEST_VAULT_KEY.into(),
                    },
                    internal: lapor_intake::InternalSettings {
                        service_token: TEST_SERVICE_TOKEN.into(),
                    },
                    limits: self.limits.clone(),
                    attachments: lapor_intake::attachments::AttachmentSettings {
                        store: self.attachments.0.display().to_string(),
                        options: Default::default(),
                        max_files: 5,
                        max_total_bytes: self.attachment_bytes,
                        concurrent_uploads: 4,
                    },
                    // The 1708 short code, bound as a receiver to the simulator.
                    sms: lapor_intake::sms::SmsSettings {
                        enabled: true,
                        addr: self.smsc.local_addr().to_string(),
                        system_id: "lapor".into(),
                        password: "lapor".into(),
                        system_type: String::new(),
                        webhook_token: TEST_SMS_WEBHOOK_TOKEN.into(),
                        default_kabupaten: "6371".into(),
                    },
                    open311: lapor_intake::open311::Open311Settings {
                        jurisdiction_id: TEST_OPEN311_JURISDICTION.into(),
                        api_keys: vec![TEST_OPEN311_API_KEY.into()],
                        base_url: format!("http://127.0.0.1:{http_port}/open311/v2"),
                        contact: "Diskominfo (test)".into(),
                    },
                };
                tokio::spawn(lapor_intake::run(settings, listeners, token))
            }
            "routing" => {
                let settings = lapor_routing::Settings {
                    database,
                    amqp,
                    grpc: any.clone(),
                    http: any,
                    seed,
                    auth: auth_settings(),
                    scheduler: lapor_routing::scheduler::SchedulerSettings {
                        enabled: true,
                        poll_interval_ms: 200,
                        batch_size: 200,
                    },
                    escalation: lapor_routing::EscalationSettings {
                        ladder: lapor_domain::sla::Ladder::default().steps().to_vec(),
                    },
                    intake: self.intake_peer(),
                };
                tokio::spawn(lapor_routing::run(settings, listeners, token))
            }
            "notification" => {
                let settings = lapor_notification::Settings {
                    database,
                    amqp,
                    grpc: any.clone(),
                    http: any,
                    seed,
                    auth: auth_settings(),
                    smtp: lapor_notification::channels::email::SmtpSettings {
                        host: "127.0.0.1".into(),
                        port: self.smtp.port,
                        security: lapor_notification::channels::email::SmtpSecurity::None,
                        username: String::new(),
                        password: String::new(),
                        from: "LAPOR Test <no-reply@lapor.test>".into(),
                        message_id_domain: "lapor.test".into(),
                        pool_size: 4,
                    },
                    sms: lapor_notification::channels::SmsSettings::Smpp(smpp_settings(self.smsc.local_addr())),
                    templates: lapor_notification::TemplateSettings {
                        dir: repo_root().join("deploy/templates"),
                        reload_seconds: 10,
                    },
                    delivery: lapor_notification::sender::DeliverySettings {
                        batch_size: 50,
                        concurrency: 8,
                        lease_seconds: 5,
                        retry_for_minutes: 1440,
                        max_attempts: 200,
                        poll_interval_ms: 200,
                    },
                    // No quiet hours: tests run at any hour of the WITA night.
                    quiet_hours: lapor_notification::quiet_hours::QuietHoursSettings {
                        start: "00:00".into(),
                        end: "00:00".into(),
                        urgent_levels: Vec::new(),
                    },
                    console: lapor_notification::ConsoleSettings {
                        url: "http://127.0.0.1:8081".into(),
                    },
                    intake: self.intake_peer(),
                    reporters: lapor_notification::ReporterSettings {
                        status_url: "http://127.0.0.1:8080/status".into(),
                    },
                    digests: lapor_notification::digests::DigestSettings {
                        list_unsubscribe: "mailto:admin@lapor.example.id?subject=unsubscribe".into(),
                    },
                };
                tokio::spawn(lapor_notification::run(settings, listeners, token))
            }
            "analytics" => {
                let settings = lapor_analytics::Settings {
                    database,
                    amqp,
                    grpc: any.clone(),
                    http: any,
                    auth: auth_settings(),
                    digest: self.digest.clone(),
                };
                tokio::spawn(lapor_analytics::run(settings, listeners, token))
            }
            other => anyhow::bail!("unknown service {other}"),
        };
        self.running.insert(
            service,
            Running {
                stop,
                handle,
                grpc_port,
                http_port,
            },
        );
        Ok(())
    }

    /// Graceful stop of one service (what SIGTERM does).
    pub async fn stop_service(&mut self, service: &str) -> anyhow::Result<()> {
        if let Some(running) = self.running.remove(service) {
            running.stop.cancel();
            running.handle.await??;
        }
        Ok(())
    }

    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        for (service, running) in &self.running {
            loop {
                if running.handle.is_finished() {
                    anyhow::bail!("{service} exited during start-up");
                }
                if http_status(running.http_port, "/readyz").await == Some(200) {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    anyhow::bail!("{service} not ready after {timeout:?}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    pub fn http_port(&self, service: &str) -> u16 {
        self.running.get(service).map(|r| r.http_port).unwrap_or(0)
    }

    pub fn grpc_port(&self, service: &str) -> u16 {
        self.running.get(service).map(|r| r.grpc_port).unwrap_or(0)
    }

    pub async fn channel(&self, service: &str) -> anyhow::Result<Channel> {
        let port = self.running.get(service).map(|r| r.grpc_port).unwrap_or(0);
        Ok(
            tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?
                .connect()
                .await?,
        )
    }

    pub async fn intake(&self) -> anyhow::Result<IntakeServiceClient<Channel>> {
        Ok(IntakeServiceClient::new(self.channel("intake").await?))
    }
    pub async fn routing(&self) -> anyhow::Result<RoutingServiceClient<Channel>> {
        Ok(RoutingServiceClient::new(self.channel("routing").await?))
    }
    /// Runs the real `laporctl` against this stack's routing as `bearer`.
    pub fn laporctl(&self, bearer: &str, args: &[&str]) -> std::process::Output {
        std::process::Command::new(crate::process::service_binary("laporctl"))
            .arg("--routing")
            .arg(format!("http://127.0.0.1:{}", self.grpc_port("routing")))
            .arg("--token")
            .arg(bearer)
            .args(args)
            .output()
            .expect("laporctl runs")
    }

    /// The case once routing shows it in `state` (read as the admin), within 30 s.
    pub async fn case_in_state(&self, tracking_id: &str, state: &str) -> lapor_proto::routing::v1::Case {
        let routing = self.routing().await.expect("client");
        let admin = token(OfficerRole::Admin, None);
        crate::eventually(&format!("case {tracking_id} {state}"), Duration::from_secs(30), || {
            let mut routing = routing.clone();
            let request = authorized(
                lapor_proto::routing::v1::GetCaseRequest {
                    tracking_id: tracking_id.to_owned(),
                },
                &admin,
            );
            async move {
                match routing.get_case(request).await {
                    Ok(case) => Some(case.into_inner()).filter(|c| c.state == state),
                    Err(status) if status.code() == tonic::Code::NotFound => None,
                    Err(status) => panic!("GetCase {tracking_id}: {status:?}"),
                }
            }
        })
        .await
    }

    pub async fn directory(&self) -> anyhow::Result<DirectoryServiceClient<Channel>> {
        Ok(DirectoryServiceClient::new(self.channel("routing").await?))
    }
    pub async fn policy(&self) -> anyhow::Result<PolicyServiceClient<Channel>> {
        Ok(PolicyServiceClient::new(self.channel("routing").await?))
    }
    pub async fn notification(&self) -> anyhow::Result<NotificationServiceClient<Channel>> {
        Ok(NotificationServiceClient::new(self.channel("notification").await?))
    }
    pub async fn analytics(&self) -> anyhow::Result<AnalyticsServiceClient<Channel>> {
        Ok(AnalyticsServiceClient::new(self.channel("analytics").await?))
    }

    /// A connection to a service's own database, for assertions only.
    pub async fn db(&self, service: &str) -> anyhow::Result<DatabaseConnection> {
        Ok(Database::connect(database_url(&self.prefix, service)).await?)
    }

    pub fn amqp_url(&self) -> String {
        rabbit::amqp_url(&self.vhost)
    }

    /// Stops every service gracefully, then removes the databases, the vhost and the mail.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let services: Vec<&'static str> = self.running.keys().copied().collect();
        for service in services {
            self.stop_service(service).await?;
        }
        let admin = Database::connect("postgres://postgres@127.0.0.1:5432/postgres").await?;
        for service in SERVICES {
            admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS {}_{service} WITH (FORCE)",
                    self.prefix
                ))
                .await?;
        }
        rabbit::delete_vhost(&self.vhost).await?;
        self.vhost_guard.disarm();
        self.smtp.stop().await;
        Ok(())
    }
}
