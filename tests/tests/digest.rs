//! The leadership digest with the real `lapor-notification` binary, its PostgreSQL database,
//! a RabbitMQ vhost, the SMTP sink (aiosmtpd) and the SMSC simulator (so SMS is switched on
//! and staying off it is a choice, not a missing transport):
//!
//! - a `DigestReady` published twice with the same event id reaches each pimpinan once, by
//!   e-mail only, and nobody else; even an event the inbox has forgotten adds no delivery;
//! - the e-mail lists the figures and names the period in WITA, in each leader's language
//!   (one of them switched to English through their own preferences), with the dashboard
//!   link and a `List-Unsubscribe` header.

use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use lapor_domain::reference::OfficerRole;
use lapor_e2e::eventually;
use lapor_e2e::mailbox::{ReceivedMail, SmtpSink};
use lapor_e2e::process::{ProcessFixture, dev_token, exec, free_port, log_sink, service_binary};
use lapor_e2e::stack::{SMS_IDEMPOTENCY_TLV, authorized, repo_root, smsc_config};
use lapor_messaging::envelope::to_timestamp;
use lapor_messaging::new_envelope;
use lapor_messaging::publisher::{self, Message};
use lapor_messaging::topology::EVENTS_EXCHANGE;
use lapor_proto::events::v1::{DigestCategory, DigestReady, DigestSkpd, EventEnvelope, event_envelope::Payload};
use lapor_proto::notification::v1::Preferences;
use lapor_proto::notification::v1::notification_service_client::NotificationServiceClient;
use lapor_smpp::sim::Smsc;
use prost::Message as _;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;
use uuid::Uuid;

const DEV_SECRET: &str = "digest-test-secret-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(60);
const QUEUE: &str = "notification.digests";

/// The seed's pimpinan, who keeps the default language.
const SEKDA: (&str, &str) = ("prov-sekda", "sekda@kalselprov.example.id");
/// A second pimpinan added to the suite's copy of the seed, who switches to English.
const WAGUB: (&str, &str) = ("prov-wagub", "wagub@kalselprov.example.id");

/// The shipped seed plus [`WAGUB`].
fn seed_with_second_leader(dir: &Path) {
    copy_dir(&repo_root().join("deploy/seed"), dir);
    let officers = dir.join("officers.toml");
    let mut text = std::fs::read_to_string(&officers).expect("officers.toml");
    text.push_str(&format!(
        "\n[[officer]]\nid = \"{}\"\nname = \"Wagub Contoh\"\nskpd = \"diskominfo\"\nrole = \"pimpinan\"\n\
         email = \"{}\"\nphone = \"+6281200999003\"\n",
        WAGUB.0, WAGUB.1
    ));
    std::fs::write(&officers, text).expect("write officers.toml");
}

/// The notification process, killed on drop.
struct Notification {
    child: Child,
    grpc_port: u16,
    http_port: u16,
}

