//! Every word the analytics pages show, in Bahasa Indonesia (the default) and English, and
//! numbers and dates as each language writes them: 1.234 and 87,5% in Indonesian, 1,234 and
//! 87.5% in English. Codes that reach us from the figures (states, channels, kinds, age
//! buckets, escalation levels, kabupaten codes) are turned into words here too; an unknown
//! code is shown as it is rather than hidden.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use lapor_domain::calendar::Zone;
use lapor_domain::numbers::{self, Notation};
use lapor_domain::state::CaseState;
use lapor_proto::analytics::v1::{Dimension, Granularity};

/// What an unset figure shows (an en dash): nothing measured yet, not zero.
pub const UNSET: &str = "–";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    Id,
    En,
}

impl Lang {
    /// The `lang` attribute and query value: "id" or "en".
    pub fn code(self) -> &'static str {
        match self {
            Lang::Id => "id",
            Lang::En => "en",
        }
    }

    /// `?lang=en` (any case) picks English; anything else, or nothing, Bahasa Indonesia.
    pub fn from_param(param: Option<&str>) -> Self {
        match param {
            Some(value) if value.trim().eq_ignore_ascii_case("en") => Lang::En,
            _ => Lang::Id,
        }
    }

    /// The language the switch link offers.
    pub fn other(self) -> Self {
        match self {
            Lang::Id => Lang::En,
            Lang::En => Lang::Id,
        }
    }

    pub fn labels(self) -> &'static Labels {
        match self {
            Lang::Id => &ID,
            Lang::En => &EN,
        }
    }
}

/// The fixed words of the pages, one field per phrase.
#[derive(Debug)]
pub struct Labels {
    pub site: &'static str,
    pub public_site: &'static str,
    pub skip_to_content: &'static str,
    /// The switch link's text, written in the language it switches to.
    pub switch_to: &'static str,
    pub main_nav: &'static str,
    pub nav_dashboard: &'static str,
    pub nav_ranking: &'static str,
    pub nav_transparency: &'static str,

    pub dashboard_title: &'static str,
    pub ranking_title: &'static str,
    pub transparency_title: &'static str,
    pub transparency_intro: &'static str,
    pub login_title: &'static str,
    pub login_token: &'static str,
    pub login_hint: &'static str,
    pub login_rejected: &'static str,
    pub login_submit: &'static str,
    pub error_title: &'static str,
    pub back_to_dashboard: &'static str,

    pub filter_heading: &'static str,
    pub filter_from: &'static str,
    pub filter_to: &'static str,
    pub filter_granularity: &'static str,
    pub filter_apply: &'static str,
    pub filter_reset: &'static str,
    pub period: &'static str,
    pub all_time: &'static str,
    pub until_now: &'static str,
    pub from_the_start: &'static str,
    pub as_of: &'static str,
    pub live_hint: &'static str,
    pub headline: &'static str,

    pub tile_total: &'static str,
    pub tile_open: &'static str,
    pub tile_verification: &'static str,
    pub tile_follow_up: &'static str,
    pub tile_median_follow_up: &'static str,
    pub tile_reopen: &'static str,
    pub tile_rating: &'static str,
    pub on_time: &'static str,
    pub late: &'static str,
    pub overdue: &'static str,
    pub over_complaints: &'static str,
    pub ratings_given: &'static str,
    pub hours_unit: &'static str,
    pub days_unit: &'static str,

    pub trend: &'static str,
    pub backlog_by_age: &'static str,
    pub by_state: &'static str,
    pub by_channel: &'static str,
    pub by_kind: &'static str,
    pub by_category: &'static str,
    pub by_kabupaten: &'static str,
    pub escalations_by_level: &'static str,
    pub rising: &'static str,
    pub worst_skpds: &'static str,
    pub full_ranking: &'static str,
    pub sla_per_skpd: &'static str,
    pub sla_per_skpd_note: &'static str,
    pub exports: &'static str,
    pub export_summary_json: &'static str,
    pub export_scorecard_csv: &'static str,
    pub export_scorecard_json: &'static str,
    pub export_trends: &'static str,
    pub export_period_note: &'static str,

