//! `laporctl`: the LAPOR command line for administrators and operators. Speaks gRPC to the
//! services; prints readable tables, or JSON with `--json` for scripts.

mod directory;
mod notify;

use anyhow::Context;
use clap::{Parser, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use lapor_proto::analytics::v1::GetSummaryRequest;
use lapor_proto::analytics::v1::analytics_service_client::AnalyticsServiceClient;
use lapor_proto::events::v1::{Channel, ComplaintKind};
use lapor_proto::intake::v1::intake_service_client::IntakeServiceClient;
use lapor_proto::intake::v1::{
    AttachmentUpload, ComplaintStatus, GetComplaintStatusRequest, Reporter, SubmitComplaintRequest,
};
use lapor_proto::routing::v1::policy_service_client::PolicyServiceClient;
use lapor_proto::routing::v1::routing_service_client::RoutingServiceClient;
use lapor_proto::routing::v1::{
    AddHolidayRequest, ArchiveCaseRequest, CalendarChange, CalendarPolicy, CaseRef, ClearSlaRuleRequest,
    CloseCaseRequest, ComplexityTier, Deadline, DisposeToSubUnitRequest, FileUpload, GetCalendarPolicyRequest,
    GetCaseRequest, GetSlaPolicyRequest, HoldCaseRequest, Holiday, ListAuditLogRequest, ListHolidaysRequest,
    ListInboxRequest, ListVerificationQueueRequest, MarkNotAuthorityRequest, MergeCaseRequest, PostFollowUpRequest,
    ReadAttachmentRequest, RedisposeCaseRequest, RemoveHolidayRequest, ReturnToAdminRequest, SetCalendarPolicyRequest,
    SetSkpdCalendarRequest, SlaPolicy, SlaRule, StartProgressRequest, SuggestDuplicatesRequest, VerifyCaseRequest,
};
use serde_json::json;

#[derive(Parser)]
#[command(name = "laporctl", version, about = "LAPOR command line")]
struct Cli {
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[arg(
        long,
        env = "LAPOR_INTAKE_GRPC",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    intake: String,
    #[arg(
        long,
        env = "LAPOR_ROUTING_GRPC",
        default_value = "http://127.0.0.1:50052",
        global = true
    )]
    routing: String,
    #[arg(
        long,
        env = "LAPOR_NOTIFICATION_GRPC",
        default_value = "http://127.0.0.1:50053",
        global = true
    )]
    notification: String,
    #[arg(
        long,
        env = "LAPOR_ANALYTICS_GRPC",
        default_value = "http://127.0.0.1:50054",
        global = true
    )]
    analytics: String,
    /// Bearer token for officer commands (see `laporctl token`).
    #[arg(long, env = "LAPOR_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Submit a complaint (as a citizen would).
    Submit {
        #[arg(long)]
        title: String,
        #[arg(long)]
        body: String,
        /// Category code, e.g. kesehatan.rumah-sakit (see deploy/seed/categories.toml).
        #[arg(long)]
        category: String,
        /// Kabupaten/kota code, e.g. 6371 for Kota Banjarmasin (see deploy/seed/kabupaten.toml).
        #[arg(long)]
        kabupaten: String,
        #[arg(long, default_value = "")]
        location: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        phone: String,
        #[arg(long, default_value = "")]
        email: String,
        /// The reporter's NIK (16 digits); kept only in intake's encrypted vault.
        #[arg(long, default_value = "")]
        nik: String,
        #[arg(long)]
        anonim: bool,
        #[arg(long)]
        rahasia: bool,
        /// Makes retries safe: the same key returns the same tracking id.
        #[arg(long, default_value = "")]
        idempotency_key: String,
        /// A photo (JPEG, PNG, WebP, GIF) or PDF to attach; repeat for more (5, 10 MiB in all).
        #[arg(long = "attach")]
        attachments: Vec<std::path::PathBuf>,
    },
    /// Public status of a complaint and its case in routing.
    Status {
        tracking_id: String,
        /// The reporter's access code: needed for a rahasia report.
        #[arg(long, default_value = "")]
        access_code: String,
    },
    /// Cases in an SKPD's inbox.
    Inbox {
        skpd: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Notification delivery log and resends.
    #[command(subcommand)]
    Deliveries(notify::DeliveryCommand),
    /// A person's notification channels, language and quiet hours.
    #[command(subcommand)]
    Prefs(notify::PrefsCommand),
    /// Events the notification queues gave up on: list and replay.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(notify::DeadLetterCommand),
    /// The directory (SKPDs, sub-units, categories, routing rules, officers): show, change,
    /// and its audit log. Changes need an admin token.
    #[command(subcommand)]
    Directory(directory::DirectoryCommand),
    /// Complaint counts from analytics.
    Summary,
    /// Mint a development bearer token (HS256 with LAPOR__AUTH__DEV_SECRET or var/dev-auth.secret).
    Token {
        /// admin, koordinator, penghubung, kepala or pimpinan.
        #[arg(long)]
        role: String,
        /// SKPD scope; required for koordinator, penghubung and kepala.
        #[arg(long)]
        skpd: Option<String>,
        #[arg(long, default_value = "dev-officer")]
        subject: String,
        #[arg(long, default_value_t = 8 * 3600)]
        ttl_seconds: u64,
        #[arg(long, default_value = "lapor-dev")]
        issuer: String,
        #[arg(long, default_value = "lapor")]
        audience: String,
    },
    /// Admin: cases waiting for verification.
    Queue {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// A case as officers see it, with the actions open to you.
    Case { tracking_id: String },
    /// Save a file the reporter attached to a case (ids are listed by `case`).
    Attachment {
        tracking_id: String,
        attachment_id: String,
        /// Where to write it; `-` for standard output.
        #[arg(long, short)]
        out: std::path::PathBuf,
    },
    /// Every action taken on a case.
    Audit { tracking_id: String },
    /// Admin: likely duplicates of a case (same category and place, similar text, 30 days).
    Duplicates { tracking_id: String },
    /// Act on a case. Pass --version to guard against concurrent changes; without it the
    /// current version is read first.
    Act {
        tracking_id: String,
        #[arg(long)]
        version: Option<i64>,
        #[command(subcommand)]
        action: CaseAction,
    },
    /// Working-day calendar: holidays, cuti bersama policy, SKPD work weeks and zones.
    /// Changes need a provincial admin token and recompute pending deadlines.
    Calendar {
        #[command(subcommand)]
        command: CalendarCommand,
    },
    /// SLA policy: working days per stage and scope, and the complexity tiers.
    Sla {
        #[command(subcommand)]
        command: SlaCommand,
    },
}

#[derive(Subcommand)]
enum CalendarCommand {
    /// List holidays.
    Holidays {
        /// Only this year (2000..=2100); every year when omitted.
        #[arg(long)]
        year: Option<i32>,
    },
    /// Add a holiday.
    Add {
        /// YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        date: String,
        #[arg(long, value_parser = ["libur_nasional", "cuti_bersama", "libur_daerah"])]
        kind: String,
        #[arg(long)]
        name: String,
        /// The decree that sets the day, e.g. "SKB 3 Menteri No. ...".
        #[arg(long)]
        decree: String,
        /// "national" or a kabupaten/kota code such as 6371.
        #[arg(long, default_value = "national")]
        scope: String,
    },
    /// Remove a holiday.
    Remove {
        /// YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        date: String,
        /// "national" or a kabupaten/kota code.
        #[arg(long, default_value = "national")]
        scope: String,
    },
    /// Show the calendar policy and every SKPD's work week and zone.
    Policy,
    /// Change the calendar policy.
    SetPolicy {
        /// Whether cuti bersama days stop the SLA clock.
        #[arg(long, action = clap::ArgAction::Set, required = true)]
        cuti_bersama_stops_clock: bool,
    },
    /// Set an SKPD's work week, time zone and kabupaten/kota (for libur daerah).
    Skpd {
        code: String,
        /// 5 (Monday-Friday) or 6 (Monday-Saturday).
        #[arg(long, value_parser = clap::value_parser!(u32).range(5..=6))]
        work_days: u32,
        /// WIB, WITA or WIT.
        #[arg(long, value_parser = parse_zone)]
        zone: String,
        /// Kabupaten/kota code whose libur daerah apply; omit for a provincial SKPD.
        #[arg(long, default_value = "")]
        kabupaten: String,
    },
}

#[derive(Subcommand)]
enum SlaCommand {
    /// Show every SLA rule and complexity tier.
    Show,
    /// Set the working days of one stage for a scope.
    Set {
        /// default, category:<code> or skpd:<code>.
        #[arg(long)]
        scope: String,
        #[arg(long, value_parser = SLA_STAGES)]
        stage: String,
        /// Working days, 1..=365.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=365))]
        days: u32,
    },
    /// Remove a rule, so the next broader scope applies.
    Clear {
        /// default, category:<code> or skpd:<code>.
        #[arg(long)]
        scope: String,
        #[arg(long, value_parser = SLA_STAGES)]
        stage: String,
    },
    /// Set the follow-up working days of a complexity tier (ringan, sedang, kompleks, khusus, ...).
    Tier {
        code: String,
        /// Working days, 1..=365.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=365))]
        days: u32,
    },
}

const SLA_STAGES: [&str; 3] = ["verification", "follow_up", "reply_window"];

fn parse_zone(text: &str) -> Result<String, String> {
    let zone = text.to_uppercase();
    match zone.as_str() {
        "WIB" | "WITA" | "WIT" => Ok(zone),
        _ => Err(format!("{text:?} is not a zone: expected WIB, WITA or WIT")),
    }
}

fn parse_date(text: &str) -> Result<String, String> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|date| date.format("%Y-%m-%d").to_string())
        .map_err(|_| format!("{text:?} is not a date in the form YYYY-MM-DD"))
}