impl Notification {
    fn start(fixture: &ProcessFixture, smtp_port: u16, smsc: &Smsc, seed: &Path) -> Notification {
        let (grpc_port, http_port) = (free_port(), free_port());
        let child = Command::new(service_binary("lapor-notification"))
            .current_dir(repo_root())
            .env("LAPOR_CONFIG_DIR", "/nonexistent-lapor-config")
            .env("LAPOR__DATABASE__URL", fixture.url())
            .env("LAPOR__DATABASE__MAX_CONNECTIONS", "4")
            .env("LAPOR__AMQP__URL", fixture.amqp_url())
            .env("LAPOR__GRPC__ADDR", format!("127.0.0.1:{grpc_port}"))
            .env("LAPOR__HTTP__ADDR", format!("127.0.0.1:{http_port}"))
            .env("LAPOR__SEED__DIR", seed)
            .env("LAPOR__AUTH__DEV_SECRET", DEV_SECRET)
            .env("LAPOR__SMTP__PORT", smtp_port.to_string())
            .env("LAPOR__SMS__ADDR", smsc.local_addr().to_string())
            .env("LAPOR__SMS__IDEMPOTENCY_TLV", SMS_IDEMPOTENCY_TLV.to_string())
            .env("LAPOR__TEMPLATES__DIR", repo_root().join("deploy/templates"))
            .env("LAPOR__DELIVERY__POLL_INTERVAL_MS", "200")
            .env("RUST_LOG", "info")
            .stdout(log_sink())
            .stderr(log_sink())
            .spawn()
            .expect("start lapor-notification");
        Notification {
            child,
            grpc_port,
            http_port,
        }
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    async fn client(&self) -> NotificationServiceClient<tonic::transport::Channel> {
        let endpoint = format!("http://127.0.0.1:{}", self.grpc_port);
        let channel = eventually("notification grpc", WAIT, || {
            let endpoint = endpoint.clone();
            async move {
                tonic::transport::Endpoint::from_shared(endpoint)
                    .ok()?
                    .connect()
                    .await
                    .ok()
            }
        })
        .await;
        NotificationServiceClient::new(channel)
    }

    /// `lapor_consumer_messages_total` of the digest queue with this outcome.
    async fn consumed(&self, outcome: &str) -> Option<u64> {
        let url = format!("http://127.0.0.1:{}/metrics", self.http_port);
        let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
        let total = text
            .lines()
            .filter(|line| line.starts_with("lapor_consumer_messages_total{"))
            .filter(|line| line.contains(&format!("queue=\"{QUEUE}\"")))
            .filter(|line| line.contains(&format!("outcome=\"{outcome}\"")))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
        Some(total as u64)
    }

    async fn wait_consumed(&self, outcome: &str, count: u64) {
        eventually(&format!("{count} {outcome} on {QUEUE}"), WAIT, || async {
            (self.consumed(outcome).await? >= count).then_some(())
        })
        .await;
    }
}

impl Drop for Notification {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A confirming channel, once notification consumes the digest queue (the history stream
/// takes every event, so an early publish would not come back unroutable: it would be lost
/// to the digest queue).
async fn broker(fixture: &ProcessFixture) -> (Connection, Channel) {
    let connection = Connection::connect(&fixture.amqp_url(), ConnectionProperties::default())
        .await
        .expect("amqp");
    eventually("notification consuming the digest queue", WAIT, || {
        has_consumer(&connection, QUEUE)
    })
    .await;
    let channel = connection.create_channel().await.expect("channel");
    publisher::enable_confirms(&channel).await.expect("confirms");
    (connection, channel)
}

async fn has_consumer(connection: &Connection, queue: &str) -> Option<()> {
    let (_, consumers) = lapor_e2e::rabbit::probe_queue(connection, queue).await?;
    (consumers > 0).then_some(())
}

async fn publish(channel: &Channel, routing_key: &str, envelope: &EventEnvelope) {
    let body = envelope.encode_to_vec();
    publisher::publish(
        channel,
        &Message {
            exchange: EVENTS_EXCHANGE,
            routing_key,
            message_id: &envelope.event_id,
            event_type: &envelope.event_type,
            payload: &body,
            headers: &BTreeMap::new(),
            extra_headers: FieldTable::default(),
        },
    )
    .await
    .unwrap_or_else(|e| panic!("publish {routing_key}: {e}"));
}

/// Midnight WITA at the start of the day, as analytics bounds its periods.
fn wita_midnight(year: i32, month: u32, day: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::FixedOffset::east_opt(8 * 3600)
        .and_then(|wita| wita.with_ymd_and_hms(year, month, day, 0, 0, 0).single())
        .expect("valid date")
        .to_utc()
}

/// A digest as analytics publishes it: `analytics.digest`, the period's name-based id in
/// place of a complaint, no tracking id.
fn digest(kind: &str, from: chrono::DateTime<chrono::Utc>, days: i64, figures: DigestReady) -> EventEnvelope {
    let period_id = Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("lapor:digest:{kind}:{}", from.to_rfc3339()).as_bytes(),
    );
    new_envelope(
        "analytics",
        period_id,
        "",
        Payload::DigestReady(DigestReady {
            period_kind: kind.into(),
            period_from: Some(to_timestamp(from)),
            period_to: Some(to_timestamp(from + chrono::TimeDelta::days(days))),
            ..figures
        }),
    )
}

fn weekly_figures() -> DigestReady {
    DigestReady {
        received: 1234,
        closed: 98,
        open_backlog: 340,
        overdue_open: 27,
        verification_compliance_pct: Some(87.5),
        follow_up_compliance_pct: None,
        escalations: 12,
        most_overdue: vec![DigestSkpd {
            skpd_code: "dinkes".into(),
            skpd_name: "Dinas Kesehatan".into(),
            overdue_open: 12,
            follow_up_compliance_pct: Some(61.0),
        }],
        rising_categories: vec![DigestCategory {
            category_code: "kesehatan.rumah-sakit".into(),
            this_period: 14,
            previous_period: 9,
        }],
        dashboard_url: "https://lapor.kalselprov.example.id/analytics".into(),
        ..DigestReady::default()
    }
}

/// (recipient, channel, lang) of `event`'s deliveries, once every one is SENT.
async fn sent_deliveries(
    fixture: &ProcessFixture,
    event: &EventEnvelope,
) -> Option<BTreeSet<(String, String, String)>> {
    let rows = fixture
        .db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT recipient_id, channel, lang, state FROM deliveries WHERE event_id = $1::uuid",
            [event.event_id.clone().into()],
        ))
        .await
        .ok()?;
    let mut sent = BTreeSet::new();
    for row in &rows {
        if row.try_get::<String>("", "state").ok()? != "SENT" {
            return None;
        }
        sent.insert((
            row.try_get("", "recipient_id").ok()?,
            row.try_get("", "channel").ok()?,
            row.try_get("", "lang").ok()?,
        ));
    }
    (!sent.is_empty()).then_some(sent)
}