    pub col_count: &'static str,
    pub col_share: &'static str,
    pub col_state: &'static str,
    pub col_channel: &'static str,
    pub col_kind: &'static str,
    pub col_category: &'static str,
    pub col_kabupaten: &'static str,
    pub col_level: &'static str,
    pub col_age: &'static str,
    pub col_this_week: &'static str,
    pub col_last_week: &'static str,
    pub col_rank: &'static str,
    pub col_skpd: &'static str,
    pub col_received: &'static str,
    pub col_open: &'static str,
    pub col_overdue: &'static str,
    pub col_compliance: &'static str,
    pub col_median_hours: &'static str,
    pub col_escalations: &'static str,
    pub col_reopened: &'static str,
    pub col_rating: &'static str,
    pub col_period: &'static str,

    pub no_data: &'static str,
    pub show_data: &'static str,
    pub chart_points: &'static str,
    pub chart_highest: &'static str,
    pub chart_on: &'static str,
    pub chart_sum: &'static str,
    pub week_of: &'static str,

    pub day: &'static str,
    pub week: &'static str,
    pub month: &'static str,
    pub per_day: &'static str,
    pub per_week: &'static str,
    pub per_month: &'static str,
    pub dimension: &'static str,
    pub dim_total: &'static str,
    pub dim_skpd: &'static str,
}

pub const ID: Labels = Labels {
    site: "Analitik LAPOR! Kalsel",
    public_site: "LAPOR! Kalimantan Selatan",
    skip_to_content: "Langsung ke isi",
    switch_to: "English",
    main_nav: "Navigasi utama",
    nav_dashboard: "Dasbor",
    nav_ranking: "Peringkat SKPD",
    nav_transparency: "Transparansi",

    dashboard_title: "Dasbor pimpinan",
    ranking_title: "Peringkat kinerja SKPD",
    transparency_title: "Transparansi pengaduan masyarakat",
    transparency_intro: "Angka gabungan seluruh aduan masyarakat kepada Pemerintah Provinsi Kalimantan Selatan. \
                         Halaman ini tidak menampilkan aduan perorangan.",
    login_title: "Masuk",
    login_token: "Token petugas (JWT)",
    login_hint: "Untuk admin, pimpinan dan kepala SKPD. Dari penyedia identitas Pemprov; untuk pengembangan: laporctl token.",
    login_rejected: "Token ditolak: ",
    login_submit: "Masuk",
    error_title: "Tidak dapat ditampilkan",
    back_to_dashboard: "Kembali ke dasbor",

    filter_heading: "Saring periode",
    filter_from: "Dari tanggal",
    filter_to: "Sampai dengan tanggal",
    filter_granularity: "Tren per",
    filter_apply: "Terapkan",
    filter_reset: "Atur ulang",
    period: "Periode",
    all_time: "seluruh periode",
    until_now: "sekarang",
    from_the_start: "awal",
    as_of: "Data per",
    live_hint: "Angka di bagian ini diperbarui otomatis.",
    headline: "Angka utama",

    tile_total: "Total aduan",
    tile_open: "Aduan terbuka",
    tile_verification: "Verifikasi tepat waktu",
    tile_follow_up: "Tindak lanjut tepat waktu",
    tile_median_follow_up: "Median waktu tindak lanjut",
    tile_reopen: "Dibuka kembali",
    tile_rating: "Rata-rata penilaian",
    on_time: "tepat waktu",
    late: "terlambat",
    overdue: "lewat tenggat",
    over_complaints: "aduan",
    ratings_given: "penilaian",
    hours_unit: "jam",
    days_unit: "hari",

    trend: "Volume aduan",
    backlog_by_age: "Aduan terbuka menurut umur",
    by_state: "Menurut status",
    by_channel: "Menurut kanal",
    by_kind: "Menurut jenis",
    by_category: "Menurut kategori",
    by_kabupaten: "Menurut kabupaten/kota",
    escalations_by_level: "Eskalasi per tingkat",
    rising: "Kategori yang meningkat (7 hari terakhir)",
    worst_skpds: "5 SKPD dengan kepatuhan tindak lanjut terendah",
    full_ranking: "Lihat peringkat lengkap",
    sla_per_skpd: "Kepatuhan SLA tindak lanjut per SKPD",
    sla_per_skpd_note: "Hanya SKPD yang sudah menerima aduan.",
    exports: "Unduh data",
    export_summary_json: "Ringkasan (JSON)",
    export_scorecard_csv: "Kartu skor SKPD (CSV)",
    export_scorecard_json: "Kartu skor SKPD (JSON)",
    export_trends: "Tren",
    export_period_note: "Unduhan memakai periode yang sedang disaring.",

    col_count: "Jumlah",
    col_share: "Porsi",
    col_state: "Status",
    col_channel: "Kanal",
    col_kind: "Jenis",
    col_category: "Kategori",
    col_kabupaten: "Kabupaten/kota",
    col_level: "Tingkat",
    col_age: "Umur",
    col_this_week: "7 hari terakhir",
    col_last_week: "7 hari sebelumnya",
    col_rank: "Peringkat",
    col_skpd: "SKPD",
    col_received: "Diterima",
    col_open: "Terbuka",
    col_overdue: "Lewat tenggat",
    col_compliance: "Kepatuhan tindak lanjut",
    col_median_hours: "Median jam tindak lanjut",
    col_escalations: "Eskalasi",
    col_reopened: "Dibuka kembali",
    col_rating: "Penilaian",
    col_period: "Periode",

    no_data: "Belum ada data.",
    show_data: "Tampilkan data",
    chart_points: "titik",
    chart_highest: "tertinggi",
    chart_on: "pada",
    chart_sum: "jumlah",
    week_of: "minggu mulai",

    day: "Hari",
    week: "Minggu",
    month: "Bulan",
    per_day: "per hari",
    per_week: "per minggu",
    per_month: "per bulan",
    dimension: "Menurut",
    dim_total: "Total",
    dim_skpd: "SKPD",
};

