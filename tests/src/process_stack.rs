//! The four services as real processes (the built binaries), one or more replicas each,
//! sharing one database per service and one vhost: for suites that kill, terminate and
//! restart replicas, or that need per-process exporters (traces). Configuration goes in
//! through `LAPOR__*` environment variables only, as in a container.

use crate::mailbox::SmtpSink;
use crate::process::{exec, free_port, postgres_url, service_binary};
use crate::rabbit;
use crate::stack::{TEST_AUTH_SECRET, repo_root};
use sea_orm::{Database, DatabaseConnection};
use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub const SERVICES: [&str; 4] = ["intake", "routing", "notification", "analytics"];
const SERVICE_TOKEN: &str = "process-stack-internal-token";

/// One running replica.
pub struct Replica {
    pub service: &'static str,
    pub grpc_port: u16,
    pub http_port: u16,
    child: Child,
}

impl Replica {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

pub struct ProcessStack {
    pub prefix: String,
    pub smtp: SmtpSink,
    /// Every replica's stdout and stderr, `<name>.log` (appended across restarts); kept
    /// when a test fails, removed by [`ProcessStack::stop`].
    pub log_dir: std::path::PathBuf,
    /// Extra environment for every process (e.g. the OTLP endpoint).
    env: Vec<(String, String)>,
    /// Replicas by name, e.g. `routing-1`.
    replicas: BTreeMap<String, Replica>,
    /// Each replica name keeps its ports across restarts, as a Kubernetes Service address
    /// does: peers configured with it (notification → intake) reach the restarted replica.
    ports: BTreeMap<String, (u16, u16)>,
    vault_key: String,
    vhost_guard: rabbit::VhostGuard,
}

impl ProcessStack {
    /// Creates the databases and the vhost and starts `replicas` of each service, intake
    /// first (notification reads contacts from it), waiting until every one is ready.
    pub async fn start(label: &str, replicas: usize, env: Vec<(String, String)>) -> anyhow::Result<Self> {
        let prefix = format!("lapor_test_{label}_{}", std::process::id());
        let admin = Database::connect(postgres_url("postgres")).await?;
        for service in SERVICES {
            exec(
                &admin,
                &format!("DROP DATABASE IF EXISTS {prefix}_{service} WITH (FORCE)"),
            )
            .await;
            exec(&admin, &format!("CREATE DATABASE {prefix}_{service}")).await;
        }
        rabbit::create_vhost(&prefix).await?;
        let vhost_guard = rabbit::VhostGuard::new(&prefix);
        let maildir = std::env::temp_dir().join(format!("{prefix}_mail"));
        let smtp = SmtpSink::start(maildir).await?;
        let log_dir = std::env::temp_dir().join(format!("{prefix}_logs"));
        let _ = std::fs::remove_dir_all(&log_dir);
        std::fs::create_dir_all(&log_dir)?;
        let mut stack = ProcessStack {
            prefix,
            smtp,
            log_dir,
            env,
            replicas: BTreeMap::new(),
            ports: BTreeMap::new(),
            vault_key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into(),
            vhost_guard,
        };
        // One at a time: concurrent declarations of the same quorum queues from several
        // connections have wedged RabbitMQ 3.10 on this machine.
        for service in ["intake", "routing", "notification", "analytics"] {
            for index in 1..=replicas {
                let name = stack.spawn(service, index)?;
                stack.wait_ready(&name, Duration::from_secs(90)).await?;
            }
        }
        Ok(stack)
    }