fn expected_deliveries() -> BTreeSet<(String, String, String)> {
    [(SEKDA.0, "id"), (WAGUB.0, "en")]
        .into_iter()
        .map(|(who, lang)| (who.to_owned(), "email".to_owned(), lang.to_owned()))
        .collect()
}

/// One received e-mail, decoded.
#[derive(Debug)]
struct Mail {
    to: Vec<String>,
    subject: String,
    text: String,
    list_unsubscribe: Option<String>,
}

impl Mail {
    fn parse(mail: &ReceivedMail) -> Mail {
        let raw = mail.raw.replace("\r\n", "\n");
        Mail {
            to: mail.rcpt_to.clone(),
            subject: decode_words(&header(&raw, "Subject").unwrap_or_default()),
            text: text_part(&raw),
            list_unsubscribe: header(&raw, "List-Unsubscribe"),
        }
    }
}

/// The first header `name` of the message's top-level headers, unfolded.
fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\n\n").next().unwrap_or_default();
    let mut lines = head.lines().skip_while(|line| {
        !line
            .split_once(':')
            .is_some_and(|(key, _)| key.eq_ignore_ascii_case(name))
    });
    let first = lines.next()?.split_once(':')?.1.trim().to_owned();
    let folded = lines.take_while(|line| line.starts_with([' ', '\t']));
    Some(folded.fold(first, |value, line| format!("{value} {}", line.trim())))
}

/// RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) decoded; the space between
/// two encoded words dropped.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut last_was_word = false;
    for token in value.split_whitespace() {
        let word = token
            .strip_prefix("=?")
            .and_then(|t| t.strip_suffix("?="))
            .and_then(|t| {
                let mut parts = t.splitn(3, '?');
                let (_charset, encoding, text) = (parts.next()?, parts.next()?, parts.next()?);
                let bytes = match encoding {
                    "b" | "B" => base64(text),
                    _ => quoted_printable(&text.replace('_', " ")),
                };
                String::from_utf8(bytes).ok()
            });
        match word {
            Some(decoded) => {
                if !out.is_empty() && !last_was_word {
                    out.push(' ');
                }
                out.push_str(&decoded);
                last_was_word = true;
            }
            None => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(token);
                last_was_word = false;
            }
        }
    }
    out
}