pub const EN: Labels = Labels {
    site: "LAPOR! Kalsel analytics",
    public_site: "LAPOR! South Kalimantan",
    skip_to_content: "Skip to content",
    switch_to: "Bahasa Indonesia",
    main_nav: "Main navigation",
    nav_dashboard: "Dashboard",
    nav_ranking: "SKPD ranking",
    nav_transparency: "Transparency",

    dashboard_title: "Leadership dashboard",
    ranking_title: "SKPD performance ranking",
    transparency_title: "Public complaints transparency",
    transparency_intro: "Aggregate figures over every public complaint to the Provincial Government of South \
                         Kalimantan. This page shows no individual complaint.",
    login_title: "Sign in",
    login_token: "Officer token (JWT)",
    login_hint: "For admins, leadership and heads of SKPD. From the provincial identity provider; for development: laporctl token.",
    login_rejected: "Token rejected: ",
    login_submit: "Sign in",
    error_title: "Cannot be shown",
    back_to_dashboard: "Back to the dashboard",

    filter_heading: "Filter the period",
    filter_from: "From date",
    filter_to: "Up to and including",
    filter_granularity: "Trend by",
    filter_apply: "Apply",
    filter_reset: "Reset",
    period: "Period",
    all_time: "all time",
    until_now: "now",
    from_the_start: "the start",
    as_of: "Figures as of",
    live_hint: "The figures in this part update automatically.",
    headline: "Headline figures",

    tile_total: "Total complaints",
    tile_open: "Open backlog",
    tile_verification: "Verification on time",
    tile_follow_up: "Follow-up on time",
    tile_median_follow_up: "Median time to follow-up",
    tile_reopen: "Reopened",
    tile_rating: "Average rating",
    on_time: "on time",
    late: "late",
    overdue: "overdue",
    over_complaints: "complaints",
    ratings_given: "ratings",
    hours_unit: "h",
    days_unit: "days",

    trend: "Complaint volume",
    backlog_by_age: "Open complaints by age",
    by_state: "By state",
    by_channel: "By channel",
    by_kind: "By kind",
    by_category: "By category",
    by_kabupaten: "By regency/city",
    escalations_by_level: "Escalations by level",
    rising: "Rising categories (last 7 days)",
    worst_skpds: "5 SKPDs with the lowest follow-up compliance",
    full_ranking: "See the full ranking",
    sla_per_skpd: "Follow-up SLA compliance per SKPD",
    sla_per_skpd_note: "Only SKPDs that have received complaints.",
    exports: "Download data",
    export_summary_json: "Summary (JSON)",
    export_scorecard_csv: "SKPD scorecard (CSV)",
    export_scorecard_json: "SKPD scorecard (JSON)",
    export_trends: "Trends",
    export_period_note: "Downloads use the period currently filtered.",

    col_count: "Count",
    col_share: "Share",
    col_state: "State",
    col_channel: "Channel",
    col_kind: "Kind",
    col_category: "Category",
    col_kabupaten: "Regency/city",
    col_level: "Level",
    col_age: "Age",
    col_this_week: "Last 7 days",
    col_last_week: "Previous 7 days",
    col_rank: "Rank",
    col_skpd: "SKPD",
    col_received: "Received",
    col_open: "Open",
    col_overdue: "Overdue",
    col_compliance: "Follow-up compliance",
    col_median_hours: "Median hours to follow-up",
    col_escalations: "Escalations",
    col_reopened: "Reopened",
    col_rating: "Rating",
    col_period: "Period",

    no_data: "No data yet.",
    show_data: "Show the data",
    chart_points: "points",
    chart_highest: "highest",
    chart_on: "on",
    chart_sum: "total",
    week_of: "week of",

    day: "Day",
    week: "Week",
    month: "Month",
    per_day: "per day",
    per_week: "per week",
    per_month: "per month",
    dimension: "By",
    dim_total: "Total",
    dim_skpd: "SKPD",
};