    fn environment(&self, service: &'static str, grpc_port: u16, http_port: u16) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = [
            ("LAPOR_CONFIG_DIR", "/nonexistent-lapor-config".to_owned()),
            (
                "LAPOR__DATABASE__URL",
                postgres_url(&format!("{}_{service}", self.prefix)),
            ),
            ("LAPOR__DATABASE__MAX_CONNECTIONS", "6".to_owned()),
            ("LAPOR__AMQP__URL", rabbit::amqp_url(&self.prefix)),
            ("LAPOR__GRPC__ADDR", format!("127.0.0.1:{grpc_port}")),
            ("LAPOR__HTTP__ADDR", format!("127.0.0.1:{http_port}")),
            ("LAPOR__AUTH__ISSUER", "lapor-test".to_owned()),
            ("LAPOR__AUTH__DEV_SECRET", TEST_AUTH_SECRET.to_owned()),
            (
                "LAPOR__SEED__DIR",
                repo_root().join("deploy/seed").display().to_string(),
            ),
            ("RUST_LOG", "info,sqlx=warn,lapin=warn".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let specific: &[(&str, String)] = match service {
            "intake" => &[
                ("LAPOR__VAULT__KEY", self.vault_key.clone()),
                ("LAPOR__INTERNAL__SERVICE_TOKEN", SERVICE_TOKEN.to_owned()),
                ("LAPOR__LIMITS__PER_IP_PER_MINUTE", "1000000".to_owned()),
                ("LAPOR__LIMITS__PER_CONTACT_PER_HOUR", "1000000".to_owned()),
            ],
            "notification" => &[
                ("LAPOR__SMTP__PORT", self.smtp.port.to_string()),
                ("LAPOR__SMS__TRANSPORT", "none".to_owned()),
                (
                    "LAPOR__TEMPLATES__DIR",
                    repo_root().join("deploy/templates").display().to_string(),
                ),
                ("LAPOR__DELIVERY__POLL_INTERVAL_MS", "200".to_owned()),
                ("LAPOR__DELIVERY__LEASE_SECONDS", "5".to_owned()),
                ("LAPOR__QUIET_HOURS__START", "00:00".to_owned()),
                ("LAPOR__QUIET_HOURS__END", "00:00".to_owned()),
                (
                    "LAPOR__INTAKE__URL",
                    format!("http://127.0.0.1:{}", self.grpc_port("intake")),
                ),
                ("LAPOR__INTAKE__SERVICE_TOKEN", SERVICE_TOKEN.to_owned()),
            ],
            "analytics" => &[("LAPOR__DIGEST__ENABLED", "false".to_owned())],
            _ => &[],
        };
        env.extend(specific.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        env.extend(self.env.iter().cloned());
        env
    }

    /// Starts replica `index` of `service` (on the ports it had before, if it ran before);
    /// returns its name.
    pub fn spawn(&mut self, service: &'static str, index: usize) -> anyhow::Result<String> {
        let name = format!("{service}-{index}");
        let (grpc_port, http_port) = *self
            .ports
            .entry(name.clone())
            .or_insert_with(|| (free_port(), free_port()));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_dir.join(format!("{name}.log")))?;
        let child = Command::new(service_binary(&format!("lapor-{service}")))
            .envs(self.environment(service, grpc_port, http_port))
            .env("OTEL_SERVICE_NAME", format!("lapor-{service}"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.replicas.insert(
            name.clone(),
            Replica {
                service,
                grpc_port,
                http_port,
                child,
            },
        );
        Ok(name)
    }

    /// Everything the replicas have logged so far.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        if let Ok(entries) = std::fs::read_dir(&self.log_dir) {
            for entry in entries.flatten() {
                all.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        all
    }

    pub async fn wait_ready(&mut self, name: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let http = reqwest::Client::new();
        loop {
            let replica = self
                .replicas
                .get_mut(name)
                .ok_or_else(|| anyhow::anyhow!("no replica {name}"))?;
            if !replica.is_running() {
                anyhow::bail!("{name} exited during start-up (see {})", self.log_dir.display());
            }
            let url = format!("http://127.0.0.1:{}/readyz", replica.http_port);
            if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!("{name} not ready after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn replica(&self, name: &str) -> &Replica {
        self.replicas.get(name).unwrap_or_else(|| panic!("no replica {name}"))
    }

    /// The gRPC port of the first running replica of `service`.
    pub fn grpc_port(&self, service: &str) -> u16 {
        self.replicas
            .values()
            .find(|r| r.service == service)
            .map_or(0, |r| r.grpc_port)
    }

    pub fn http_port(&self, service: &str) -> u16 {
        self.replicas
            .values()
            .find(|r| r.service == service)
            .map_or(0, |r| r.http_port)
    }

    pub fn names(&self) -> Vec<String> {
        self.replicas.keys().cloned().collect()
    }

    /// SIGKILL: the replica dies mid-work, as on a node failure.
    pub fn kill(&mut self, name: &str) {
        if let Some(mut replica) = self.replicas.remove(name) {
            let _ = replica.child.kill();
            let _ = replica.child.wait();
        }
    }

    /// SIGTERM, then waits for the exit (a graceful drain); returns the exit status.
    pub async fn terminate(&mut self, name: &str, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let mut replica = self
            .replicas
            .remove(name)
            .ok_or_else(|| anyhow::anyhow!("no replica {name}"))?;
        signal(replica.child.id(), "TERM")?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = replica.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = replica.child.kill();
                anyhow::bail!("{name} did not exit within {timeout:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn db(&self, service: &str) -> anyhow::Result<DatabaseConnection> {
        Ok(Database::connect(postgres_url(&format!("{}_{service}", self.prefix))).await?)
    }

    pub fn amqp_url(&self) -> String {
        rabbit::amqp_url(&self.prefix)
    }

    /// Stops every replica (SIGTERM), then removes the databases, the vhost and the mail.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        for name in self.names() {
            if self.terminate(&name, Duration::from_secs(30)).await.is_err() {
                self.kill(&name);
            }
        }
        let admin = Database::connect(postgres_url("postgres")).await?;
        for service in SERVICES {
            exec(
                &admin,
                &format!("DROP DATABASE IF EXISTS {}_{service} WITH (FORCE)", self.prefix),
            )
            .await;
        }
        rabbit::delete_vhost(&self.prefix).await?;
        self.vhost_guard.disarm();
        // The sink process is killed when the stack drops.
        let _ = std::fs::remove_dir_all(&self.smtp.maildir);
        let _ = std::fs::remove_dir_all(&self.log_dir);
        Ok(())
    }
}

impl Drop for ProcessStack {
    /// A failed test leaves no processes behind.
    fn drop(&mut self) {
        for replica in self.replicas.values_mut() {
            let _ = replica.child.kill();
            let _ = replica.child.wait();
        }
    }
}

/// Sends a signal with `kill(1)`: the standard tool, no unsafe code in the tests.
fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()?;
    anyhow::ensure!(status.success(), "kill -{name} {pid} failed");
    Ok(())
}
