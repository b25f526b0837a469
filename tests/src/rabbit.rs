//! Per-stack RabbitMQ vhosts, so parallel suites never share a queue.

use tokio::process::Command;

async fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    rabbitmqctl_output(args).await.map(|_| ())
}

/// Runs `rabbitmqctl -q <args>` and returns its standard output.
pub async fn rabbitmqctl_output(args: &[&str]) -> anyhow::Result<String> {
    // A wedged broker makes rabbitmqctl hang; fail the suite with a clear reason instead.
    let run = Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .map_err(|_| anyhow::anyhow!("rabbitmqctl {args:?} timed out: is the broker healthy?"))??;
    if !output.status.success() {
        anyhow::bail!(
            "rabbitmqctl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

pub async fn create_vhost(vhost: &str) -> anyhow::Result<()> {
    rabbitmqctl(&["add_vhost", vhost]).await?;
    rabbitmqctl(&["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]).await
}

pub async fn delete_vhost(vhost: &str) -> anyhow::Result<()> {
    rabbitmqctl(&["delete_vhost", vhost]).await
}

pub fn amqp_url(vhost: &str) -> String {
    format!("amqp://guest:guest@127.0.0.1:5672/{vhost}")
}

/// Deletes a test vhost when a test panics before its stack stopped: quorum queues left
/// behind by failed runs pile up and have wedged RabbitMQ 3.10 on this 2-core machine.
/// The deletion runs detached, as the test process may be unwinding.
pub struct VhostGuard {
    vhost: String,
    armed: bool,
}

impl VhostGuard {
    pub fn new(vhost: &str) -> Self {
        Self {
            vhost: vhost.to_owned(),
            armed: true,
        }
    }

    /// The vhost was deleted in order; nothing left to do.
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for VhostGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::process::Command::new("rabbitmqctl")
                .args(["-q", "delete_vhost", &self.vhost])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
        }
    }
}

/// A queue's (messages, consumers), or `None` when it does not exist (yet). A passive
/// declare of a missing queue closes its channel, so the probe uses a throwaway one.
pub async fn probe_queue(connection: &lapin::Connection, queue: &str) -> Option<(u32, u32)> {
    let probe = connection.create_channel().await.ok()?;
    let options = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let declared = probe
        .queue_declare(queue.into(), options, lapin::types::FieldTable::default())
        .await;
    let _ = probe.close(200, "probe".into()).await;
    declared.ok().map(|q| (q.message_count(), q.consumer_count()))
}

/// Every queue of `vhost` with its message count.
pub async fn queues(vhost: &str) -> anyhow::Result<Vec<(String, u64)>> {
    let listing = rabbitmqctl_output(&["list_queues", "-p", vhost, "name", "messages", "--no-table-headers"]).await?;
    Ok(listing
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next()?.to_owned();
            let messages = fields.next()?.parse().ok()?;
            Some((name, messages))
        })
        .collect())
}