// ---------------------------------------------------------------------------------------------
// Codes in words.

/// A case state as officers know it (the dashboard).
pub fn state_label(lang: Lang, state: &str) -> String {
    let words = CaseState::parse(state).map(|state| match (lang, state) {
        (Lang::Id, CaseState::Submitted) => "Baru masuk",
        (Lang::Id, CaseState::Verified) => "Terverifikasi",
        (Lang::Id, CaseState::Assigned) => "Didisposisi",
        (Lang::Id, CaseState::InProgress) => "Diproses",
        (Lang::Id, CaseState::FollowedUp) => "Ditindaklanjuti",
        (Lang::Id, CaseState::Closed) => "Selesai",
        (Lang::Id, CaseState::OnHold) => "Ditunda",
        (Lang::Id, CaseState::Archived) => "Diarsipkan",
        (Lang::Id, CaseState::RejectedNotAuthority) => "Bukan wewenang",
        (Lang::En, CaseState::Submitted) => "Submitted",
        (Lang::En, CaseState::Verified) => "Verified",
        (Lang::En, CaseState::Assigned) => "Assigned",
        (Lang::En, CaseState::InProgress) => "In progress",
        (Lang::En, CaseState::FollowedUp) => "Followed up",
        (Lang::En, CaseState::Closed) => "Closed",
        (Lang::En, CaseState::OnHold) => "On hold",
        (Lang::En, CaseState::Archived) => "Archived",
        (Lang::En, CaseState::RejectedNotAuthority) => "Not the province's authority",
    });
    words.map_or_else(|| state.to_owned(), str::to_owned)
}

/// A case state as the public status page shows it; several states share a public label
/// (verified and assigned are both "Belum Ditindaklanjuti"). The Indonesian words are the
/// domain's, so the transparency page and the status page never disagree.
pub fn public_state_label(lang: Lang, state: &str) -> String {
    let Some(state) = CaseState::parse(state) else {
        return state.to_owned();
    };
    match lang {
        Lang::Id => state.public_label().to_owned(),
        Lang::En => match state {
            CaseState::Submitted => "Not yet verified",
            CaseState::Verified | CaseState::Assigned => "Not yet followed up",
            CaseState::InProgress => "In progress",
            CaseState::FollowedUp => "Followed up",
            CaseState::Closed => "Completed",
            CaseState::OnHold => "On hold",
            CaseState::Archived => "Archived",
            CaseState::RejectedNotAuthority => "Not the province's authority",
        }
        .to_owned(),
    }
}

/// Where a state sorts: the lifecycle order, unknown states last.
pub fn state_order(state: &str) -> usize {
    CaseState::ALL
        .iter()
        .position(|s| s.as_str() == state)
        .unwrap_or(CaseState::ALL.len())
}

