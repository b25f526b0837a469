//! Every word of the citizen's pages, once per language: Bahasa Indonesia first, English
//! on request (`?lang=en`, kept through every form).

use lapor_domain::CaseState;
use lapor_domain::local_time::{long_time, long_time_en};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Id,
    En,
}

impl Lang {
    pub fn parse(raw: Option<&str>) -> Lang {
        match raw {
            Some("en") => Lang::En,
            _ => Lang::Id,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Id => "id",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Id => Lang::En,
            Lang::En => Lang::Id,
        }
    }

    /// A merged duplicate's status page says whose progress it shows.
    pub fn merged_notice(self, parent: &str) -> String {
        match self {
            Lang::Id => format!(
                "Laporan ini digabung dengan laporan {parent} tentang hal yang sama; status di bawah mengikuti laporan tersebut."
            ),
            Lang::En => format!(
                "This report was merged with report {parent} about the same matter; the status below follows that report."
            ),
        }
    }

    /// A refused field's message in this language.
    pub fn field_problem(self, error: &lapor_domain::FieldError) -> String {
        match self {
            Lang::Id => error.message_id(),
            Lang::En => error.message.clone(),
        }
    }

    pub fn text(self) -> &'static Text {
        match self {
            Lang::Id => &ID,
            Lang::En => &EN,
        }
    }

    pub fn time(self, at: chrono::DateTime<chrono::Utc>) -> String {
        match self {
            Lang::Id => long_time(at),
            Lang::En => long_time_en(at),
        }
    }

    pub fn state(self, state: &str) -> String {
        match (CaseState::parse(state), self) {
            (Some(s), Lang::Id) => s.public_label().to_owned(),
            (Some(s), Lang::En) => s.public_label_en().to_owned(),
            (None, _) => state.to_owned(),
        }
    }
}

pub struct Text {
    pub switch_to: &'static str,
    pub site: &'static str,
    pub submit_heading: &'static str,
    pub intro: &'static str,
    pub kind: &'static str,
    pub kinds: [(&'static str, &'static str); 3],
    pub title: &'static str,
    pub title_hint: &'static str,
    pub body: &'static str,
    pub body_hint: &'static str,
    pub category: &'static str,
    pub kabupaten: &'static str,
    pub location: &'static str,
    pub attachments: &'static str,
    pub attachments_hint: &'static str,
    pub privacy: &'static str,
    pub anonim: &'static str,
    pub rahasia: &'static str,
    pub identity: &'static str,
    pub identity_hint: &'static str,
    pub name: &'static str,
    pub phone: &'static str,
    pub email: &'static str,
    pub nik: &'static str,
    pub send: &'static str,
    pub problem: &'static str,
    pub track_heading: &'static str,
    pub tracking_id: &'static str,
    pub access_code: &'static str,
    pub access_code_hint: &'static str,
    pub track: &'static str,
    pub received_heading: &'static str,
    pub received_keep: &'static str,
    pub see_status: &'static str,
    pub status_heading: &'static str,
    pub not_found: &'static str,
    pub not_found_hint: &'static str,
    pub state: &'static str,
    pub handled_by: &'static str,
    pub submitted: &'static str,
    pub due: &'static str,
    pub timeline: &'static str,
    pub hidden_title: &'static str,
    pub respond_heading: &'static str,
    pub reply: &'static str,
    pub objection: &'static str,
    pub answer_heading: &'static str,
    pub your_text: &'static str,
    pub send_reply: &'static str,
    pub rate_heading: &'static str,
    pub stars: &'static str,
    pub send_rating: &'static str,
    pub thanks: &'static str,
    pub back: &'static str,
    pub too_many: &'static str,
    pub unavailable: &'static str,
    pub key_reused: &'static str,
}

