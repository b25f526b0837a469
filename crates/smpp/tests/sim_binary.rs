//! The `lapor-smsc-sim` binary: JSON lines on stdout, MO messages from stdin.

use std::process::Stdio;
use std::time::Duration;

use lapor_smpp::{BindMode, ClientConfig, Inbound, OutgoingSms, SmppClient};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn binary_logs_submits_as_json_and_delivers_typed_mo_lines() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lapor-smsc-sim"))
        .arg("127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next_json = async || -> serde_json::Value {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("line in time")
            .expect("read");
        serde_json::from_str(&line.expect("a line")).expect("JSON line")
    };

    let listening = next_json().await;
    assert_eq!(listening["event"], "listening");
    let addr = listening["addr"].as_str().expect("addr").to_owned();

    let cfg = ClientConfig {
        addr,
        bind: BindMode::Transceiver,
        ..ClientConfig::default()
    };
    let (client, mut inbound) = SmppClient::start(cfg);
    assert!(client.wait_bound(WAIT).await);
    let sms = OutgoingSms {
        destination: "+6281234567890".into(),
        text: "Laporan Anda diterima 👍".into(),
        request_receipt: false,
        idempotency_key: Some("k-1".into()),
    };
    let out = client.submit(&sms).await.expect("accepted");

    let logged = next_json().await;
    assert_eq!(logged["event"], "submit");
    assert_eq!(logged["destination"], "+6281234567890");
    assert_eq!(logged["text"], "Laporan Anda diterima 👍");
    assert_eq!(logged["encoding"], "ucs2");
    assert_eq!(logged["message_id"], out.message_ids[0].as_str());
    assert_eq!(logged["idempotency_key"], "k-1");

    stdin
        .write_all(b"+6281298765432 1708 LAPOR lampu jalan mati di Jl. Veteran\n")
        .await
        .expect("write");
    stdin.flush().await.expect("flush");
    // The simulator hears back only once the application has taken the text.
    match tokio::time::timeout(WAIT, inbound.recv())
        .await
        .expect("in time")
        .expect("open")
    {
        Inbound::Message {
            source,
            destination,
            text,
            ack,
        } => {
            assert_eq!(source, "+6281298765432");
            assert_eq!(destination, "1708");
            assert_eq!(text, "LAPOR lampu jalan mati di Jl. Veteran");
            ack.accept();
        }
        other => panic!("{other:?}"),
    }
    let mo = next_json().await;
    assert_eq!(mo["event"], "mo");
    stdin.write_all(b"garbage\n").await.expect("write");
    assert_eq!(next_json().await["event"], "mo_failed");
    client.shutdown().await;
    let _ = child.kill().await;
}