pub fn channel_label(lang: Lang, channel: &str) -> String {
    let words = match (lang, channel) {
        (Lang::Id, "web") => "Situs web",
        (Lang::En, "web") => "Website",
        (_, "api") => "API",
        (_, "open311") => "Open311",
        (_, "sms") => "SMS",
        (Lang::Id, "grpc") => "gRPC (sistem mitra)",
        (Lang::En, "grpc") => "gRPC (partner systems)",
        _ => return channel.to_owned(),
    };
    words.to_owned()
}

pub fn kind_label(lang: Lang, kind: &str) -> String {
    let words = match (lang, kind) {
        (Lang::Id, "aduan") => "Aduan",
        (Lang::En, "aduan") => "Complaint",
        (Lang::Id, "aspirasi") => "Aspirasi",
        (Lang::En, "aspirasi") => "Suggestion",
        (Lang::Id, "permintaan_informasi") => "Permintaan informasi",
        (Lang::En, "permintaan_informasi") => "Information request",
        _ => return kind.to_owned(),
    };
    words.to_owned()
}

/// An escalation ladder level (`reminder`, `breach`, `provincial`).
pub fn escalation_label(lang: Lang, level: &str) -> String {
    let words = match (lang, level) {
        (Lang::Id, "reminder") => "Pengingat ke penghubung",
        (Lang::En, "reminder") => "Reminder to the liaison",
        (Lang::Id, "breach") => "Lewat batas: kepala SKPD",
        (Lang::En, "breach") => "Breach: head of SKPD",
        (Lang::Id, "provincial") => "Eskalasi provinsi",
        (Lang::En, "provincial") => "Provincial escalation",
        _ => return level.to_owned(),
    };
    words.to_owned()
}

/// Where an escalation level sorts: up the ladder, unknown levels last.
pub fn escalation_order(level: &str) -> usize {
    ["reminder", "breach", "provincial"]
        .iter()
        .position(|l| *l == level)
        .unwrap_or(3)
}

/// An open-backlog age bucket ("0-1d", "1-3d", "3-7d", "7-14d", "14d+").
pub fn age_label(lang: Lang, bucket: &str) -> String {
    let unit = lang.labels().days_unit;
    match bucket {
        "0-1d" => format!("< 1 {}", if lang == Lang::En { "day" } else { unit }),
        "14d+" => format!("> 14 {unit}"),
        _ => match bucket.strip_suffix('d').and_then(|range| range.split_once('-')) {
            Some((low, high)) => format!("{low}–{high} {unit}"),
            None => bucket.to_owned(),
        },
    }
}

/// The 13 kabupaten/kota of Kalimantan Selatan by their BPS code (as in
/// deploy/seed/kabupaten.toml); an unknown code is shown as it is.
pub fn kabupaten_label(code: &str) -> String {
    let name = match code {
        "6301" => "Kabupaten Tanah Laut",
        "6302" => "Kabupaten Kotabaru",
        "6303" => "Kabupaten Banjar",
        "6304" => "Kabupaten Barito Kuala",
        "6305" => "Kabupaten Tapin",
        "6306" => "Kabupaten Hulu Sungai Selatan",
        "6307" => "Kabupaten Hulu Sungai Tengah",
        "6308" => "Kabupaten Hulu Sungai Utara",
        "6309" => "Kabupaten Tabalong",
        "6310" => "Kabupaten Tanah Bumbu",
        "6311" => "Kabupaten Balangan",
        "6371" => "Kota Banjarmasin",
        "6372" => "Kota Banjarbaru",
        _ => return code.to_owned(),
    };
    name.to_owned()
}

pub fn granularity_label(lang: Lang, granularity: Granularity) -> &'static str {
    let l = lang.labels();
    match granularity {
        Granularity::Week => l.week,
        Granularity::Month => l.month,
        Granularity::Day | Granularity::Unspecified => l.day,
    }
}

pub fn per_granularity(lang: Lang, granularity: Granularity) -> &'static str {
    let l = lang.labels();
    match granularity {
        Granularity::Week => l.per_week,
        Granularity::Month => l.per_month,
        Granularity::Day | Granularity::Unspecified => l.per_day,
    }
}

