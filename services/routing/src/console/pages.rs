//! The console's HTML. Bahasa Indonesia, one column, large tap targets, no JavaScript; every
//! form control has a label. Times in WITA as officers read them.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use lapor_domain::local_time::{long_time, short_time, stage_words};
use lapor_platform::auth::Principal;
use lapor_proto::routing::v1::{AuditEntry, Case, Deadline, DuplicateSuggestion};
use maud::{DOCTYPE, Markup, html};
use std::collections::BTreeMap;

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f5f6f8;font-size:16px}
header{background:#8a1c1c;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;justify-content:space-between}
header a,header button{color:#fff}
main{max-width:52rem;margin:0 auto;padding:1rem}
.card{background:#fff;border-radius:.5rem;padding:.8rem 1rem;margin:.6rem 0;box-shadow:0 1px 2px #0002}
.muted{color:#555;font-size:.9rem}
.badge{display:inline-block;border-radius:1rem;padding:.1rem .6rem;font-size:.85rem;font-weight:600}
.late{background:#fde2e1;color:#8a1111}.soon{background:#fff1c9;color:#6b4e00}.ok{background:#dff3e4;color:#135c2a}
.none{background:#eceff3;color:#333}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem;border-bottom:1px solid #ddd;font-size:.9rem}
label{display:block;font-weight:600;margin:.4rem 0 .2rem}
input,select,textarea{width:100%;box-sizing:border-box;font-size:1rem;padding:.45rem}
button{font-size:1rem;padding:.55rem 1rem;margin-top:.5rem;border-radius:.4rem;border:1px solid #8a1c1c;background:#fff;cursor:pointer}
button.primary{background:#8a1c1c;color:#fff}
.problem{background:#fde2e1;border-left:4px solid #8a1111;padding:.6rem 1rem}
a{color:#8a1c1c}
";

fn layout(principal: Option<&Principal>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="id" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Konsol LAPOR!" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                header {
                    a href="/console" { strong { "Konsol LAPOR! Kalsel" } }
                    @if let Some(p) = principal {
                        span class="muted" style="color:#fff" {
                            (p.name) " · " (p.role.as_str())
                            @if let Some(skpd) = &p.skpd { " · " (skpd) }
                        }
                        form method="post" action="/console/logout" style="margin:0" {
                            button type="submit" style="margin:0;background:transparent;border-color:#fff" { "Keluar" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

pub fn login(problem: Option<&str>) -> Markup {
    layout(
        None,
        "Masuk",
        html! {
            @if let Some(problem) = problem { p class="problem" role="alert" { "Token ditolak: " (problem) } }
            form class="card" method="post" action="/console/login" {
                label for="token" { "Token petugas (JWT)" }
                textarea id="token" name="token" rows="4" required {}
                p class="muted" { "Dari penyedia identitas Pemprov; untuk pengembangan: laporctl token." }
                button class="primary" type="submit" { "Masuk" }
            }
        },
    )
}

pub fn error(principal: Option<&Principal>, status: StatusCode, message: &str) -> Markup {
    layout(
        principal,
        "Tidak dapat ditampilkan",
        html! {
            p class="problem" role="alert" { (status.as_u16()) " — " (message) }
            p { a href="/console" { "Kembali" } }
        },
    )
}

fn instant(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
}

fn at(ts: Option<&prost_types::Timestamp>) -> String {
    instant(ts).map_or_else(|| "-".to_owned(), short_time)
}

/// The SLA clock as a badge: late, due within a day, on time, or no clock running.
fn clock_badge(case: &Case, now: DateTime<Utc>) -> Markup {
    match instant(case.sla_due_at.as_ref()) {
        None => html! { span class="badge none" { "Tanpa tenggat" } },
        Some(due) if due <= now => html! { span class="badge late" { "Terlambat · " (stage_words(&case.sla_stage)) } },
        Some(due) if due - now < chrono::TimeDelta::hours(24) => {
            html! { span class="badge soon" { "Jatuh tempo < 24 jam · " (stage_words(&case.sla_stage)) } }
        }
        Some(_) => html! { span class="badge ok" { "Tepat waktu · " (stage_words(&case.sla_stage)) } },
    }
}

fn case_card(case: &Case, now: DateTime<Utc>) -> Markup {
    html! {
        div class="card" {
            a href={ "/console/cases/" (case.tracking_id) } { strong { (case.tracking_id) } " — " (case.title) }
            div { (clock_badge(case, now)) " " span class="muted" { (case.state_label) } }
            div class="muted" {
                "Tenggat: " (at(case.sla_due_at.as_ref()))
                " · Kategori: " (case.category_code)
                " · Masuk: " (at(case.submitted_at.as_ref()))
            }
        }
    }
}

pub fn inbox(principal: &Principal, skpd: &str, cases: &[Case], now: DateTime<Utc>) -> Markup {
    // Most urgent first: the earliest deadline on top, cases without a clock last.
    let mut sorted: Vec<&Case> = cases.iter().collect();
    sorted.sort_by_key(|c| instant(c.sla_due_at.as_ref()).unwrap_or(DateTime::<Utc>::MAX_UTC));
    layout(
        Some(principal),
        &format!("Kotak masuk {skpd}"),
        html! {
            p class="muted" { (cases.len()) " aduan, tenggat terdekat di atas." }
            @for case in sorted { (case_card(case, now)) }
        },
    )
}

pub fn queue(
    principal: &Principal,
    cases: &[Case],
    suggestions: &BTreeMap<String, Vec<DuplicateSuggestion>>,
    now: DateTime<Utc>,
) -> Markup {
    layout(
        Some(principal),
        "Antrian verifikasi",
        html! {
            p class="muted" { (cases.len()) " aduan menunggu verifikasi." }
            @for case in cases {
                (case_card(case, now))
                @if let Some(found) = suggestions.get(&case.tracking_id).filter(|f| !f.is_empty()) {
                    div class="card" aria-label={ "Kemungkinan duplikat " (case.tracking_id) } {
                        strong { "Kemungkinan duplikat dari " (case.tracking_id) }
                        @for s in found {
                            form method="post" action={ "/console/cases/" (case.tracking_id) "/act" } {
                                input type="hidden" name="action" value="merge_into";
                                input type="hidden" name="version" value=(case.version);
                                input type="hidden" name="parent_tracking_id" value=(s.tracking_id);
                                a href={ "/console/cases/" (s.tracking_id) } { (s.tracking_id) }
                                " — " (s.title) " "
                                span class="muted" { "(" (format!("{:.0}", s.similarity * 100.0)) "% mirip, " (s.state) ")" }
                                button type="submit" { "Gabungkan ke " (s.tracking_id) }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn step_words(step: &str) -> &str {
    match step {
        "reminder" => "Pengingat ke penghubung",
        "breach" => "Lewat batas: kepala SKPD dan koordinator",
        "provincial" => "Eskalasi: admin provinsi dan pimpinan",
        "auto_close" => "Ditutup otomatis",
        other => other,
    }
}

fn ladder(deadlines: &[Deadline]) -> Markup {
    html! {
        table {
            thead { tr { th { "Tahap" } th { "Langkah" } th { "Jatuh tempo" } th { "Status" } } }
            tbody {
                @for d in deadlines {
                    tr {
                        td { (stage_words(&d.stage)) " (" (d.working_days) " hari kerja)" }
                        td { (step_words(&d.step)) }
                        td { (at(d.due_at.as_ref())) }
                        td {
                            @if d.fired_at.is_some() { "terjadi " (at(d.fired_at.as_ref())) }
                            @else if d.cancelled_at.is_some() { "dibatalkan" }
                            @else { "menunggu" }
                        }
                    }
                }
            }
        }
    }
}

/// What the disposition forms offer: the SKPDs and the complexity tiers in force.
pub struct Choices<'a> {
    pub skpds: &'a [(String, String)],
    pub tiers: &'a [String],
    /// Category codes and names, for the admin's corrections.
    pub categories: &'a [(String, String)],
}

fn skpd_select(action: &str, choices: &Choices<'_>) -> Markup {
    let (skpd_id, tier_id) = (format!("{action}-skpd"), format!("{action}-tier"));
    html! {
        label for=(skpd_id) { "SKPD tujuan" }
        select id=(skpd_id) name="skpd_code" required {
            @for (code, name) in choices.skpds { option value=(code) { (name) " (" (code) ")" } }
        }
        label for=(tier_id) { "Kompleksitas (opsional)" }
        select id=(tier_id) name="complexity_tier" {
            option value="" { "Sesuai kebijakan SLA" }
            @for tier in choices.tiers { option value=(tier) { (tier) } }
        }
    }
}

/// One form per action the officer may take now; the hidden version makes a stale form fail
/// with 409 instead of overwriting someone else's change. Control ids carry the action, so
/// every label points at its own form's control.
fn action_form(case: &Case, action: &str, choices: &Choices<'_>) -> Markup {
    let text_field = |label: &str| text_field(action, label);
    let field_id = |name: &str| format!("{action}-{name}");
    let (title, fields) = match action {
        "verify" => ("Verifikasi dan disposisi", skpd_select(action, choices)),
        "redispose" => ("Disposisi ulang", skpd_select(action, choices)),
        "hold" => ("Tunda (tanya pelapor)", text_field("Pertanyaan untuk pelapor")),
        "not_authority" => ("Bukan wewenang", text_field("Instansi yang berwenang")),
        "archive" => (
            "Arsipkan",
            html! {
                label for=(field_id("reason")) { "Alasan" }
                select id=(field_id("reason")) name="reason" {
                    option value="SPAM" { "Spam" }
                    option value="UNINTELLIGIBLE" { "Tidak dapat dipahami" }
                    option value="OUT_OF_SCOPE" { "Di luar lingkup" }
                    option value="DUPLICATE" { "Duplikat" }
                }
            },
        ),
        "merge_into" => (
            "Gabungkan sebagai duplikat",
            html! {
                label for=(field_id("parent")) { "Nomor aduan induk" }
                input id=(field_id("parent")) name="parent_tracking_id" required;
            },
        ),
        "dispose_sub_unit" => ("Disposisi ke sub-unit", text_field("Sub-unit")),
        "return_to_admin" => ("Kembalikan ke admin (bukan wewenang SKPD)", text_field("Alasan")),
        "start_progress" => ("Mulai proses", html! {}),
        "follow_up" => (
            "Kirim tindak lanjut",
            html! {
                (text_field("Tindak lanjut"))
                label for=(field_id("lampiran")) { "Foto atau PDF hasil tindak lanjut (maks. 5 berkas, 10 MB)" }
                input id=(field_id("lampiran")) type="file" name="lampiran" multiple
                    accept="image/jpeg,image/png,image/webp,image/gif,application/pdf";
            },
        ),
        "close" => ("Tutup aduan", html! {}),
        "edit_details" => ("Simpan koreksi", details_fields(case, choices)),
        _ => return html! {},
    };
    html! {
        // Only the follow-up carries files; the other forms stay URL-encoded.
        form class="card" method="post" action={ "/console/cases/" (case.tracking_id) "/act" }
            enctype=[(action == "follow_up").then_some("multipart/form-data")] {
            input type="hidden" name="action" value=(action);
            input type="hidden" name="version" value=(case.version);
            (fields)
            button class="primary" type="submit" name="submit" value=(action) { (title) }
        }
    }
}

/// The admin's corrections: title and category, and the privacy flags, which can be set but
/// never cleared (a reporter may have relied on them).
fn details_fields(case: &Case, choices: &Choices<'_>) -> Markup {
    html! {
        label for="edit_details-title" { "Judul" }
        input id="edit_details-title" name="title" maxlength="150" required value=(case.title);
        label for="edit_details-category" { "Kategori" }
        select id="edit_details-category" name="category_code" {
            @for (code, name) in choices.categories {
                option value=(code) selected[*code == case.category_code] { (name) " (" (code) ")" }
            }
        }
        label class="choice" {
            input type="checkbox" id="edit_details-anonim" name="anonim" value="on" checked[case.anonim] disabled[case.anonim];
            "Anonim: identitas pelapor disembunyikan"
        }
        label class="choice" {
            input type="checkbox" id="edit_details-rahasia" name="rahasia" value="on" checked[case.rahasia] disabled[case.rahasia];
            "Rahasia: tidak tampil di daftar publik"
        }
        @if case.anonim || case.rahasia { p class="muted" { "Tanda yang sudah dipasang tidak dapat dicabut." } }
    }
}

fn text_field(action: &str, label: &str) -> Markup {
    let id = format!("{action}-text");
    html! {
        label for=(id) { (label) }
        textarea id=(id) name="text" rows="3" required maxlength="10000" {}
    }
}

pub fn case(
    principal: &Principal,
    case: &Case,
    audit: &[AuditEntry],
    choices: &Choices<'_>,
    problem: Option<&str>,
    now: DateTime<Utc>,
) -> Markup {
    layout(
        Some(principal),
        &format!("Aduan {}", case.tracking_id),
        html! {
            @if let Some(problem) = problem { p class="problem" role="alert" { "Tidak disimpan: " (problem) } }
            div class="card" {
                h2 { (case.title) }
                p { (clock_badge(case, now)) " " strong { (case.state_label) } " (" (case.state) ", versi " (case.version) ")" }
                p class="muted" {
                    "Kategori " (case.category_code) " · Kab/kota " (case.kabupaten_code)
                    @if !case.skpd_code.is_empty() { " · " (case.skpd_name) }
                    @if !case.sub_unit.is_empty() { " / " (case.sub_unit) }
                }
                p class="muted" { "Pelapor: " @if case.reporter.is_empty() { "(terlindungi)" } @else { (case.reporter) }
                    @if case.rahasia { " · RAHASIA" } }
                p { (case.body) }
                @if !case.attachments.is_empty() {
                    h3 { "Lampiran" }
                    ul class="attachments" {
                        @for file in &case.attachments {
                            li {
                                a href={ "/console/cases/" (case.tracking_id) "/attachments/" (file.id) } { (file.filename) }
                                span class="muted" { " · " (file.content_type) " · " (human_size(file.size_bytes)) }
                            }
                        }
                    }
                }
                @if !case.follow_up.is_empty() { h3 { "Tindak lanjut" } p { (case.follow_up) } }
            }
            div class="card" {
                h2 { "Tenggat (SLA)" }
                @if let Some(due) = instant(case.sla_due_at.as_ref()) {
                    p { "Tahap " (stage_words(&case.sla_stage)) ": paling lambat " strong { (long_time(due)) }
                        @if !case.complexity_tier.is_empty() { " · kompleksitas " (case.complexity_tier) } }
                } @else { p { "Tidak ada tenggat berjalan." } }
                (ladder(&case.deadlines))
            }
            @if !case.available_actions.is_empty() {
                h2 { "Tindakan" }
                @for action in &case.available_actions { (action_form(case, action, choices)) }
            }
            div class="card" {
                h2 { "Riwayat" }
                table {
                    thead { tr { th { "Waktu" } th { "Oleh" } th { "Tindakan" } th { "Status" } } }
                    tbody {
                        @for entry in audit {
                            tr {
                                td { (at(entry.at.as_ref())) }
                                td { (entry.actor) " (" (entry.actor_role) ")" }
                                td { (entry.action) }
                                td { (entry.state_before) " → " (entry.state_after) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// `2,4 MB`, `830 KB`, `512 B`: sizes as officers read them (decimal comma).
fn human_size(bytes: i64) -> String {
    match bytes {
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1_000_000.0).replace('.', ","),
        b if b >= 1_000 => format!("{} KB", b / 1_000),
        b => format!("{b} B"),
    }
}