/// The decoded text/plain part of the multipart/alternative message.
fn text_part(raw: &str) -> String {
    let boundary = raw
        .split_once("boundary=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(boundary, _)| format!("\n--{boundary}"))
        .expect("a multipart message");
    let start = raw.find("Content-Type: text/plain").expect("a text/plain part");
    let (head, body) = raw[start..].split_once("\n\n").expect("part headers");
    let body = body.split(boundary.as_str()).next().unwrap_or_default();
    let encoding = header(head, "Content-Transfer-Encoding").unwrap_or_default();
    let bytes = match encoding.to_ascii_lowercase().as_str() {
        "quoted-printable" => quoted_printable(body),
        "base64" => base64(body),
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8(bytes).expect("utf-8 text")
}

fn quoted_printable(text: &str) -> Vec<u8> {
    let text = text.replace("=\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'=')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

fn base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for sextet in text.bytes().filter_map(|c| ALPHABET.iter().position(|&a| a == c)) {
        buffer = (buffer << 6) | sextet as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy file");
        }
    }
}

fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lapor_{label}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn mails_to(mails: &[Mail], address: &str, subject_part: &str) -> Vec<usize> {
    mails
        .iter()
        .enumerate()
        .filter(|(_, m)| m.to.iter().any(|to| to == address) && m.subject.contains(subject_part))
        .map(|(i, _)| i)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_pimpinan_gets_each_digest_once_by_email_in_their_language() {
    let fixture = ProcessFixture::new("digest", "notification").await;
    let maildir = temp_dir("digest_mail");
    let seed = temp_dir("digest_seed");
    seed_with_second_leader(&seed);
    let smtp = SmtpSink::start(maildir.clone()).await.expect("smtp sink");
    let smsc = Smsc::start("127.0.0.1:0", smsc_config()).await.expect("smsc");
    let mut notification = Notification::start(&fixture, smtp.port, &smsc, &seed);
    fixture
        .wait_for_schema("SELECT count(*) FROM recipients", || notification.running())
        .await;

    // The second leader prefers English and, like the seed's default, both channels.
    let own_token = dev_token(DEV_SECRET, WAGUB.0, OfficerRole::Pimpinan, None);
    notification
        .client()
        .await
        .set_preferences(authorized(
            Preferences {
                recipient_id: WAGUB.0.into(),
                channels: "both".into(),
                lang: "en".into(),
                quiet_start: String::new(),
                quiet_end: String::new(),
            },
            &own_token,
        ))
        .await
        .expect("own preferences");

    let (_connection, channel) = broker(&fixture).await;
    let weekly = digest("weekly", wita_midnight(2026, 11, 16), 7, weekly_figures());
    // The same event twice, as a redelivery or a relay resending after a lost confirm does.
    publish(&channel, "analytics.digest.weekly", &weekly).await;
    publish(&channel, "analytics.digest.weekly", &weekly).await;
    notification.wait_consumed("processed", 1).await;
    notification.wait_consumed("duplicate", 1).await;
    // A quiet day, without a dashboard or anything to measure.
    let daily = digest("daily", wita_midnight(2026, 11, 27), 1, DigestReady::default());
    publish(&channel, "analytics.digest.daily", &daily).await;

    for event in [&weekly, &daily] {
        let sent = eventually("the digest e-mails sent", WAIT, || sent_deliveries(&fixture, event)).await;
        assert_eq!(sent, expected_deliveries(), "one e-mail per pimpinan, no SMS");
    }
    let mails: Vec<Mail> = eventually("four e-mails in the sink", WAIT, || {
        let mails = smtp.messages();
        std::future::ready((mails.len() >= 4).then_some(mails))
    })
    .await
    .iter()
    .map(Mail::parse)
    .collect();
    assert_eq!(mails.len(), 4, "{mails:#?}");
    let leaders: BTreeSet<&str> = [SEKDA.1, WAGUB.1].into();
    for mail in &mails {
        assert_eq!(mail.to.len(), 1, "{mail:?}");
        assert!(
            leaders.contains(mail.to[0].as_str()),
            "digest to a non-leader: {mail:?}"
        );
        assert_eq!(
            mail.list_unsubscribe.as_deref(),
            Some("<mailto:admin@lapor.kalselprov.example.id?subject=Berhenti%20ringkasan%20LAPOR>")
        );
    }

    // Bahasa Indonesia by default.
    let sekda_weekly = mails_to(&mails, SEKDA.1, "16–22 November 2026");
    assert_eq!(sekda_weekly.len(), 1, "{mails:#?}");
    let mail = &mails[sekda_weekly[0]];
    assert_eq!(mail.subject, "[LAPOR] Ringkasan pengaduan 16–22 November 2026");
    for line in [
        "Yth. Sekda Contoh,",
        "periode 16–22 November 2026:",
        "- Aduan masuk: 1.234",
        "- Aduan selesai: 98",
        "- Aduan belum selesai (saat ringkasan dibuat): 340",
        "- Belum ditindaklanjuti, melewati batas waktu: 27",
        "- Kepatuhan SLA verifikasi: 87,5%",
        "- Kepatuhan SLA tindak lanjut: –",
        "- Eskalasi: 12",
        "- Terlambat terbanyak – Dinas Kesehatan: 12 aduan melewati batas waktu; kepatuhan SLA tindak lanjut 61,0%",
        "- Kategori meningkat – Layanan Rumah Sakit: 14 aduan (periode sebelumnya 9)",
        "https://lapor.kalselprov.example.id/analytics",
        "-- LAPOR! Provinsi Kalimantan Selatan (pesan otomatis, jangan dibalas)",
    ] {
        assert!(
            mail.text.contains(&format!("{line}\n")),
            "{line:?} missing from\n{}",
            mail.text
        );
    }

    // English for the leader who chose it.
    let wagub_weekly = mails_to(&mails, WAGUB.1, "16–22 November 2026");
    assert_eq!(wagub_weekly.len(), 1, "{mails:#?}");
    let mail = &mails[wagub_weekly[0]];
    assert_eq!(mail.subject, "[LAPOR] Complaint digest 16–22 November 2026");
    for line in [
        "Dear Wagub Contoh,",
        "- Complaints received: 1,234",
        "- Verification SLA compliance: 87.5%",
        "- Follow-up SLA compliance: –",
        "- Most overdue – Dinas Kesehatan: 12 complaints past their deadline; follow-up SLA compliance 61.0%",
        "- Rising category – Layanan Rumah Sakit: 14 complaints (previous period 9)",
    ] {
        assert!(
            mail.text.contains(&format!("{line}\n")),
            "{line:?} missing from\n{}",
            mail.text
        );
    }

    // The day's digest names the day; nothing measured shows as "–", and no dashboard link.
    let sekda_daily = mails_to(&mails, SEKDA.1, "27 November 2026");
    assert_eq!(sekda_daily.len(), 1, "{mails:#?}");
    let mail = &mails[sekda_daily[0]];
    assert_eq!(mail.subject, "[LAPOR] Ringkasan pengaduan 27 November 2026");
    assert!(mail.text.contains("- Aduan masuk: 0\n"), "{}", mail.text);
    assert!(mail.text.contains("- Kepatuhan SLA verifikasi: –\n"), "{}", mail.text);
    assert!(!mail.text.contains("dasbor"), "{}", mail.text);
    assert_eq!(mails_to(&mails, WAGUB.1, "27 November 2026").len(), 1);

    // Even if the inbox had forgotten the weekly event, the unique delivery key plans nothing new.
    exec(
        &fixture.db,
        &format!("DELETE FROM inbox WHERE event_id = '{}'", weekly.event_id),
    )
    .await;
    publish(&channel, "analytics.digest.weekly", &weekly).await;
    notification.wait_consumed("processed", 3).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sent_deliveries(&fixture, &weekly).await, Some(expected_deliveries()));
    assert_eq!(smtp.messages().len(), 4, "no second e-mail");

    drop(notification);
    smtp.stop().await;
    let _ = std::fs::remove_dir_all(&maildir);
    let _ = std::fs::remove_dir_all(&seed);
    fixture.cleanup().await;
}
