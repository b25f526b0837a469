//! Message texts. Bahasa Indonesia, plain text, short enough to read on a phone.
//!
//! Times are shown in WITA (UTC+8, Kalsel's zone), whatever the SKPD's own zone: the events
//! carry instants, not zones, and one fixed zone keeps the provincial recipients' mail
//! consistent. SLA deadlines are local midnights (end of the last working day, see
//! `lapor_domain::calendar`), so midnight is written as 24:00 of the day before, as an
//! Indonesian office reads it: the body says "Senin, 30 November 2026 24:00 WITA", the
//! subject the shorter "30-11-2026 24:00 WITA".

use chrono::{DateTime, Utc};
use lapor_domain::local_time::{self, stage_words};
use lapor_proto::events::v1::{ComplaintAssigned, ComplaintEscalated};

const FOOTER: &str = "-- LAPOR! Provinsi Kalimantan Selatan (pesan otomatis, jangan dibalas)\n";
/// Written instead of the title of a rahasia case, which may name people or places.
pub const HIDDEN_TITLE: &str = "(rahasia)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

fn instant(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
}

/// "Senin, 30 November 2026 24:00 WITA"; "-" when unknown.
pub fn long_time(ts: Option<&prost_types::Timestamp>) -> String {
    instant(ts).map_or_else(|| "-".to_owned(), local_time::long_time)
}

/// "30-11-2026 24:00 WITA"; "-" when unknown.
pub fn short_time(ts: Option<&prost_types::Timestamp>) -> String {
    instant(ts).map_or_else(|| "-".to_owned(), local_time::short_time)
}

fn shown_title(title: &str, rahasia: bool) -> &str {
    if rahasia { HIDDEN_TITLE } else { title }
}

fn case_link(console_url: &str, tracking_id: &str) -> String {
    format!("{}/console/cases/{tracking_id}", console_url.trim_end_matches('/'))
}

pub fn assigned_email(
    recipient_name: &str,
    tracking_id: &str,
    assigned: &ComplaintAssigned,
    console_url: &str,
) -> Rendered {
    let deadline = match &assigned.sla_due_at {
        Some(due) => format!("paling lambat {}", long_time(Some(due))),
        None => "dalam 5 hari kerja".to_owned(),
    };
    Rendered {
        subject: format!("[LAPOR] Aduan baru {tracking_id} untuk {}", assigned.skpd_name),
        body: format!(
            "Yth. {recipient_name},\n\n\
             Aduan baru telah didisposisikan ke {skpd}.\n\n\
             Nomor pelacakan : {tracking_id}\n\
             Judul           : {title}\n\
             Kategori        : {category}\n\
             Kabupaten/kota  : {kabupaten}\n\n\
             Silakan tindak lanjuti {deadline} melalui konsol petugas:\n\
             {link}\n\n\
             {FOOTER}",
            skpd = assigned.skpd_name,
            title = assigned.title,
            category = assigned.category_code,
            kabupaten = assigned.kabupaten_code,
            link = case_link(console_url, tracking_id),
        ),
    }
}

