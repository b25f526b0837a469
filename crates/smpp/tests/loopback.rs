//! SmppClient against the Smsc simulator (and a hand-driven fake SMSC) over
//! real TCP on loopback.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use lapor_smpp::pdu::{encode_command, take_frame};
use lapor_smpp::sim::{Faults, SimError, Smsc, SmscConfig};
use lapor_smpp::{
    BindMode, ClientConfig, Encoding, Inbound, OutgoingSms, ReceiptState, SmppClient, SubmitError, segment_count,
};
use rusmpp::pdus::{BindTransceiver, BindTransceiverResp, DeliverSm, SubmitSmResp};
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::EsmClass;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(3);

fn config(addr: SocketAddr, bind: BindMode) -> ClientConfig {
    ClientConfig {
        addr: addr.to_string(),
        system_id: "lapor".into(),
        password: "lapor".into(),
        system_type: String::new(),
        bind,
        source_addr: "1708".into(),
        window: 10,
        max_per_second: 0,
        enquire_link_interval: Duration::from_secs(30),
        response_timeout: Duration::from_secs(2),
        idempotency_tlv: Some(0x1400),
    }
}

async fn smsc() -> Smsc {
    Smsc::start("127.0.0.1:0", SmscConfig::default())
        .await
        .expect("simulator starts")
}

async fn smsc_with(faults: Faults) -> Smsc {
    Smsc::start(
        "127.0.0.1:0",
        SmscConfig {
            faults,
            ..SmscConfig::default()
        },
    )
    .await
    .expect("simulator starts")
}

async fn client(smsc: &Smsc, bind: BindMode) -> (SmppClient, mpsc::Receiver<Inbound>) {
    let (c, rx) = SmppClient::start(config(smsc.local_addr(), bind));
    assert!(c.wait_bound(WAIT).await, "client binds");
    (c, rx)
}

fn sms(destination: &str, text: &str) -> OutgoingSms {
    OutgoingSms {
        destination: destination.into(),
        text: text.into(),
        request_receipt: false,
        idempotency_key: None,
    }
}

async fn next_inbound(rx: &mut mpsc::Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("inbound in time")
        .expect("channel open")
}

#[tokio::test]
async fn gsm7_round_trip_with_extension_chars_and_160_161_boundaries() {
    let smsc = smsc().await;
    let (c, _rx) = client(&smsc, BindMode::Transmitter).await;
    let ext = "Biaya €5 [a] {b} ~c^ \\d| @£$¥èéùìòÇ ÄÖÑÜ§¿äöñüà";
    let at160 = format!("{}{}", "x".repeat(160 - 10), "€€€€€"); // 150 + 5×2 septets
    let at161 = format!("{at160}y");
    for (text, parts) in [(ext.to_string(), 1), (at160.clone(), 1), (at161.clone(), 2)] {
        let out = c.submit(&sms("+628123456789", &text)).await.expect("accepted");
        assert_eq!(out.encoding, Encoding::Gsm7);
        assert_eq!(out.message_ids.len(), parts, "{text}");
    }
    let got = smsc.wait_for_received(3, WAIT).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].text, ext);
    assert_eq!(got[1].text, at160);
    assert_eq!(got[1].segments, 1);
    assert_eq!(got[2].text, at161);
    assert_eq!(got[2].segments, 2);
    assert!(got.iter().all(|m| m.encoding == Encoding::Gsm7));
    assert_eq!(got[0].destination, "+628123456789");
    assert_eq!(got[0].source, "1708");
}