pub const ID: Text = Text {
    switch_to: "English",
    site: "LAPOR! Kalimantan Selatan",
    submit_heading: "Sampaikan laporan",
    intro: "Aduan, aspirasi atau permintaan informasi Anda diteruskan ke instansi yang berwenang. Anda mendapat nomor pelacakan untuk memantau tindak lanjutnya.",
    kind: "Jenis laporan",
    kinds: [
        ("aduan", "Aduan"),
        ("aspirasi", "Aspirasi"),
        ("permintaan_informasi", "Permintaan informasi"),
    ],
    title: "Judul",
    title_hint: "Singkat, paling banyak 150 karakter.",
    body: "Isi laporan",
    body_hint: "Apa yang terjadi, di mana dan kapan. Paling banyak 4.000 karakter.",
    category: "Kategori",
    kabupaten: "Kabupaten/kota",
    location: "Lokasi (tidak wajib)",
    attachments: "Lampiran (tidak wajib)",
    attachments_hint: "Foto (JPEG, PNG, WebP, GIF) atau PDF, paling banyak 5 berkas dan 10 MB.",
    privacy: "Kerahasiaan",
    anonim: "Anonim: identitas saya tidak ditampilkan kepada petugas",
    rahasia: "Rahasia: laporan tidak tampil di daftar publik",
    identity: "Identitas (tidak wajib)",
    identity_hint: "Disimpan terenkripsi, hanya untuk menghubungi Anda tentang laporan ini.",
    name: "Nama",
    phone: "Nomor HP",
    email: "E-mail",
    nik: "NIK (16 angka)",
    send: "Kirim laporan",
    problem: "Laporan belum terkirim",
    track_heading: "Lacak laporan",
    tracking_id: "Nomor pelacakan",
    access_code: "Kode akses",
    access_code_hint: "Diperlukan untuk laporan rahasia, untuk membalas dan untuk menilai.",
    track: "Lacak",
    received_heading: "Laporan diterima",
    received_keep: "Simpan nomor pelacakan dan kode akses ini. Kode akses tidak dapat ditampilkan lagi.",
    see_status: "Lihat status laporan",
    status_heading: "Status laporan",
    not_found: "Laporan tidak ditemukan",
    not_found_hint: "Periksa nomor pelacakan. Untuk laporan rahasia, masukkan juga kode akses.",
    state: "Status",
    handled_by: "Ditangani oleh",
    submitted: "Diterima",
    due: "Batas waktu tahap ini",
    timeline: "Riwayat",
    hidden_title: "(rahasia)",
    respond_heading: "Tanggapi tindak lanjut",
    reply: "Balasan",
    objection: "Keberatan (laporan dibuka kembali)",
    answer_heading: "Jawab pertanyaan petugas",
    your_text: "Tanggapan Anda",
    send_reply: "Kirim tanggapan",
    rate_heading: "Nilai tindak lanjut",
    stars: "Nilai (1 = buruk, 5 = sangat baik)",
    send_rating: "Kirim nilai",
    thanks: "Terima kasih, tanggapan Anda sudah diterima.",
    back: "Kembali",
    too_many: "Terlalu banyak permintaan dari alamat ini. Coba lagi sebentar lagi.",
    unavailable: "Layanan sedang sibuk. Laporan belum tersimpan; kirim ulang sebentar lagi.",
    key_reused: "Formulir ini sudah terkirim dengan isi lain. Muat ulang halaman untuk laporan baru.",
};

