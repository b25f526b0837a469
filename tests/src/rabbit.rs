//! Per-stack RabbitMQ vhosts, so parallel suites never share a queue.

use tokio::process::Command;

async fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("rabbitmqctl").arg("-q").args(args).output().await?;
    if !output.status.success() {
        anyhow::bail!(
            "rabbitmqctl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
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