pub fn dimension_label(lang: Lang, dimension: Dimension) -> &'static str {
    let l = lang.labels();
    match dimension {
        Dimension::Total | Dimension::Unspecified => l.dim_total,
        Dimension::Channel => l.col_channel,
        Dimension::Kind => l.col_kind,
        Dimension::Category => l.col_category,
        Dimension::Skpd => l.dim_skpd,
        Dimension::Kabupaten => l.col_kabupaten,
    }
}

/// The stable query and export name of a granularity: "day", "week", "month".
pub fn granularity_param(granularity: Granularity) -> &'static str {
    match granularity {
        Granularity::Week => "week",
        Granularity::Month => "month",
        Granularity::Day => "day",
        Granularity::Unspecified => "unspecified",
    }
}

/// The inverse of [`granularity_param`] (any case); `None` for anything else.
pub fn parse_granularity(param: &str) -> Option<Granularity> {
    [Granularity::Day, Granularity::Week, Granularity::Month]
        .into_iter()
        .find(|g| granularity_param(*g).eq_ignore_ascii_case(param.trim()))
}

/// The stable query and export name of a dimension: "total", "channel", "kind", "category",
/// "skpd", "kabupaten".
pub fn dimension_param(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Total => "total",
        Dimension::Channel => "channel",
        Dimension::Kind => "kind",
        Dimension::Category => "category",
        Dimension::Skpd => "skpd",
        Dimension::Kabupaten => "kabupaten",
        Dimension::Unspecified => "unspecified",
    }
}

/// The inverse of [`dimension_param`] (any case); `None` for anything else.
pub fn parse_dimension(param: &str) -> Option<Dimension> {
    [
        Dimension::Total,
        Dimension::Channel,
        Dimension::Kind,
        Dimension::Category,
        Dimension::Skpd,
        Dimension::Kabupaten,
    ]
    .into_iter()
    .find(|d| dimension_param(*d).eq_ignore_ascii_case(param.trim()))
}

// ---------------------------------------------------------------------------------------------
// Numbers.

fn notation(lang: Lang) -> Notation {
    match lang {
        Lang::Id => Notation::Indonesian,
        Lang::En => Notation::English,
    }
}

/// A count: "1.234.567" in Indonesian, "1,234,567" in English.
pub fn int(lang: Lang, n: u64) -> String {
    numbers::count(notation(lang), n)
}

/// A decimal number with `places` digits after the separator: "1.234,5" / "1,234.5".
/// Not a number or infinite: [`UNSET`].
pub fn decimal(lang: Lang, value: f64, places: usize) -> String {
    numbers::decimal(notation(lang), value, places).unwrap_or_else(|| UNSET.to_owned())
}

/// A percentage already on the 0–100 scale (as `Compliance.percent` is), one decimal:
/// "87,5%" / "87.5%"; unset: [`UNSET`].
pub fn percent(lang: Lang, value: Option<f64>) -> String {
    match value.filter(|v| v.is_finite()) {
        Some(value) => format!("{}%", decimal(lang, value, 1)),
        None => UNSET.to_owned(),
    }
}

/// A rate on the 0–1 scale (as `Summary.reopen_rate` is) as a percentage.
pub fn rate(lang: Lang, value: Option<f64>) -> String {
    percent(lang, value.map(|v| v * 100.0))
}

/// A duration in hours: "12,5 jam" / "12.5 h" below two days, "3,2 hari" / "3.2 days" from
/// there on; unset: [`UNSET`].
pub fn hours(lang: Lang, value: Option<f64>) -> String {
    let l = lang.labels();
    match value.filter(|v| v.is_finite()) {
        Some(h) if h < 48.0 => format!("{} {}", decimal(lang, h, 1), l.hours_unit),
        Some(h) => format!("{} {}", decimal(lang, h / 24.0, 1), l.days_unit),
        None => UNSET.to_owned(),
    }
}

/// An average star rating: "4,2 / 5"; unset: [`UNSET`].
pub fn stars(lang: Lang, value: Option<f64>) -> String {
    match value.filter(|v| v.is_finite()) {
        Some(average) => format!("{} / 5", decimal(lang, average, 1)),
        None => UNSET.to_owned(),
    }
}