pub const EN: Text = Text {
    switch_to: "Bahasa Indonesia",
    site: "LAPOR! South Kalimantan",
    submit_heading: "Submit a report",
    intro: "Your complaint, suggestion or information request goes to the agency in charge. You get a tracking number to follow it up.",
    kind: "Type of report",
    kinds: [
        ("aduan", "Complaint"),
        ("aspirasi", "Suggestion"),
        ("permintaan_informasi", "Information request"),
    ],
    title: "Title",
    title_hint: "Short, at most 150 characters.",
    body: "Report",
    body_hint: "What happened, where and when. At most 4,000 characters.",
    category: "Category",
    kabupaten: "Regency/city",
    location: "Location (optional)",
    attachments: "Attachments (optional)",
    attachments_hint: "Photos (JPEG, PNG, WebP, GIF) or PDFs, at most 5 files and 10 MB.",
    privacy: "Privacy",
    anonim: "Anonymous: my identity is not shown to officers",
    rahasia: "Confidential: the report is on no public list",
    identity: "Identity (optional)",
    identity_hint: "Stored encrypted, only to contact you about this report.",
    name: "Name",
    phone: "Mobile number",
    email: "E-mail",
    nik: "NIK (16 digits)",
    send: "Send report",
    problem: "The report was not sent",
    track_heading: "Track a report",
    tracking_id: "Tracking number",
    access_code: "Access code",
    access_code_hint: "Needed for a confidential report, to reply and to rate.",
    track: "Track",
    received_heading: "Report received",
    received_keep: "Keep this tracking number and access code. The access code cannot be shown again.",
    see_status: "See the report's status",
    status_heading: "Report status",
    not_found: "Report not found",
    not_found_hint: "Check the tracking number. For a confidential report, enter its access code too.",
    state: "Status",
    handled_by: "Handled by",
    submitted: "Received",
    due: "Due for this stage",
    timeline: "History",
    hidden_title: "(confidential)",
    respond_heading: "Respond to the follow-up",
    reply: "Reply",
    objection: "Objection (the report is reopened)",
    answer_heading: "Answer the officer's question",
    your_text: "Your response",
    send_reply: "Send response",
    rate_heading: "Rate the follow-up",
    stars: "Rating (1 = poor, 5 = very good)",
    send_rating: "Send rating",
    thanks: "Thank you, your response has been received.",
    back: "Back",
    too_many: "Too many requests from this address. Try again shortly.",
    unavailable: "The service is busy. The report was not stored; send it again shortly.",
    key_reused: "This form was already sent with other content. Reload the page for a new report.",
};

/// Why an attachment was refused, in the page's language; the files must be chosen again
/// (a browser never refills a file input).
pub fn attachment_problem(lang: Lang, error: &crate::attachments::AttachmentError) -> String {
    use crate::attachments::AttachmentError::*;
    match (lang, error) {
        (Lang::Id, TooMany { max }) => format!("paling banyak {max} berkas; pilih lagi berkas yang akan dikirim"),
        (Lang::Id, TooLarge { max }) => format!(
            "ukuran semua berkas paling banyak {} MB; pilih lagi berkas yang lebih kecil",
            max / (1024 * 1024)
        ),
        (Lang::Id, Empty { filename }) => format!("berkas {filename:?} kosong; pilih lagi berkasnya"),
        (Lang::Id, Unsupported { filename }) => {
            format!("{filename:?} bukan foto (JPEG, PNG, WebP, GIF) atau PDF; pilih lagi berkasnya")
        }
        (Lang::En, TooMany { max }) => format!("at most {max} files; choose the files again"),
        (Lang::En, TooLarge { max }) => {
            format!("at most {} MB in all; choose smaller files again", max / (1024 * 1024))
        }
        (Lang::En, Empty { filename }) => format!("{filename:?} is empty; choose the file again"),
        (Lang::En, Unsupported { filename }) => {
            format!("{filename:?} is not a photo (JPEG, PNG, WebP, GIF) or a PDF; choose the file again")
        }
    }
}

/// Why a reporter's answer, reply or rating was refused, in the page's language.
pub fn action_problem(lang: Lang, error: &crate::reporter_actions::ActionError) -> String {
    use crate::reporter_actions::{ActionError, Untimely};
    match (lang, error) {
        (Lang::En, error) => error.to_string(),
        (Lang::Id, ActionError::NotFound(id)) => format!("tidak ada laporan dengan nomor pelacakan {id}"),
        (Lang::Id, ActionError::WrongCode) => "kode akses tidak cocok dengan laporan ini".to_owned(),
        (Lang::Id, ActionError::Invalid(field)) => field.message_id(),
        (Lang::Id, ActionError::NotNow(Untimely::NotOnHold)) => {
            "jawaban diterima selama laporan ditunda dengan pertanyaan".to_owned()
        }
        (Lang::Id, ActionError::NotNow(Untimely::OutsideReplyWindow)) => {
            "balasan dan keberatan diterima dalam masa tanggapan setelah tindak lanjut".to_owned()
        }
        (Lang::Id, ActionError::NotNow(Untimely::NotFollowedUp)) => {
            "penilaian diterima setelah laporan ditindaklanjuti".to_owned()
        }
        (Lang::Id, ActionError::AlreadyRated) => "laporan ini sudah dinilai".to_owned(),
        (Lang::Id, error @ (ActionError::Limited(_) | ActionError::Db(_))) => error.to_string(),
    }
}
