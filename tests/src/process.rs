//! Services as real processes (the built binaries), for suites that kill them: a database
//! and vhost per suite, the binary's path, ports, and SQL helpers for assertions.

use crate::rabbit;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `target/<profile>/<name>`: beside the caller when it is itself a binary in
/// `target/<profile>/` (the bench), else one level up from a test binary's `deps/`.
pub fn service_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("own executable path");
    let own_dir = exe.parent().expect("executable directory");
    let candidates = [Some(own_dir), own_dir.parent()];
    let binary = candidates
        .into_iter()
        .flatten()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    binary.unwrap_or_else(|| {
        panic!(
            "{name} is missing beside {}: build the workspace first (make test does)",
            exe.display()
        )
    })
}

/// Process logs reach the test output only with TEST_LOG=1.
pub fn log_sink() -> Stdio {
    if std::env::var("TEST_LOG").is_ok() {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A development token signed with `secret`, as a process started with
/// `LAPOR__AUTH__DEV_SECRET=<secret>` accepts it.
pub fn dev_token(
    secret: &str,
    subject: &str,
    role: lapor_domain::reference::OfficerRole,
    skpd: Option<&str>,
) -> String {
    let settings = lapor_platform::auth::AuthSettings {
        issuer: "lapor-dev".into(),
        audience: "lapor".into(),
        algorithms: vec!["HS256".into()],
        dev_secret: secret.into(),
        public_key_pem: String::new(),
        jwks_url: String::new(),
    };
    let principal = lapor_platform::auth::Principal {
        subject: subject.into(),
        name: subject.into(),
        role,
        skpd: skpd.map(str::to_owned),
    };
    lapor_platform::auth::mint_dev_token(&settings, &principal, 3600).expect("token")
}

pub fn postgres_url(database: &str) -> String {
    format!("postgres://postgres@127.0.0.1:5432/{database}")
}

/// One service's database and a vhost of their own, removed at the end.
pub struct ProcessFixture {
    pub name: String,
    pub service: &'static str,
    pub db: DatabaseConnection,
    vhost_guard: rabbit::VhostGuard,
}

impl ProcessFixture {
    pub async fn new(label: &str, service: &'static str) -> ProcessFixture {
        let name = format!("lapor_test_{label}_{}", std::process::id());
        let admin = Database::connect(postgres_url("postgres")).await.expect("postgres");
        exec(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name}_{service} WITH (FORCE)"),
        )
        .await;
        exec(&admin, &format!("CREATE DATABASE {name}_{service}")).await;
        rabbit::create_vhost(&name).await.expect("vhost");
        let vhost_guard = rabbit::VhostGuard::new(&name);
        let db = Database::connect(postgres_url(&format!("{name}_{service}")))
            .await
            .expect("test db");
        ProcessFixture {
            name,
            service,
            db,
            vhost_guard,
        }
    }

    pub fn url(&self) -> String {
        postgres_url(&format!("{}_{}", self.name, self.service))
    }

    pub fn amqp_url(&self) -> String {
        rabbit::amqp_url(&self.name)
    }

    /// Waits until `count_sql` (a `SELECT count(*)`) finds rows: the service migrated and
    /// seeded its database. `alive` says whether the process still runs, so a start-up
    /// failure is reported as such (rerun with TEST_LOG=1 to see why).
    pub async fn wait_for_schema(&self, count_sql: &str, mut alive: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let ready = self
                .db
                .query_one_raw(Statement::from_string(DbBackend::Postgres, count_sql))
                .await
                .ok()
                .flatten()
                .and_then(|row| row.try_get_by_index::<i64>(0).ok())
                .is_some_and(|n| n > 0);
            if ready {
                return;
            }
            assert!(alive(), "{} exited during start-up", self.service);
            assert!(Instant::now() < deadline, "{} never created its schema", self.service);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn cleanup(mut self) {
        self.db.close().await.ok();
        let admin = Database::connect(postgres_url("postgres")).await.expect("postgres");
        exec(
            &admin,
            &format!("DROP DATABASE IF EXISTS {}_{} WITH (FORCE)", self.name, self.service),
        )
        .await;
        rabbit::delete_vhost(&self.name).await.expect("delete vhost");
        self.vhost_guard.disarm();
    }
}

pub async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("query")
        .expect("row")
        .try_get_by_index::<i64>(0)
        .expect("bigint")
}
