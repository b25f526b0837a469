//! The SMTP sink: aiosmtpd, a real SMTP server, in its own process, writing a Maildir.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::{Child, Command};

pub struct SmtpSink {
    pub port: u16,
    pub maildir: PathBuf,
    child: Child,
}

/// One received message: the envelope recipients and the raw text.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub rcpt_to: Vec<String>,
    pub raw: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl SmtpSink {
    pub async fn start(maildir: PathBuf) -> anyhow::Result<Self> {
        Self::start_with(maildir, &[]).await
    }

    /// With extra options for the sink, e.g. `["--fail-every", "10"]` (see smtp_sink.py).
    pub async fn start_with(maildir: PathBuf, options: &[&str]) -> anyhow::Result<Self> {
        let port = free_port();
        let child = Command::new(repo_root().join("deploy/scripts/smtp-sink.sh"))
            .arg(&maildir)
            .arg(port.to_string())
            .args(options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(Self { port, maildir, child });
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        anyhow::bail!("smtp sink did not start on port {port} (is .tools/venv installed? run `make infra`)")
    }

    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut mails = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(raw) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                let rcpt_to = raw
                    .lines()
                    .filter_map(|l| l.strip_prefix("X-RcptTo: "))
                    .flat_map(|l| l.split(',').map(|s| s.trim().to_owned()))
                    .collect();
                mails.push(ReceivedMail { rcpt_to, raw });
            }
        }
        mails
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
