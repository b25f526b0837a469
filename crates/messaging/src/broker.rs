//! A supervised RabbitMQ connection. lapin's own recovery has a history of hanging across
//! broker restarts (amqp-rs/lapin#450), so the rule here is simpler: whoever finds the
//! connection gone asks for a new one, and every user (relay, consumers) re-runs its setup
//! on a fresh channel. Nothing needs a process restart.

use lapin::{Channel, Connection, ConnectionProperties};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    uri: String,
    connection_name: String,
    connection: Mutex<Option<Connection>>,
}

/// Back-off between reconnect attempts: 100 ms doubling to 5 s.
pub fn reconnect_delay(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}

impl Broker {
    /// Does not connect yet: the first `channel()` does, so a service can start (unready)
    /// while the broker is down.
    pub fn new(uri: impl Into<String>, connection_name: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                uri: uri.into(),
                connection_name: connection_name.into(),
                connection: Mutex::new(None),
            }),
        }
    }

    /// A new channel on the shared connection, reconnecting first if it is gone.
    pub async fn channel(&self) -> lapin::Result<Channel> {
        let mut guard = self.inner.connection.lock().await;
        if let Some(connection) = guard.as_ref()
            && connection.status().connected()
        {
            match connection.create_channel().await {
                Ok(channel) => return Ok(channel),
                Err(error) => tracing::warn!(%error, "failed to open channel, reconnecting"),
            }
        }
        let properties =
            ConnectionProperties::default().with_connection_name(self.inner.connection_name.as_str().into());
        let connection = Connection::connect(&self.inner.uri, properties).await?;
        tracing::info!(name = %self.inner.connection_name, "connected to rabbitmq");
        let channel = connection.create_channel().await?;
        *guard = Some(connection);
        Ok(channel)
    }

    pub async fn is_connected(&self) -> bool {
        self.inner
            .connection
            .lock()
            .await
            .as_ref()
            .is_some_and(|c| c.status().connected())
    }

    /// Closes the connection politely, but never waits long: lapin's close can wait forever
    /// for a close-ok on a connection the broker already dropped.
    pub async fn close(&self) {
        if let Some(connection) = self.inner.connection.lock().await.take() {
            let closing = connection.close(200, "shutdown".into());
            if tokio::time::timeout(Duration::from_secs(2), closing).await.is_err() {
                tracing::warn!("rabbitmq connection did not close in time, dropping it");
            }
        }
    }
}
