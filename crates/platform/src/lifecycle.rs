//! Start-up and graceful shutdown (DESIGN §6.5). Tasks run in three tiers that stop in
//! order: the front (gRPC and HTTP servers, consumers) stops accepting and drains; then
//! workers (e.g. the mail sender) finish what the front committed; last the outbox relay
//! flushes every event written before it.

use std::future::Future;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Front = 0,
    Worker = 1,
    Relay = 2,
}

/// Cloned by what starts tasks later (consumers of SKPD queues added at run time); a task
/// spawned after its tier stopped sees its token cancelled at once.
#[derive(Default, Clone)]
pub struct Lifecycle {
    tiers: [(TaskTracker, CancellationToken); 3],
}

impl Lifecycle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Token cancelled when tasks of `tier` must stop.
    pub fn stop_token(&self, tier: Tier) -> CancellationToken {
        self.tiers[tier as usize].1.clone()
    }

    /// Spawns `task(stop)`, where `stop` is the tier's token.
    pub fn spawn<F, Fut>(&self, tier: Tier, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tracker, token) = &self.tiers[tier as usize];
        tracker.spawn(task(token.clone()));
    }

    /// Waits for `shutdown`, then stops the tiers one after another.
    pub async fn run_until(self, shutdown: CancellationToken) {
        shutdown.cancelled().await;
        tracing::info!("shutting down");
        for (index, (tracker, token)) in self.tiers.iter().enumerate() {
            token.cancel();
            tracker.close();
            tracker.wait().await;
            tracing::debug!(tier = index, "tier stopped");
        }
        tracing::info!("shutdown complete");
    }
}

/// The two listening sockets of a service, bound before start so tests can use port 0.
pub struct Listeners {
    pub grpc: TcpListener,
    pub http: TcpListener,
}

impl Listeners {
    pub async fn bind(grpc: std::net::SocketAddr, http: std::net::SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            grpc: TcpListener::bind(grpc).await?,
            http: TcpListener::bind(http).await?,
        })
    }

    pub fn grpc_port(&self) -> u16 {
        self.grpc.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn http_port(&self) -> u16 {
        self.http.local_addr().map(|a| a.port()).unwrap_or(0)
    }
}

/// A token cancelled on SIGTERM or SIGINT (Ctrl-C).
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
                trigger.cancel();
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT"),
            _ = term.recv() => tracing::info!("received SIGTERM"),
        }
        trigger.cancel();
    });
    token
}