#[derive(Subcommand)]
enum CaseAction {
    /// Verifikasi and dispose to an SKPD.
    Verify {
        skpd: String,
        /// Complexity tier for the follow-up SLA (ringan, sedang, kompleks, khusus); the
        /// category/SKPD policy when omitted.
        #[arg(long)]
        tier: Option<String>,
    },
    /// Tunda, asking the reporter a question.
    Hold { question: String },
    /// Bukan wewenang, naming the right body.
    NotAuthority { body: String },
    /// Arsipkan: SPAM, UNINTELLIGIBLE, OUT_OF_SCOPE or DUPLICATE.
    Archive { reason: String },
    /// Mark as a duplicate of another case.
    Merge { parent: String },
    /// Re-dispose a returned case to an SKPD.
    Redispose {
        skpd: String,
        /// Complexity tier for the follow-up SLA, as for verify.
        #[arg(long)]
        tier: Option<String>,
    },
    /// Koordinator: dispose to a sub-unit.
    SubUnit { name: String },
    /// Give the case back to the admin.
    Return { reason: String },
    /// Work has started.
    Start,
    /// Post the tindak lanjut, with photos or PDFs of what was done.
    FollowUp {
        text: String,
        /// A photo (JPEG, PNG, WebP, GIF) or PDF; repeat for more (5, 10 MiB in all).
        #[arg(long = "attach")]
        attachments: Vec<std::path::PathBuf>,
    },
    /// Close a followed-up case.
    Close,
}