/// "3 dari 40 yang ditindaklanjuti" / "3 of 40 followed up".
pub fn reopen_detail(lang: Lang, reopened: u64, followed_up: u64) -> String {
    match lang {
        Lang::Id => format!(
            "{} dari {} yang ditindaklanjuti",
            int(lang, reopened),
            int(lang, followed_up)
        ),
        Lang::En => format!("{} of {} followed up", int(lang, reopened), int(lang, followed_up)),
    }
}

// ---------------------------------------------------------------------------------------------
// Instants and dates.

/// A protobuf timestamp as an instant; `None` when unset or out of range.
pub fn instant(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
}

/// The WITA calendar date of an instant (trend buckets start at midnight WITA).
pub fn wita_date(ts: Option<&prost_types::Timestamp>) -> Option<NaiveDate> {
    instant(ts).map(|at| at.with_timezone(&Zone::Wita.offset()).date_naive())
}

/// The month's first three letters: "Agu", "Okt", "Des" in Indonesian usage.
fn month_abbr(lang: Lang, date: NaiveDate) -> &'static str {
    let months = match lang {
        Lang::Id => &lapor_domain::local_time::MONTHS_ID,
        Lang::En => &lapor_domain::local_time::MONTHS_EN,
    };
    let name = months[date.month0() as usize];
    name.get(..3).unwrap_or(name)
}

/// "5 Jan 2026" ("5 Mei 2026" / "5 May 2026").
pub fn date(lang: Lang, date: NaiveDate) -> String {
    format!("{} {} {}", date.day(), month_abbr(lang, date), date.year())
}

/// A trend bucket's start, short for a chart axis: "5 Jan" for days and weeks, "Jan 2026"
/// for months.
pub fn bucket_short(lang: Lang, start: NaiveDate, granularity: Granularity) -> String {
    match granularity {
        Granularity::Month => format!("{} {}", month_abbr(lang, start), start.year()),
        _ => format!("{} {}", start.day(), month_abbr(lang, start)),
    }
}

/// A trend bucket's start in full, for tables: "5 Jan 2026", "minggu mulai 5 Jan 2026",
/// "Jan 2026".
pub fn bucket_long(lang: Lang, start: NaiveDate, granularity: Granularity) -> String {
    match granularity {
        Granularity::Month => format!("{} {}", month_abbr(lang, start), start.year()),
        Granularity::Week => format!("{} {}", lang.labels().week_of, date(lang, start)),
        Granularity::Day | Granularity::Unspecified => date(lang, start),
    }
}

