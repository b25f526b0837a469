//! Test harness: runs the four services in this process against the real PostgreSQL and
//! RabbitMQ, each stack with its own vhost and databases, and a real SMTP server process.

pub mod load;
pub mod mailbox;
pub mod process;
pub mod process_stack;
pub mod rabbit;
pub mod stack;

pub use stack::{Stack, StackConfig};

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(what: &str, timeout: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