#[tokio::test]
async fn ucs2_with_emoji_splits_at_70_and_67() {
    let smsc = smsc().await;
    let (c, _rx) = client(&smsc, BindMode::Transmitter).await;
    let fits = format!("{}🙏", "ж".repeat(68)); // 70 UTF-16 units
    let over = format!("{}🙏{}", "ж".repeat(66), "ж".repeat(30)); // emoji straddles unit 67
    let a = c.submit(&sms("+628111", &fits)).await.expect("accepted");
    assert_eq!((a.encoding, a.message_ids.len()), (Encoding::Ucs2, 1));
    let b = c.submit(&sms("+628111", &over)).await.expect("accepted");
    assert_eq!((b.encoding, b.message_ids.len()), (Encoding::Ucs2, 2));
    let got = smsc.wait_for_received(2, WAIT).await;
    assert_eq!(got[0].text, fits);
    assert_eq!(got[1].text, over);
    assert_eq!(got[1].encoding, Encoding::Ucs2);
    assert_eq!(got[1].segments, 2);
}

#[tokio::test]
async fn indonesian_text_encoding_choice_on_the_wire() {
    let smsc = smsc().await;
    let (c, _rx) = client(&smsc, BindMode::Transmitter).await;
    let plain = "Laporan Anda #123 diterima oleh Diskominfo Kalsel. Kafé? Terima kasih.";
    let emoji = "Laporan Anda sudah selesai ditindaklanjuti 👍";
    assert_eq!(
        c.submit(&sms("+62811", plain)).await.expect("ok").encoding,
        Encoding::Gsm7
    );
    assert_eq!(
        c.submit(&sms("+62811", emoji)).await.expect("ok").encoding,
        Encoding::Ucs2
    );
    let got = smsc.wait_for_received(2, WAIT).await;
    assert_eq!((got[0].text.as_str(), got[0].encoding), (plain, Encoding::Gsm7));
    assert_eq!((got[1].text.as_str(), got[1].encoding), (emoji, Encoding::Ucs2));
}

#[tokio::test]
async fn four_hundred_chars_split_and_reassembled_at_the_simulator() {
    let smsc = smsc().await;
    let (c, _rx) = client(&smsc, BindMode::Transceiver).await;
    let text: String = "Aduan 2024/KALSEL/00017: jalan berlubang di Jl. A. Yani km 7, Banjarbaru. "
        .chars()
        .cycle()
        .take(400)
        .collect();
    assert_eq!(segment_count(&text), 3);
    let out = c.submit(&sms("+6281234567890", &text)).await.expect("accepted");
    assert_eq!(out.message_ids.len(), 3);
    let got = smsc.wait_for_received(1, WAIT).await;
    assert_eq!(got.len(), 1, "three parts are one person-visible message");
    assert_eq!(got[0].text, text);
    assert_eq!(got[0].segments, 3);
    assert_eq!(got[0].message_ids, out.message_ids);
    assert_eq!(smsc.submit_count(), 3);
}