/// One step of the escalation ladder. Levels other than the three defaults (routing's ladder
/// is configurable) get a neutral text naming the level.
pub fn escalation_email(
    recipient_name: &str,
    tracking_id: &str,
    escalated: &ComplaintEscalated,
    console_url: &str,
) -> Rendered {
    let stage = stage_words(&escalated.stage);
    let deadline = escalated.deadline_at.as_ref();
    let (subject, lead) = match escalated.level.as_str() {
        "reminder" => (
            format!(
                "[LAPOR] Pengingat: aduan {tracking_id} jatuh tempo {}",
                short_time(deadline)
            ),
            format!("Pengingat: batas waktu tahap {stage} aduan ini segera berakhir."),
        ),
        "breach" => (
            format!("[LAPOR] Melewati batas waktu: aduan {tracking_id}"),
            format!("Aduan ini melewati batas waktu tahap {stage} dan belum diselesaikan."),
        ),
        "provincial" => (
            format!("[LAPOR] Eskalasi ke pimpinan: aduan {tracking_id}"),
            format!("Aduan ini masih melewati batas waktu tahap {stage} dan dieskalasikan ke pimpinan provinsi."),
        ),
        other => (
            format!("[LAPOR] Eskalasi ({other}): aduan {tracking_id}"),
            format!("Eskalasi tahap {stage} ({other})."),
        ),
    };
    let working_days = match escalated.working_days {
        0 => String::new(),
        n => format!(" ({n} hari kerja)"),
    };
    Rendered {
        subject,
        body: format!(
            "Yth. {recipient_name},\n\n\
             {lead}\n\n\
             Nomor pelacakan : {tracking_id}\n\
             Judul           : {title}\n\
             SKPD            : {skpd}\n\
             Tahap           : {stage}\n\
             Batas waktu     : {deadline}{working_days}\n\n\
             Buka di konsol petugas:\n\
             {link}\n\n\
             {FOOTER}",
            title = shown_title(&escalated.title, escalated.rahasia),
            skpd = escalated.skpd_name,
            deadline = long_time(deadline),
            link = case_link(console_url, tracking_id),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01T00:00 WITA, the end of Monday 30 November 2026 in Kalsel.
    fn end_of_monday() -> prost_types::Timestamp {
        prost_types::Timestamp {
            seconds: 1_796_054_400,
            nanos: 0,
        }
    }

    fn escalated(level: &str, rahasia: bool) -> ComplaintEscalated {
        ComplaintEscalated {
            level: level.into(),
            stage: "follow_up".into(),
            skpd_code: "dinkes".into(),
            skpd_name: "Dinas Kesehatan".into(),
            notify_roles: vec!["penghubung".into()],
            deadline_at: Some(end_of_monday()),
            working_days: 5,
            title: "Antrian puskesmas".into(),
            rahasia,
            ..Default::default()
        }
    }

    #[test]
    fn assigned_email_names_the_case() {
        let assigned = ComplaintAssigned {
            skpd_code: "dinkes".into(),
            skpd_name: "Dinas Kesehatan".into(),
            title: "Antrian puskesmas".into(),
            category_code: "kesehatan.puskesmas".into(),
            kabupaten_code: "6371".into(),
            ..Default::default()
        };
        let rendered = assigned_email("Rina", "AB3DEF7H9K", &assigned, "http://localhost:8081");
        assert!(rendered.subject.contains("AB3DEF7H9K"));
        assert!(rendered.body.contains("Antrian puskesmas"));
        assert!(rendered.body.contains("http://localhost:8081/console/cases/AB3DEF7H9K"));
        assert!(rendered.body.contains("dalam 5 hari kerja"), "{}", rendered.body);
    }

    #[test]
    fn assigned_email_states_the_actual_deadline() {
        let assigned = ComplaintAssigned {
            skpd_name: "Dinas Kesehatan".into(),
            sla_due_at: Some(end_of_monday()),
            ..Default::default()
        };
        let rendered = assigned_email("Rina", "AB3DEF7H9K", &assigned, "http://localhost:8081/");
        assert!(
            rendered
                .body
                .contains("paling lambat Senin, 30 November 2026 24:00 WITA"),
            "{}",
            rendered.body
        );
        assert!(!rendered.body.contains("5 hari kerja"));
        assert!(
            rendered
                .body
                .contains("http://localhost:8081/console/cases/AB3DEF7H9K\n")
        );
    }

    #[test]
    fn times_are_wita_with_midnight_as_24_00() {
        let midnight = end_of_monday();
        assert_eq!(long_time(Some(&midnight)), "Senin, 30 November 2026 24:00 WITA");
        assert_eq!(short_time(Some(&midnight)), "30-11-2026 24:00 WITA");
        // 2026-11-30T01:30:00Z is 09:30 WITA the same day.
        let morning = prost_types::Timestamp {
            seconds: 1_796_002_200,
            nanos: 0,
        };
        assert_eq!(long_time(Some(&morning)), "Senin, 30 November 2026 09:30 WITA");
        assert_eq!(long_time(None), "-");
    }

    #[test]
    fn reminder_names_the_due_date() {
        let rendered = escalation_email("Ayu", "AB3DEF7H9K", &escalated("reminder", false), "http://c");
        assert_eq!(
            rendered.subject,
            "[LAPOR] Pengingat: aduan AB3DEF7H9K jatuh tempo 30-11-2026 24:00 WITA"
        );
        assert!(rendered.body.starts_with("Yth. Ayu,\n\nPengingat:"));
        assert!(rendered.body.contains("Antrian puskesmas"));
        assert!(rendered.body.contains("Dinas Kesehatan"));
        assert!(rendered.body.contains("Tahap           : tindak lanjut\n"));
        assert!(
            rendered
                .body
                .contains("Senin, 30 November 2026 24:00 WITA (5 hari kerja)")
        );
        assert!(rendered.body.contains("http://c/console/cases/AB3DEF7H9K"));
    }

    #[test]
    fn breach_and_provincial_have_their_own_wording() {
        let breach = escalation_email("Galih", "AB3DEF7H9K", &escalated("breach", false), "http://c");
        assert!(breach.subject.contains("Melewati batas waktu"));
        assert!(breach.subject.contains("AB3DEF7H9K"));
        assert!(breach.body.contains("melewati batas waktu tahap tindak lanjut"));

        let mut verification = escalated("provincial", false);
        verification.stage = "verification".into();
        let provincial = escalation_email("Sekda", "AB3DEF7H9K", &verification, "http://c");
        assert!(provincial.subject.contains("Eskalasi ke pimpinan"));
        assert!(provincial.body.contains("Tahap           : verifikasi\n"));
        assert!(provincial.body.contains("http://c/console/cases/AB3DEF7H9K"));

        let custom = escalation_email("X", "AB3DEF7H9K", &escalated("second_reminder", false), "http://c");
        assert!(custom.subject.contains("second_reminder"));
    }

    #[test]
    fn rahasia_hides_the_title() {
        for level in ["reminder", "breach", "provincial"] {
            let rendered = escalation_email("Sekda", "AB3DEF7H9K", &escalated(level, true), "http://c");
            assert!(!rendered.subject.contains("Antrian"), "{level}: {}", rendered.subject);
            assert!(!rendered.body.contains("Antrian"), "{level}: {}", rendered.body);
            assert!(rendered.body.contains("Judul           : (rahasia)\n"));
        }
    }
}
