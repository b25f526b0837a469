//! `lapor-smsc-sim [ADDR]`: an SMSC simulator for local runs.
//!
//! Listens on ADDR (else `$LAPOR_SMSC_ADDR`, else `127.0.0.1:2775`) for SMPP
//! 3.4 binds with `system_id`/password `$LAPOR_SMSC_SYSTEM_ID` /
//! `$LAPOR_SMSC_PASSWORD` (both default `lapor`). Every message it receives
//! is printed on stdout as one JSON line. Lines typed on stdin as
//! `<from> <to> <text>` are delivered as mobile-originated SMS to a bound
//! receiver/transceiver, e.g. `+6281234567890 1708 LAPOR jalan rusak di Jl. A. Yani km 5`.
//!
//! More settings: `$LAPOR_SMSC_IDEMPOTENCY_TLV` (tag, `0x1400` by default,
//! `none` to disable), `$LAPOR_SMSC_THROTTLE_EVERY`, `$LAPOR_SMSC_DROP_EVERY`,
//! `$LAPOR_SMSC_REJECT_PREFIX` (faults). Logs go to stderr (`RUST_LOG`).

use std::process::ExitCode;

use lapor_smpp::sim::{Faults, Smsc, SmscConfig};
use tokio::io::AsyncBufReadExt;
use tokio::sync::broadcast::error::RecvError;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_u32(name: &str) -> Result<Option<u32>, String> {
    env(name)
        .map(|v| v.trim().parse::<u32>().map_err(|e| format!("{name}={v:?}: {e}")))
        .transpose()
}

fn parse_tag(v: &str) -> Result<Option<u16>, String> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("none") || v == "0" {
        return Ok(None);
    }
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => v.parse::<u16>(),
    };
    parsed
        .map(Some)
        .map_err(|e| format!("LAPOR_SMSC_IDEMPOTENCY_TLV={v:?}: {e}"))
}

fn config() -> Result<(String, SmscConfig), String> {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if matches!(first.as_deref(), Some("-h" | "--help")) {
        return Err("usage: lapor-smsc-sim [ADDR]   (see the binary's docs for the LAPOR_SMSC_* variables)".into());
    }
    let addr = first
        .or_else(|| env("LAPOR_SMSC_ADDR"))
        .unwrap_or_else(|| "127.0.0.1:2775".into());
    let idempotency_tlv = match env("LAPOR_SMSC_IDEMPOTENCY_TLV") {
        Some(v) => parse_tag(&v)?,
        None => Some(lapor_smpp::DEFAULT_IDEMPOTENCY_TLV),
    };
    let faults = Faults {
        throttle_every: parse_u32("LAPOR_SMSC_THROTTLE_EVERY")?,
        drop_connection_every: parse_u32("LAPOR_SMSC_DROP_EVERY")?,
        reject_destination_prefix: env("LAPOR_SMSC_REJECT_PREFIX"),
    };
    let cfg = SmscConfig {
        system_id: env("LAPOR_SMSC_SYSTEM_ID").unwrap_or_else(|| "lapor".into()),
        password: env("LAPOR_SMSC_PASSWORD").unwrap_or_else(|| "lapor".into()),
        faults,
        idempotency_tlv,
    };
    Ok((addr, cfg))
}

fn print(v: serde_json::Value) {
    println!("{v}");
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let (addr, cfg) = match config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let smsc = match Smsc::start(&addr, cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lapor-smsc-sim: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    print(serde_json::json!({ "event": "listening", "addr": smsc.local_addr().to_string() }));

    let mut events = smsc.subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(sms) => print(sms.to_json()),
                Err(RecvError::Lagged(n)) => tracing::warn!(skipped = n, "output lagged"),
                Err(RecvError::Closed) => break,
            }
        }
    });

    let stdin_loop = async {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.splitn(3, char::is_whitespace);
            let (Some(from), Some(to), Some(text)) = (parts.next(), parts.next(), parts.next()) else {
                print(
                    serde_json::json!({ "event": "mo_failed", "error": "expected: <from> <to> <text>", "line": line }),
                );
                continue;
            };
            let text = text.trim_start();
            match smsc.deliver_mo(from, to, text).await {
                Ok(()) => print(serde_json::json!({ "event": "mo", "source": from, "destination": to, "text": text })),
                Err(e) => print(
                    serde_json::json!({ "event": "mo_failed", "source": from, "destination": to, "error": e.to_string() }),
                ),
            }
        }
        // stdin closed (e.g. started in the background): keep serving.
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = stdin_loop => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    smsc.stop();
    ExitCode::SUCCESS
}