/// "Senin, 5 Januari 2026 10:30 WITA" / "Monday, 5 January 2026 10:30 WITA"; unset: [`UNSET`].
pub fn as_of(lang: Lang, ts: Option<&prost_types::Timestamp>) -> String {
    match (instant(ts), lang) {
        (Some(at), Lang::Id) => lapor_domain::local_time::long_time(at),
        (Some(at), Lang::En) => lapor_domain::local_time::long_time_en(at),
        (None, _) => UNSET.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_group_thousands_per_language() {
        assert_eq!(int(Lang::Id, 0), "0");
        assert_eq!(int(Lang::Id, 999), "999");
        assert_eq!(int(Lang::Id, 1234), "1.234");
        assert_eq!(int(Lang::Id, 1_234_567), "1.234.567");
        assert_eq!(int(Lang::En, 1_234_567), "1,234,567");
        assert_eq!(int(Lang::En, u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn decimals_and_percentages_per_language() {
        assert_eq!(percent(Lang::Id, Some(87.5)), "87,5%");
        assert_eq!(percent(Lang::En, Some(87.5)), "87.5%");
        assert_eq!(percent(Lang::Id, Some(100.0)), "100,0%");
        assert_eq!(percent(Lang::Id, Some(0.0)), "0,0%");
        assert_eq!(percent(Lang::Id, None), UNSET);
        assert_eq!(percent(Lang::En, Some(f64::NAN)), UNSET);
        assert_eq!(rate(Lang::Id, Some(0.125)), "12,5%");
        assert_eq!(rate(Lang::En, None), UNSET);
        assert_eq!(decimal(Lang::Id, 12345.678, 2), "12.345,68");
        assert_eq!(decimal(Lang::En, 12345.678, 2), "12,345.68");
        assert_eq!(decimal(Lang::En, -1234.5, 1), "-1,234.5");
        // Rounds to zero: no "-0,0".
        assert_eq!(decimal(Lang::Id, -0.01, 1), "0,0");
        assert_eq!(decimal(Lang::Id, 7.0, 0), "7");
        assert_eq!(decimal(Lang::Id, f64::INFINITY, 1), UNSET);
    }

    #[test]
    fn durations_and_ratings() {
        assert_eq!(hours(Lang::Id, Some(12.25)), "12,2 jam");
        assert_eq!(hours(Lang::En, Some(12.5)), "12.5 h");
        assert_eq!(hours(Lang::Id, Some(76.8)), "3,2 hari");
        assert_eq!(hours(Lang::En, Some(72.0)), "3.0 days");
        assert_eq!(hours(Lang::En, None), UNSET);
        assert_eq!(stars(Lang::Id, Some(4.25)), "4,2 / 5");
        assert_eq!(stars(Lang::En, None), UNSET);
    }

    #[test]
    fn codes_in_words_and_unknown_codes_as_they_are() {
        assert_eq!(state_label(Lang::Id, "in_progress"), "Diproses");
        assert_eq!(state_label(Lang::En, "in_progress"), "In progress");
        assert_eq!(state_label(Lang::En, "mystery"), "mystery");
        assert_eq!(public_state_label(Lang::Id, "assigned"), "Belum Ditindaklanjuti");
        assert_eq!(public_state_label(Lang::Id, "verified"), "Belum Ditindaklanjuti");
        assert_eq!(public_state_label(Lang::En, "closed"), "Completed");
        assert!(state_order("submitted") < state_order("closed"));
        assert_eq!(state_order("mystery"), CaseState::ALL.len());
        assert_eq!(channel_label(Lang::Id, "web"), "Situs web");
        assert_eq!(kind_label(Lang::En, "permintaan_informasi"), "Information request");
        assert_eq!(escalation_label(Lang::Id, "mystery"), "mystery");
        assert_eq!(age_label(Lang::Id, "0-1d"), "< 1 hari");
        assert_eq!(age_label(Lang::En, "0-1d"), "< 1 day");
        assert_eq!(age_label(Lang::Id, "3-7d"), "3–7 hari");
        assert_eq!(age_label(Lang::En, "14d+"), "> 14 days");
        assert_eq!(age_label(Lang::En, "odd"), "odd");
        assert_eq!(kabupaten_label("6371"), "Kota Banjarmasin");
        assert_eq!(kabupaten_label("9999"), "9999");
    }

    #[test]
    fn query_names_round_trip() {
        for g in [Granularity::Day, Granularity::Week, Granularity::Month] {
            assert_eq!(parse_granularity(granularity_param(g)), Some(g));
        }
        assert_eq!(parse_granularity("WEEK"), Some(Granularity::Week));
        assert_eq!(parse_granularity("unspecified"), None);
        for d in [
            Dimension::Total,
            Dimension::Channel,
            Dimension::Kind,
            Dimension::Category,
            Dimension::Skpd,
            Dimension::Kabupaten,
        ] {
            assert_eq!(parse_dimension(dimension_param(d)), Some(d));
        }
        assert_eq!(parse_dimension("nope"), None);
        assert_eq!(Lang::from_param(Some("EN")), Lang::En);
        assert_eq!(Lang::from_param(Some("fr")), Lang::Id);
        assert_eq!(Lang::from_param(None), Lang::Id);
    }

    #[test]
    fn dates_in_wita() {
        // 2026-05-04 20:00 UTC is 5 May 04:00 WITA.
        let ts = prost_types::Timestamp {
            seconds: 1_777_924_800,
            nanos: 0,
        };
        let day = wita_date(Some(&ts)).expect("in range");
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 5, 5).expect("valid"));
        assert_eq!(date(Lang::Id, day), "5 Mei 2026");
        assert_eq!(date(Lang::En, day), "5 May 2026");
        assert_eq!(bucket_short(Lang::Id, day, Granularity::Month), "Mei 2026");
        assert_eq!(bucket_long(Lang::En, day, Granularity::Week), "week of 5 May 2026");
        assert_eq!(as_of(Lang::Id, None), UNSET);
        assert!(as_of(Lang::En, Some(&ts)).ends_with("WITA"));
    }
}