#[tokio::test]
async fn receipts_arrive_as_inbound_receipt() {
    let smsc = smsc().await;
    let (c, mut rx) = client(&smsc, BindMode::Transceiver).await;
    let mut m = sms("+628123", "Status laporan: Proses");
    m.request_receipt = true;
    let out = c.submit(&m).await.expect("accepted");
    match next_inbound(&mut rx).await {
        Inbound::Receipt {
            message_id,
            state,
            error,
        } => {
            assert_eq!(message_id, out.message_ids[0]);
            assert_eq!(state, ReceiptState::Delivered);
            assert_eq!(error, None);
        }
        other => panic!("expected a receipt, got {other:?}"),
    }
    // No receipt when not asked for.
    c.submit(&sms("+628123", "tanpa laporan")).await.expect("accepted");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), rx.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn receipts_for_a_transmitter_go_to_the_receiver_session() {
    let smsc = smsc().await;
    let (tx_client, _tx_rx) = client(&smsc, BindMode::Transmitter).await;
    let (_rx_client, mut rx) = client(&smsc, BindMode::Receiver).await;
    let mut m = sms("+628123", &"panjang ".repeat(30)); // 240 chars: 2 parts, 2 receipts
    m.request_receipt = true;
    let out = tx_client.submit(&m).await.expect("accepted");
    let mut ids = Vec::new();
    for _ in 0..2 {
        match next_inbound(&mut rx).await {
            Inbound::Receipt {
                message_id,
                state: ReceiptState::Delivered,
                ..
            } => ids.push(message_id),
            other => panic!("{other:?}"),
        }
    }
    ids.sort();
    let mut want = out.message_ids.clone();
    want.sort();
    assert_eq!(ids, want);
    // A receiver cannot submit.
    match _rx_client.submit(&sms("+62811", "x")).await {
        Err(SubmitError::Permanent { status: 0x04, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn throttling_is_transient_and_a_retry_succeeds() {
    let smsc = smsc_with(Faults {
        throttle_every: Some(2),
        ..Faults::default()
    })
    .await;
    let (c, _rx) = client(&smsc, BindMode::Transmitter).await;
    c.submit(&sms("+62811", "satu")).await.expect("first accepted");
    let m = sms("+62811", "dua");
    match c.submit(&m).await {
        Err(SubmitError::Transient(reason)) => assert!(reason.contains("ESME_RTHROTTLED"), "{reason}"),
        other => panic!("expected throttling, got {other:?}"),
    }
    c.submit(&m).await.expect("retry accepted");
    let got = smsc.wait_for_received(2, WAIT).await;
    assert_eq!(got.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["satu", "dua"]);
}

#[tokio::test]
async fn dropped_connection_is_transient_and_the_client_reconnects() {
    let smsc = smsc_with(Faults {
        drop_connection_every: Some(2),
        ..Faults::default()
    })
    .await;
    let (c, _rx) = client(&smsc, BindMode::Transmitter).await;
    c.submit(&sms("+62811", "satu")).await.expect("first accepted");
    let started = Instant::now();
    match c.submit(&sms("+62811", "dua")).await {
        Err(SubmitError::Transient(reason)) => assert!(reason.contains("connection lost"), "{reason}"),
        other => panic!("expected a transient failure, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(1), "fails fast, not by timeout");
    // The next submit waits for the reconnect and goes through.
    c.submit(&sms("+62811", "tiga"))
        .await
        .expect("accepted after reconnect");
    assert!(c.is_bound());
    let got = smsc.wait_for_received(2, WAIT).await;
    assert_eq!(
        got.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["satu", "tiga"]
    );
}

#[tokio::test]
async fn rejected_destination_is_permanent_with_0x0b() {
    let smsc = smsc_with(Faults {
        reject_destination_prefix: Some("+62999".into()),
        ..Faults::default()
    })
    .await;
    let (c, _rx) = client(&smsc, BindMode::Transmitter).await;
    match c.submit(&sms("+629991234", "halo")).await {
        Err(SubmitError::Permanent { status, reason }) => {
            assert_eq!(status, 0x0B);
            assert!(reason.contains("ESME_RINVDSTADR"), "{reason}");
        }
        other => panic!("expected a permanent failure, got {other:?}"),
    }
    c.submit(&sms("+628111", "halo"))
        .await
        .expect("other destinations pass");
    // Invalid input never reaches the SMSC.
    match c.submit(&sms("not-a-number", "halo")).await {
        Err(SubmitError::Permanent { status: 0x0B, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(smsc.received().len(), 1);
}

#[tokio::test]
async fn wrong_password_is_transient_with_esme_rinvpaswd() {
    let smsc = smsc().await;
    let mut cfg = config(smsc.local_addr(), BindMode::Transceiver);
    cfg.password = "salah".into();
    let (c, _rx) = SmppClient::start(cfg);
    let started = Instant::now();
    match c.submit(&sms("+62811", "halo")).await {
        Err(SubmitError::Transient(reason)) => assert!(reason.contains("ESME_RINVPASWD"), "{reason}"),
        other => panic!("expected a transient bind failure, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!c.is_bound());
    assert_eq!(smsc.bound_sessions(), 0);
}

#[tokio::test]
async fn mo_multipart_ucs2_arrives_reassembled_on_a_transceiver() {
    let smsc = std::sync::Arc::new(smsc().await);
    let (_c, mut rx) = client(&smsc, BindMode::Transceiver).await;
    let text = format!(
        "LAPOR 🚧 Jalan rusak parah di depan SDN 3 Martapura, mohon segera diperbaiki 🙏 {}",
        "ж".repeat(80)
    );
    assert!(segment_count(&text) >= 3);
    let delivery = {
        let (smsc, text) = (smsc.clone(), text.clone());
        tokio::spawn(async move { smsc.deliver_mo("+6281234567890", "1708", &text).await })
    };
    match next_inbound(&mut rx).await {
        Inbound::Message {
            source,
            destination,
            text: got,
            ack,
        } => {
            assert_eq!(source, "+6281234567890");
            assert_eq!(destination, "1708");
            assert_eq!(got, text);
            ack.accept();
        }
        other => panic!("expected a message, got {other:?}"),
    }
    delivery.await.expect("task").expect("delivered");
    let delivery = {
        let smsc = smsc.clone();
        tokio::spawn(async move { smsc.deliver_mo("+6281234567890", "1708", "LAPOR singkat").await })
    };
    match next_inbound(&mut rx).await {
        Inbound::Message { text, ack, .. } if text == "LAPOR singkat" => ack.accept(),
        other => panic!("expected a message, got {other:?}"),
    }
    delivery.await.expect("task").expect("delivered");
}

/// The last part's `deliver_sm_resp` waits for the application: a message it could not
/// store, or dropped unanswered, is answered ESME_RX_T_APPN and the SMSC keeps it.
#[tokio::test]
async fn mo_is_acknowledged_only_once_the_application_takes_it() {
    let smsc = std::sync::Arc::new(smsc().await);
    let (_c, mut rx) = client(&smsc, BindMode::Receiver).await;
    for answer in ["retry", "drop", "accept"] {
        let delivery = {
            let smsc = smsc.clone();
            tokio::spawn(async move { smsc.deliver_mo("+6281234567890", "1708", "LAPOR lampu mati").await })
        };
        let Inbound::Message { ack, .. } = next_inbound(&mut rx).await else {
            panic!("expected a message");
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!delivery.is_finished(), "answered before the application took it");
        match answer {
            "retry" => ack.retry_later(),
            "drop" => drop(ack),
            _ => ack.accept(),
        }
        let outcome = delivery.await.expect("task");
        match answer {
            "accept" => assert_eq!(outcome, Ok(())),
            _ => assert!(
                matches!(outcome, Err(SimError::Rejected { status: 0x64, .. })),
                "{answer}: {outcome:?}"
            ),
        }
    }
}

/// A concatenated message the application could not take: its parts stay, so when the SMSC
/// delivers it again the message arrives once more, once — not once per part.
#[tokio::test]
async fn a_long_mo_not_taken_arrives_again_when_redelivered() {
    let smsc = std::sync::Arc::new(smsc().await);
    let (_c, mut rx) = client(&smsc, BindMode::Receiver).await;
    let text = format!(
        "LAPOR jalan berlubang di Jl. Ahmad Yani km 6 {}",
        "sangat dalam ".repeat(30)
    );
    assert!(segment_count(&text) >= 3);
    for answer in ["retry", "accept"] {
        let delivery = {
            let (smsc, text) = (smsc.clone(), text.clone());
            tokio::spawn(async move { smsc.deliver_mo("+6281234567890", "1708", &text).await })
        };
        let Inbound::Message { text: got, ack, .. } = next_inbound(&mut rx).await else {
            panic!("expected a message");
        };
        assert_eq!(got, text);
        if answer == "retry" {
            ack.retry_later();
            assert!(matches!(
                delivery.await.expect("task"),
                Err(SimError::Rejected { status: 0x64, .. })
            ));
        } else {
            ack.accept();
            assert_eq!(delivery.await.expect("task"), Ok(()));
        }
    }
    // Only once per delivery: nothing else is waiting.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn mo_without_a_receiver_fails() {
    let smsc = smsc().await;
    let (_c, _rx) = client(&smsc, BindMode::Transmitter).await;
    assert_eq!(
        smsc.deliver_mo("+62811", "1708", "x").await,
        Err(lapor_smpp::SimError::NoReceiver)
    );
}

#[tokio::test]
async fn window_limit_is_respected() {
    let smsc = smsc().await;
    smsc.set_response_delay(Some(Duration::from_millis(60)));
    let mut cfg = config(smsc.local_addr(), BindMode::Transmitter);
    cfg.window = 3;
    let (c, _rx) = SmppClient::start(cfg);
    assert!(c.wait_bound(WAIT).await);
    let mut tasks = Vec::new();
    for i in 0..12 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.submit(&sms("+62811", &format!("pesan {i}"))).await
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("accepted");
    }
    assert_eq!(smsc.received().len(), 12);
    assert_eq!(
        smsc.max_outstanding_submits(),
        3,
        "the window is filled but never exceeded"
    );
}

#[tokio::test]
async fn idempotency_key_deduplicates_at_the_simulator() {
    let smsc = smsc().await;
    let (c, _rx) = client(&smsc, BindMode::Transmitter).await;
    let mut m = sms("+62811", "Laporan Anda sudah diverifikasi");
    m.idempotency_key = Some("notif-42".into());
    let a = c.submit(&m).await.expect("accepted");
    let b = c.submit(&m).await.expect("repeat answered");
    assert_eq!(a.message_ids, b.message_ids, "a repeat returns the original id");
    let mut long = sms("+62811", &"bagian ".repeat(50));
    long.idempotency_key = Some("notif-43".into());
    let la = c.submit(&long).await.expect("accepted");
    let lb = c.submit(&long).await.expect("repeat answered");
    assert_eq!(la.message_ids, lb.message_ids);
    assert_eq!(la.message_ids.len(), 3);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let got = smsc.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].idempotency_key.as_deref(), Some("notif-42"));
    assert_eq!(got[1].idempotency_key.as_deref(), Some("notif-43"));
    // Without a key, a repeat is a second message.
    c.submit(&sms("+62811", "x")).await.expect("ok");
    c.submit(&sms("+62811", "x")).await.expect("ok");
    assert_eq!(smsc.wait_for_received(4, WAIT).await.len(), 4);
}

#[tokio::test]
async fn lost_submit_resp_and_retry_with_key_is_counted_once() {
    let smsc = smsc_with(Faults {
        drop_connection_every: Some(1),
        ..Faults::default()
    })
    .await;
    smsc.set_drop_accepts(true);
    let (c, _rx) = client(&smsc, BindMode::Transmitter).await;
    let mut m = sms("+62811", "Tindak lanjut sudah diunggah");
    m.idempotency_key = Some("notif-77".into());
    assert!(c.submit(&m).await.expect_err("response lost").is_transient());
    smsc.set_faults(Faults::default());
    let retry = c.submit(&m).await.expect("retry accepted");
    let got = smsc.received();
    assert_eq!(got.len(), 1, "accepted once, deduplicated on retry");
    assert_eq!(got[0].message_id, retry.message_ids[0]);
}

#[tokio::test]
async fn shutdown_unbinds_and_later_submits_fail_transiently() {
    let smsc = smsc().await;
    let (c, _rx) = client(&smsc, BindMode::Transceiver).await;
    assert_eq!(smsc.bound_sessions(), 1);
    c.shutdown().await;
    for _ in 0..50 {
        if smsc.bound_sessions() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(smsc.bound_sessions(), 0);
    assert!(
        c.submit(&sms("+62811", "x"))
            .await
            .expect_err("shut down")
            .is_transient()
    );
}

#[tokio::test]
async fn enquire_link_keeps_an_idle_session_alive() {
    let smsc = smsc().await;
    let mut cfg = config(smsc.local_addr(), BindMode::Transceiver);
    cfg.enquire_link_interval = Duration::from_millis(50);
    let (c, _rx) = SmppClient::start(cfg);
    assert!(c.wait_bound(WAIT).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(c.is_bound());
    c.submit(&sms("+62811", "masih hidup")).await.expect("accepted");
}

// ---- malformed input ------------------------------------------------------

async fn read_cmd(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<Command> {
    loop {
        match take_frame(buf) {
            Ok(Some(c)) => return Some(c),
            Ok(None) => {}
            Err(_) => return None,
        }
        match tokio::time::timeout(WAIT, stream.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return None,
        }
    }
}

/// Plays the SMSC for one connection: accepts it and answers its transceiver bind.
async fn accept_transceiver(listener: &TcpListener) -> (TcpStream, BytesMut) {
    let (mut stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("the client connects")
        .expect("accept");
    let mut buf = BytesMut::new();
    let bind = read_cmd(&mut stream, &mut buf).await.expect("bind");
    assert_eq!(bind.id(), CommandId::BindTransceiver);
    let resp = BindTransceiverResp::builder()
        .system_id(COctetString::from_string("FAKE".into()).expect("ascii"))
        .build();
    stream
        .write_all(&encode_command(&Command::new(
            CommandStatus::EsmeRok,
            bind.sequence_number,
            resp,
        )))
        .await
        .expect("w");
    (stream, buf)
}

async fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut b = [0u8; 256];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// Reads until a `submit_sm`, answering enquire_links meanwhile (bounded in time).
async fn next_submit(stream: &mut TcpStream, buf: &mut BytesMut) -> Command {
    let wait = async {
        loop {
            let cmd = read_cmd(stream, buf).await.expect("a PDU");
            match cmd.id() {
                CommandId::SubmitSm => return cmd,
                CommandId::EnquireLink => {
                    let r = Command::new(CommandStatus::EsmeRok, cmd.sequence_number, Pdu::EnquireLinkResp);
                    stream.write_all(&encode_command(&r)).await.expect("w");
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(WAIT, wait).await.expect("submit_sm in time")
}

fn bind_trx(seq: u32, password: &str) -> Vec<u8> {
    let b = BindTransceiver::builder()
        .system_id(COctetString::from_string("lapor".into()).expect("ascii"))
        .password(COctetString::from_string(password.into()).expect("ascii"))
        .build();
    encode_command(&Command::new(CommandStatus::EsmeRok, seq, b)).to_vec()
}

#[tokio::test]
async fn malformed_bytes_do_not_break_the_simulator() {
    let smsc = smsc().await;
    // A command_length that cannot be right.
    let mut s = TcpStream::connect(smsc.local_addr()).await.expect("connect");
    s.write_all(&[0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8]).await.expect("write");
    assert!(closed_by_peer(&mut s).await, "simulator drops the connection");
    // A bound session sending a submit_sm with a body that does not decode.
    let mut s = TcpStream::connect(smsc.local_addr()).await.expect("connect");
    s.write_all(&bind_trx(1, "lapor")).await.expect("write");
    let mut buf = BytesMut::new();
    let resp = read_cmd(&mut s, &mut buf).await.expect("bind resp");
    assert_eq!(
        (resp.id(), resp.status),
        (CommandId::BindTransceiverResp, CommandStatus::EsmeRok)
    );
    s.write_all(&[0, 0, 0, 20, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 2, b'a', b'b', b'c', b'd'])
        .await
        .expect("write");
    assert!(closed_by_peer(&mut s).await);
    // Random garbage on many connections.
    let mut seed: u32 = 12345;
    for _ in 0..20 {
        let mut s = TcpStream::connect(smsc.local_addr()).await.expect("connect");
        let junk: Vec<u8> = (0..64)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let _ = s.write_all(&junk).await;
    }
    // Wrong password over raw TCP gets ESME_RINVPASWD.
    let mut s = TcpStream::connect(smsc.local_addr()).await.expect("connect");
    s.write_all(&bind_trx(1, "salah")).await.expect("write");
    let resp = read_cmd(&mut s, &mut BytesMut::new()).await.expect("bind resp");
    assert_eq!(resp.status, CommandStatus::EsmeRinvpaswd);
    // Still serving real clients.
    let (c, _rx) = client(&smsc, BindMode::Transmitter).await;
    c.submit(&sms("+62811", "masih jalan")).await.expect("accepted");
}

#[tokio::test]
async fn client_survives_malformed_pdus_and_protocol_oddities() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut cfg = config(addr, BindMode::Transceiver);
    cfg.enquire_link_interval = Duration::from_millis(100);
    cfg.response_timeout = Duration::from_secs(1);
    let (c, mut inbound) = SmppClient::start(cfg);

    // First connection.
    let (mut s, mut buf) = accept_transceiver(&listener).await;
    assert!(c.wait_bound(WAIT).await);

    // deliver_sm whose UDH length runs past the message: rejected, no panic.
    let bad = DeliverSm::builder()
        .esm_class(EsmClass::from(0x40))
        .short_message(OctetString::from_slice(&[0x09, 0x00, 0x03]).expect("fits"))
        .build();
    s.write_all(&encode_command(&Command::new(CommandStatus::EsmeRok, 10, bad)))
        .await
        .expect("w");
    let r = read_cmd(&mut s, &mut buf).await.expect("deliver_sm_resp");
    assert_eq!(
        (r.id(), r.sequence_number, u32::from(r.status)),
        (CommandId::DeliverSmResp, 10, 0x65)
    );

    // The SMSC's enquire_link is answered.
    s.write_all(&encode_command(&Command::new(
        CommandStatus::EsmeRok,
        11,
        Pdu::EnquireLink,
    )))
    .await
    .expect("w");
    let r = read_cmd(&mut s, &mut buf).await.expect("enquire_link_resp");
    assert_eq!((r.id(), r.sequence_number), (CommandId::EnquireLinkResp, 11));

    // An unknown request gets generic_nack ESME_RINVCMDID.
    s.write_all(&[0, 0, 0, 20, 0, 0, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 12, 1, 2, 3, 4])
        .await
        .expect("w");
    let r = read_cmd(&mut s, &mut buf).await.expect("generic_nack");
    assert_eq!(
        (r.id(), r.sequence_number, r.status),
        (CommandId::GenericNack, 12, CommandStatus::EsmeRinvcmdid)
    );

    // Idle: the client sends its own enquire_link.
    let e = read_cmd(&mut s, &mut buf).await.expect("enquire_link");
    assert_eq!(e.id(), CommandId::EnquireLink);
    s.write_all(&encode_command(&Command::new(
        CommandStatus::EsmeRok,
        e.sequence_number,
        Pdu::EnquireLinkResp,
    )))
    .await
    .expect("w");

    // A submit answered with generic_nack maps its status.
    let c2 = c.clone();
    let submit = tokio::spawn(async move { c2.submit(&sms("+62811", "x")).await });
    let sm = next_submit(&mut s, &mut buf).await;
    s.write_all(&encode_command(&Command::new(
        CommandStatus::EsmeRinvcmdlen,
        sm.sequence_number,
        Pdu::GenericNack,
    )))
    .await
    .expect("w");
    match submit.await.expect("task") {
        Err(SubmitError::Permanent { status: 0x02, reason }) => assert!(reason.contains("ESME_RINVCMDLEN")),
        other => panic!("{other:?}"),
    }

    // Garbage: the client drops the connection...
    s.write_all(&[0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF]).await.expect("w");
    assert!(closed_by_peer(&mut s).await, "client drops the connection");

    // ...and comes back.
    let (mut s, mut buf) = accept_transceiver(&listener).await;
    let c2 = c.clone();
    let submit = tokio::spawn(async move { c2.submit(&sms("+62811", "y")).await });
    let sm = next_submit(&mut s, &mut buf).await;
    let ok = SubmitSmResp::builder()
        .message_id(COctetString::from_string("abc".into()).expect("ascii"))
        .build();
    s.write_all(&encode_command(&Command::new(
        CommandStatus::EsmeRok,
        sm.sequence_number,
        ok,
    )))
    .await
    .expect("w");
    assert_eq!(submit.await.expect("task").expect("accepted").message_ids, ["abc"]);
    assert!(inbound.try_recv().is_err(), "nothing bogus was delivered");
}