/// Each file's name and bytes, for an upload.
fn read_files(paths: &[std::path::PathBuf]) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    paths
        .iter()
        .map(|path| {
            let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let filename = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok((filename, data))
        })
        .collect()
}

fn time(ts: Option<&prost_types::Timestamp>) -> String {
    ts.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(header.to_vec());
    table
}

async fn connect(url: &str) -> anyhow::Result<tonic::transport::Channel> {
    tonic::transport::Endpoint::from_shared(url.to_owned())?
        .connect()
        .await
        .with_context(|| format!("cannot reach {url}"))
}

fn authorized<T>(message: T, token: &Option<String>) -> anyhow::Result<tonic::Request<T>> {
    let token = token
        .as_deref()
        .context("this command needs --token or LAPOR_TOKEN (mint one with `laporctl token`)")?;
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

fn dev_secret() -> anyhow::Result<String> {
    if let Ok(secret) = std::env::var("LAPOR__AUTH__DEV_SECRET") {
        return Ok(secret);
    }
    std::fs::read_to_string("var/dev-auth.secret")
        .map(|s| s.trim().to_owned())
        .context("set LAPOR__AUTH__DEV_SECRET or run from the repository after `make run`")
}

/// "armed", "fired <time>" or "cancelled <time>".
fn deadline_status(deadline: &Deadline) -> String {
    match (&deadline.fired_at, &deadline.cancelled_at) {
        (Some(fired), _) => format!("fired {}", time(Some(fired))),
        (None, Some(cancelled)) => format!("cancelled {}", time(Some(cancelled))),
        (None, None) => "armed".to_owned(),
    }
}

fn deadline_json(deadline: &Deadline) -> serde_json::Value {
    json!({"id": deadline.id, "stage": deadline.stage, "step": deadline.step,
           "due_at": time(deadline.due_at.as_ref()), "working_days": deadline.working_days,
           "fired_at": deadline.fired_at.as_ref().map(|t| time(Some(t))),
           "cancelled_at": deadline.cancelled_at.as_ref().map(|t| time(Some(t)))})
}

fn print_case(case: &lapor_proto::routing::v1::Case, json_output: bool) {
    if json_output {
        println!(
            "{}",
            json!({"tracking_id": case.tracking_id, "state": case.state, "state_label": case.state_label,
                   "version": case.version, "skpd_code": case.skpd_code, "sub_unit": case.sub_unit,
                   "title": case.title, "body": case.body, "reporter": case.reporter, "anonim": case.anonim,
                   "rahasia": case.rahasia, "follow_up": case.follow_up, "available_actions": case.available_actions,
                   "sla_stage": case.sla_stage, "sla_due_at": case.sla_due_at.as_ref().map(|t| time(Some(t))),
                   "complexity_tier": case.complexity_tier,
                   "deadlines": case.deadlines.iter().map(deadline_json).collect::<Vec<_>>(),
                   "attachments": case.attachments.iter().map(|a| json!({"id": a.id, "filename": a.filename,
                        "content_type": a.content_type, "size_bytes": a.size_bytes})).collect::<Vec<_>>()})
        );
        return;
    }
    let mut t = table(&["field", "value"]);
    t.add_row(vec!["tracking id", &case.tracking_id]);
    t.add_row(vec!["state", &format!("{} ({})", case.state_label, case.state)]);
    t.add_row(vec!["version", &case.version.to_string()]);
    t.add_row(vec!["skpd", &format!("{} {}", case.skpd_code, case.sub_unit)]);
    t.add_row(vec!["title", &case.title]);
    t.add_row(vec!["body", &case.body]);
    t.add_row(vec![
        "reporter",
        if case.anonim {
            "Anonim"
        } else {
            "(identity in intake's vault)"
        },
    ]);
    if !case.follow_up.is_empty() {
        t.add_row(vec!["follow-up", &case.follow_up]);
    }
    if case.sla_stage.is_empty() {
        t.add_row(vec!["sla", "(no clock running)"]);
    } else {
        t.add_row(vec!["sla stage", &case.sla_stage]);
        t.add_row(vec!["sla due", &time(case.sla_due_at.as_ref())]);
    }
    if !case.complexity_tier.is_empty() {
        t.add_row(vec!["complexity tier", &case.complexity_tier]);
    }
    for file in &case.attachments {
        let described = format!(
            "{} ({}, {} bytes) id {}",
            file.filename, file.content_type, file.size_bytes, file.id
        );
        t.add_row(vec!["attachment", &described]);
    }
    t.add_row(vec!["you may", &case.available_actions.join(", ")]);
    println!("{t}");
    if !case.deadlines.is_empty() {
        let mut ladder = table(&["stage", "step", "due", "working days", "status"]);
        for d in &case.deadlines {
            ladder.add_row(vec![
                d.stage.clone(),
                d.step.clone(),
                time(d.due_at.as_ref()),
                d.working_days.to_string(),
                deadline_status(d),
            ]);
        }
        println!("deadlines\n{ladder}");
    }
}

fn print_calendar_change(change: &CalendarChange, what: &str, json_output: bool) {
    if json_output {
        println!("{}", json!({"recomputed_deadlines": change.recomputed_deadlines}));
    } else {
        println!("{what}; {} pending deadline(s) recomputed", change.recomputed_deadlines);
    }
}

fn print_calendar_policy(policy: &CalendarPolicy, json_output: bool) {
    if json_output {
        println!(
            "{}",
            json!({"cuti_bersama_stops_clock": policy.cuti_bersama_stops_clock,
                   "skpds": policy.skpds.iter().map(|s| json!({"skpd_code": s.skpd_code,
                       "work_days_per_week": s.work_days_per_week, "zone": s.zone,
                       "kabupaten_code": s.kabupaten_code})).collect::<Vec<_>>()})
        );
        return;
    }
    println!(
        "cuti bersama stops the clock: {}",
        if policy.cuti_bersama_stops_clock { "yes" } else { "no" }
    );
    let mut t = table(&["skpd", "work days/week", "zone", "kab/kota"]);
    for s in &policy.skpds {
        t.add_row(vec![
            s.skpd_code.clone(),
            s.work_days_per_week.to_string(),
            s.zone.clone(),
            s.kabupaten_code.clone(),
        ]);
    }
    println!("{t}");
}

fn print_sla_policy(policy: &SlaPolicy, json_output: bool) {
    if json_output {
        println!(
            "{}",
            json!({"rules": policy.rules.iter().map(|r| json!({"scope": r.scope, "stage": r.stage,
                       "working_days": r.working_days})).collect::<Vec<_>>(),
                   "tiers": policy.tiers.iter().map(|t| json!({"code": t.code,
                       "working_days": t.working_days})).collect::<Vec<_>>()})
        );
        return;
    }
    let mut rules = table(&["scope", "stage", "working days"]);
    for r in &policy.rules {
        rules.add_row(vec![r.scope.clone(), r.stage.clone(), r.working_days.to_string()]);
    }
    let mut tiers = table(&["complexity tier", "follow-up working days"]);
    for t in &policy.tiers {
        tiers.add_row(vec![t.code.clone(), t.working_days.to_string()]);
    }
    println!("{rules}\n{tiers}");
}

fn status_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let token = cli.token.clone();
    match cli.command {
        Command::Token {
            role,
            skpd,
            subject,
            ttl_seconds,
            issuer,
            audience,
        } => {
            use lapor_domain::reference::OfficerRole;
            let role = match role.as_str() {
                "admin" => OfficerRole::Admin,
                "koordinator" => OfficerRole::Koordinator,
                "penghubung" => OfficerRole::Penghubung,
                "kepala" => OfficerRole::Kepala,
                "pimpinan" => OfficerRole::Pimpinan,
                other => anyhow::bail!("unknown role {other:?}"),
            };
            let settings = lapor_platform::auth::AuthSettings {
                issuer,
                audience,
                algorithms: vec!["HS256".into()],
                dev_secret: dev_secret()?,
                public_key_pem: String::new(),
                jwks_url: String::new(),
            };
            let principal = lapor_platform::auth::Principal {
                name: subject.clone(),
                subject,
                role,
                skpd,
            };
            println!(
                "{}",
                lapor_platform::auth::mint_dev_token(&settings, &principal, ttl_seconds)?
            );
        }
        Command::Queue { limit } => {
            let mut client = RoutingServiceClient::new(connect(&cli.routing).await?);
            let cases = client
                .list_verification_queue(authorized(ListVerificationQueueRequest { limit }, &token)?)
                .await
                .map_err(status_error)?
                .into_inner()
                .cases;
            let mut t = table(&[
                "tracking id",
                "version",
                "state",
                "due",
                "category",
                "kab/kota",
                "title",
            ]);
            for c in &cases {
                t.add_row(vec![
                    c.tracking_id.clone(),
                    c.version.to_string(),
                    c.state_label.clone(),
                    time(c.sla_due_at.as_ref()),
                    c.category_code.clone(),
                    c.kabupaten_code.clone(),
                    c.title.clone(),
                ]);
            }
            println!("{t}\n{} case(s) waiting", cases.len());
        }
        Command::Case { tracking_id } => {
            let mut client = RoutingServiceClient::new(connect(&cli.routing).await?);
            let case = client
                .get_case(authorized(GetCaseRequest { tracking_id }, &token)?)
                .await
                .map_err(status_error)?
                .into_inner();
            print_case(&case, cli.json);
        }
        Command::Attachment {
            tracking_id,
            attachment_id,
            out,
        } => {
            let mut client = RoutingServiceClient::new(connect(&cli.routing).await?);
            let mut chunks = client
                .read_attachment(authorized(
                    ReadAttachmentRequest {
                        tracking_id,
                        attachment_id,
                    },
                    &token,
                )?)
                .await
                .map_err(status_error)?
                .into_inner();
            let mut data = Vec::new();
            let mut described = None;
            while let Some(chunk) = chunks.message().await.map_err(status_error)? {
                if described.is_none() {
                    described = Some((chunk.filename.clone(), chunk.content_type.clone(), chunk.size_bytes));
                }
                data.extend_from_slice(&chunk.data);
            }
            let (filename, content_type, size) = described.unwrap_or_default();
            if data.len() as i64 != size {
                anyhow::bail!("the attachment arrived incomplete: {} of {size} bytes", data.len());
            }
            if out.as_os_str() == "-" {
                use std::io::Write;
                std::io::stdout().write_all(&data)?;
            } else {
                std::fs::write(&out, &data).with_context(|| format!("cannot write {}", out.display()))?;
                eprintln!("{filename} ({content_type}, {size} bytes) saved to {}", out.display());
            }
        }
        Command::Audit { tracking_id } => {
            let mut client = RoutingServiceClient::new(connect(&cli.routing).await?);
            let entries = client
                .list_audit_log(authorized(ListAuditLogRequest { tracking_id }, &token)?)
                .await
                .map_err(status_error)?
                .into_inner()
                .entries;
            let mut t = table(&["#", "at", "actor", "action", "state", "version"]);
            for e in &entries {
                t.add_row(vec![
                    e.sequence.to_string(),
                    time(e.at.as_ref()),
                    format!("{} ({})", e.actor, e.actor_role),
                    e.action.clone(),
                    format!("{} → {}", e.state_before, e.state_after),
                    e.version_after.to_string(),
                ]);
            }
            println!("{t}");
        }
        Command::Duplicates { tracking_id } => {
            let mut client = RoutingServiceClient::new(connect(&cli.routing).await?);
            let suggestions = client
                .suggest_duplicates(authorized(SuggestDuplicatesRequest { tracking_id }, &token)?)
                .await
                .map_err(status_error)?
                .into_inner()
                .suggestions;
            if cli.json {
                let rows: Vec<_> = suggestions
                    .iter()
                    .map(|s| {
                        json!({"tracking_id": s.tracking_id, "title": s.title, "state": s.state,
                               "similarity": s.similarity, "submitted_at": time(s.submitted_at.as_ref())})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                let mut t = table(&["tracking id", "similarity", "state", "submitted", "title"]);
                for s in &suggestions {
                    t.add_row(vec![
                        s.tracking_id.clone(),
                        format!("{:.0}%", s.similarity * 100.0),
                        s.state.clone(),
                        time(s.submitted_at.as_ref()),
                        s.title.clone(),
                    ]);
                }
                println!("{t}");
            }
        }
        Command::Act {
            tracking_id,
            version,
            action,
        } => {
            let mut client = RoutingServiceClient::new(connect(&cli.routing).await?);
            let expected_version = match version {
                Some(v) => v,
                None => {
                    client
                        .get_case(authorized(
                            GetCaseRequest {
                                tracking_id: tracking_id.clone(),
                            },
                            &token,
                        )?)
                        .await
                        .map_err(status_error)?
                        .into_inner()
                        .version
                }
            };
            let case = Some(CaseRef {
                tracking_id,
                expected_version,
            });
            let response = match action {
                CaseAction::Verify { skpd, tier } => {
                    let request = VerifyCaseRequest {
                        case,
                        skpd_code: skpd,
                        complexity_tier: tier.unwrap_or_default(),
                    };
                    client.verify_case(authorized(request, &token)?).await
                }
                CaseAction::Hold { question } => {
                    client
                        .hold_case(authorized(HoldCaseRequest { case, question }, &token)?)
                        .await
                }
                CaseAction::NotAuthority { body } => {
                    client
                        .mark_not_authority(authorized(MarkNotAuthorityRequest { case, body }, &token)?)
                        .await
                }
                CaseAction::Archive { reason } => {
                    client
                        .archive_case(authorized(ArchiveCaseRequest { case, reason }, &token)?)
                        .await
                }
                CaseAction::Merge { parent } => {
                    let request = MergeCaseRequest {
                        case,
                        parent_tracking_id: parent,
                    };
                    client.merge_case(authorized(request, &token)?).await
                }
                CaseAction::Redispose { skpd, tier } => {
                    let request = RedisposeCaseRequest {
                        case,
                        skpd_code: skpd,
                        complexity_tier: tier.unwrap_or_default(),
                    };
                    client.redispose_case(authorized(request, &token)?).await
                }
                CaseAction::SubUnit { name } => {
                    let request = DisposeToSubUnitRequest { case, sub_unit: name };
                    client.dispose_to_sub_unit(authorized(request, &token)?).await
                }
                CaseAction::Return { reason } => {
                    client
                        .return_to_admin(authorized(ReturnToAdminRequest { case, reason }, &token)?)
                        .await
                }
                CaseAction::Start => {
                    client
                        .start_progress(authorized(StartProgressRequest { case }, &token)?)
                        .await
                }
                CaseAction::FollowUp { text, attachments } => {
                    let attachments = read_files(&attachments)?
                        .into_iter()
                        .map(|(filename, data)| FileUpload { filename, data })
                        .collect();
                    let request = PostFollowUpRequest {
                        case,
                        text,
                        attachments,
                    };
                    client.post_follow_up(authorized(request, &token)?).await
                }
                CaseAction::Close => client.close_case(authorized(CloseCaseRequest { case }, &token)?).await,
            };
            print_case(&response.map_err(status_error)?.into_inner(), cli.json);
        }
        Command::Calendar { command } => {
            let mut client = PolicyServiceClient::new(connect(&cli.routing).await?);
            match command {
                CalendarCommand::Holidays { year } => {
                    let holidays = client
                        .list_holidays(authorized(
                            ListHolidaysRequest {
                                year: year.unwrap_or(0),
                            },
                            &token,
                        )?)
                        .await
                        .map_err(status_error)?
                        .into_inner()
                        .holidays;
                    if cli.json {
                        let rows: Vec<_> = holidays
                            .iter()
                            .map(|h| {
                                json!({"date": h.date, "kind": h.kind, "name": h.name, "decree": h.decree,
                                       "scope": h.scope})
                            })
                            .collect();
                        println!("{}", serde_json::Value::Array(rows));
                    } else {
                        let mut t = table(&["date", "kind", "name", "scope", "decree"]);
                        for h in &holidays {
                            t.add_row(vec![
                                h.date.clone(),
                                h.kind.clone(),
                                h.name.clone(),
                                h.scope.clone(),
                                h.decree.clone(),
                            ]);
                        }
                        println!("{t}\n{} holiday(s)", holidays.len());
                    }
                }
                CalendarCommand::Add {
                    date,
                    kind,
                    name,
                    decree,
                    scope,
                } => {
                    let holiday = Holiday {
                        date: date.clone(),
                        kind,
                        name,
                        decree,
                        scope: scope.clone(),
                    };
                    let change = client
                        .add_holiday(authorized(AddHolidayRequest { holiday: Some(holiday) }, &token)?)
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    print_calendar_change(&change, &format!("holiday {date} ({scope}) added"), cli.json);
                }
                CalendarCommand::Remove { date, scope } => {
                    let request = RemoveHolidayRequest {
                        date: date.clone(),
                        scope: scope.clone(),
                    };
                    let change = client
                        .remove_holiday(authorized(request, &token)?)
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    print_calendar_change(&change, &format!("holiday {date} ({scope}) removed"), cli.json);
                }
                CalendarCommand::Policy => {
                    let policy = client
                        .get_calendar_policy(authorized(GetCalendarPolicyRequest {}, &token)?)
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    print_calendar_policy(&policy, cli.json);
                }
                CalendarCommand::SetPolicy {
                    cuti_bersama_stops_clock,
                } => {
                    let request = SetCalendarPolicyRequest {
                        cuti_bersama_stops_clock,
                    };
                    let change = client
                        .set_calendar_policy(authorized(request, &token)?)
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    let what = format!("cuti bersama stops the clock: {cuti_bersama_stops_clock}");
                    print_calendar_change(&change, &what, cli.json);
                }
                CalendarCommand::Skpd {
                    code,
                    work_days,
                    zone,
                    kabupaten,
                } => {
                    let what = format!("{code}: {work_days}-day week, {zone}");
                    let request = SetSkpdCalendarRequest {
                        skpd_code: code,
                        work_days_per_week: work_days,
                        zone,
                        kabupaten_code: kabupaten,
                    };
                    let change = client
                        .set_skpd_calendar(authorized(request, &token)?)
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    print_calendar_change(&change, &what, cli.json);
                }
            }
        }
        Command::Sla { command } => {
            let mut client = PolicyServiceClient::new(connect(&cli.routing).await?);
            let policy = match command {
                SlaCommand::Show => client.get_sla_policy(authorized(GetSlaPolicyRequest {}, &token)?).await,
                SlaCommand::Set { scope, stage, days } => {
                    let rule = SlaRule {
                        scope,
                        stage,
                        working_days: days,
                    };
                    client.set_sla_rule(authorized(rule, &token)?).await
                }
                SlaCommand::Clear { scope, stage } => {
                    client
                        .clear_sla_rule(authorized(ClearSlaRuleRequest { scope, stage }, &token)?)
                        .await
                }
                SlaCommand::Tier { code, days } => {
                    let tier = ComplexityTier {
                        code,
                        working_days: days,
                    };
                    client.set_complexity_tier(authorized(tier, &token)?).await
                }
            };
            print_sla_policy(&policy.map_err(status_error)?.into_inner(), cli.json);
        }
        Command::Submit {
            title,
            body,
            category,
            kabupaten,
            location,
            name,
            phone,
            email,
            nik,
            anonim,
            rahasia,
            idempotency_key,
            attachments,
        } => {
            let attachments = read_files(&attachments)?
                .into_iter()
                .map(|(filename, data)| AttachmentUpload { filename, data })
                .collect();
            let mut client = IntakeServiceClient::new(connect(&cli.intake).await?);
            let response = client
                .submit_complaint(SubmitComplaintRequest {
                    title,
                    body,
                    category_code: category,
                    kabupaten_code: kabupaten,
                    location,
                    kind: ComplaintKind::Aduan as i32,
                    anonim,
                    rahasia,
                    reporter: Some(Reporter {
                        name,
                        phone,
                        email,
                        nik,
                    }),
                    idempotency_key,
                    channel: Channel::Grpc as i32,
                    attachments,
                })
                .await
                .map_err(status_error)?
                .into_inner();
            if cli.json {
                println!(
                    "{}",
                    json!({"tracking_id": response.tracking_id, "complaint_id": response.complaint_id,
                           "replayed": response.replayed, "submitted_at": time(response.submitted_at.as_ref()),
                           "access_code": response.access_code})
                );
            } else {
                println!("Aduan diterima. Nomor pelacakan: {}", response.tracking_id);
                println!(
                    "Kode akses: {} (simpan: untuk membalas, keberatan, menilai)",
                    response.access_code
                );
                if response.replayed {
                    println!("(same idempotency key as an earlier submission: nothing new was stored)");
                }
            }
        }
        Command::Status {
            tracking_id,
            access_code,
        } => {
            let mut routing = RoutingServiceClient::new(connect(&cli.routing).await?);
            // The case view needs an officer token; the public status does not.
            let case = match authorized(
                GetCaseRequest {
                    tracking_id: tracking_id.clone(),
                },
                &token,
            ) {
                Ok(request) => routing.get_case(request).await.ok().map(|r| r.into_inner()),
                Err(_) => None,
            };
            let mut intake = IntakeServiceClient::new(connect(&cli.intake).await?);
            let public = intake
                .get_complaint_status(GetComplaintStatusRequest {
                    tracking_id: tracking_id.clone(),
                    access_code,
                })
                .await;
            let status = match (public, &case) {
                (Ok(status), _) => status.into_inner(),
                // A rahasia report's public status needs the reporter's access code; an
                // officer with a token still sees the case.
                (Err(error), Some(case)) if error.code() == tonic::Code::NotFound => ComplaintStatus {
                    tracking_id: case.tracking_id.clone(),
                    title: case.title.clone(),
                    category_code: case.category_code.clone(),
                    kabupaten_code: case.kabupaten_code.clone(),
                    state: case.state.clone(),
                    submitted_at: case.submitted_at,
                    rahasia: true,
                    ..Default::default()
                },
                (Err(error), _) => return Err(status_error(error)),
            };
            if cli.json {
                println!(
                    "{}",
                    json!({"tracking_id": status.tracking_id, "title": status.title, "state": status.state,
                           "submitted_at": time(status.submitted_at.as_ref()),
                           "case": case.as_ref().map(|c| json!({"state": c.state, "state_label": c.state_label,
                               "skpd_code": c.skpd_code, "skpd_name": c.skpd_name, "version": c.version}))})
                );
            } else {
                let mut t = table(&["field", "value"]);
                t.add_row(vec!["tracking id", &status.tracking_id]);
                t.add_row(vec!["title", &status.title]);
                t.add_row(vec!["category", &status.category_code]);
                t.add_row(vec!["kabupaten/kota", &status.kabupaten_code]);
                t.add_row(vec!["submitted", &time(status.submitted_at.as_ref())]);
                match &case {
                    Some(c) => {
                        t.add_row(vec!["state", &format!("{} ({})", c.state_label, c.state)]);
                        t.add_row(vec!["skpd", &format!("{} ({})", c.skpd_name, c.skpd_code)]);
                    }
                    None => {
                        t.add_row(vec!["state", &status.state]);
                    }
                }
                println!("{t}");
            }
        }
        Command::Inbox { skpd, limit } => {
            let mut client = RoutingServiceClient::new(connect(&cli.routing).await?);
            let cases = client
                .list_inbox(authorized(ListInboxRequest { skpd_code: skpd, limit }, &token)?)
                .await
                .map_err(status_error)?
                .into_inner()
                .cases;
            if cli.json {
                let rows: Vec<_> = cases
                    .iter()
                    .map(|c| {
                        json!({"tracking_id": c.tracking_id, "title": c.title, "state": c.state,
                                    "category_code": c.category_code, "kabupaten_code": c.kabupaten_code,
                                    "submitted_at": time(c.submitted_at.as_ref()), "sla_stage": c.sla_stage,
                                    "sla_due_at": c.sla_due_at.as_ref().map(|t| time(Some(t)))})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                let mut t = table(&[
                    "tracking id",
                    "submitted",
                    "state",
                    "due",
                    "category",
                    "kab/kota",
                    "title",
                ]);
                for c in &cases {
                    t.add_row(vec![
                        c.tracking_id.clone(),
                        time(c.submitted_at.as_ref()),
                        c.state_label.clone(),
                        time(c.sla_due_at.as_ref()),
                        c.category_code.clone(),
                        c.kabupaten_code.clone(),
                        c.title.clone(),
                    ]);
                }
                println!("{t}\n{} case(s)", cases.len());
            }
        }
        Command::Deliveries(command) => notify::deliveries(&cli.notification, &token, cli.json, command).await?,
        Command::Prefs(command) => notify::prefs(&cli.notification, &token, cli.json, command).await?,
        Command::DeadLetters(command) => notify::dead_letters(&cli.notification, &token, cli.json, command).await?,
        Command::Directory(command) => directory::run(&cli.routing, &token, cli.json, command).await?,
        Command::Summary => {
            let mut client = AnalyticsServiceClient::new(connect(&cli.analytics).await?);
            let summary = client
                .get_summary(authorized(GetSummaryRequest::default(), &cli.token)?)
                .await
                .map_err(status_error)?
                .into_inner();
            if cli.json {
                println!(
                    "{}",
                    json!({"complaints_total": summary.complaints_total,
                           "notifications_sent": summary.notifications_sent,
                           "events_consumed": summary.events_consumed,
                           "open_backlog": summary.open_backlog,
                           "verification_compliance_pct": summary.verification.as_ref().and_then(|c| c.percent),
                           "follow_up_compliance_pct": summary.follow_up.as_ref().and_then(|c| c.percent),
                           "by_state": summary.by_state.iter().map(|s| json!({"state": s.state, "count": s.count})).collect::<Vec<_>>(),
                           "by_skpd": summary.by_skpd.iter().map(|s| json!({"skpd_code": s.skpd_code, "state": s.state, "count": s.count})).collect::<Vec<_>>()})
                );
            } else {
                println!(
                    "complaints: {}   notifications sent: {}   events consumed: {}",
                    summary.complaints_total, summary.notifications_sent, summary.events_consumed
                );
                let percent = |c: &Option<lapor_proto::analytics::v1::Compliance>| {
                    c.as_ref()
                        .and_then(|c| c.percent)
                        .map_or("–".to_owned(), |p| format!("{p:.1}%"))
                };
                println!(
                    "open backlog: {}   SLA compliance: verification {}, follow-up {}",
                    summary.open_backlog,
                    percent(&summary.verification),
                    percent(&summary.follow_up)
                );
                let mut t = table(&["skpd", "state", "complaints"]);
                for s in &summary.by_skpd {
                    t.add_row(vec![s.skpd_code.clone(), s.state.clone(), s.count.to_string()]);
                }
                println!("{t}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn policy_commands_parse() {
        let cli = Cli::try_parse_from([
            "laporctl",
            "calendar",
            "skpd",
            "dinkes",
            "--work-days",
            "6",
            "--zone",
            "wita",
            "--kabupaten",
            "6371",
        ])
        .expect("valid command line");
        let Command::Calendar {
            command: CalendarCommand::Skpd { zone, work_days, .. },
        } = cli.command
        else {
            panic!("parsed the wrong command");
        };
        assert_eq!((zone.as_str(), work_days), ("WITA", 6));
        assert!(Cli::try_parse_from(["laporctl", "calendar", "set-policy"]).is_err());
        assert!(
            Cli::try_parse_from([
                "laporctl",
                "calendar",
                "set-policy",
                "--cuti-bersama-stops-clock",
                "false"
            ])
            .is_ok()
        );
        assert!(
            Cli::try_parse_from([
                "laporctl", "sla", "set", "--scope", "default", "--stage", "x", "--days", "3"
            ])
            .is_err()
        );
        let cli = Cli::try_parse_from(["laporctl", "act", "AB3DEF7H9K", "verify", "dinkes", "--tier", "sedang"])
            .expect("valid command line");
        assert!(matches!(
            cli.command,
            Command::Act { action: CaseAction::Verify { tier: Some(ref t), .. }, .. } if t == "sedang"
        ));
    }

    #[test]
    fn dates_and_zones_are_checked() {
        assert_eq!(parse_date("2026-12-25").as_deref(), Ok("2026-12-25"));
        assert!(parse_date("25-12-2026").is_err());
        assert!(parse_date("2026-02-30").is_err());
        assert_eq!(parse_zone("wit").as_deref(), Ok("WIT"));
        assert!(parse_zone("UTC").is_err());
    }

    #[test]
    fn deadline_status_reads_the_row() {
        let at = prost_types::Timestamp {
            seconds: 1_796_054_400,
            nanos: 0,
        };
        let mut deadline = Deadline::default();
        assert_eq!(deadline_status(&deadline), "armed");
        deadline.cancelled_at = Some(at);
        assert_eq!(deadline_status(&deadline), "cancelled 2026-11-30T16:00:00Z");
        deadline.fired_at = Some(at);
        assert_eq!(deadline_status(&deadline), "fired 2026-11-30T16:00:00Z");
    }
}
