//! Message texts from minijinja templates in `deploy/templates`, in Bahasa Indonesia and
//! English, so wording can change without a rebuild (a restart reloads them).
//!
//! Layout: `<lang>/<kind>.<channel>` with lang `id`/`en`, kind one of [`Kind::as_str`] and
//! channel `subject.txt`, `email.txt`, `email.html` or `sms.txt` (the digest has no SMS).
//! Files whose names start with `_` are shared pieces (`_layout.email.html`,
//! `_macros.email.html`, `<lang>/_footer.email.*`) reached through `extends`/`include`/`import`;
//! files other than `*.txt`/`*.html`, and hidden ones (a Kubernetes ConfigMap mount's
//! `..data`), are ignored.
//!
//! [`Templates::load`] reads every template into memory and refuses to start on a broken set:
//! a required file missing, a syntax error (file and line), a variable that
//! [`MessageContext`] does not have, or a render failure for any kind × language × channel
//! with sample values covering every case state and escalation level.
//!
//! Rendering is strict: an undefined variable is an error, never a blank. `.html` templates
//! HTML-escape everything they print (titles and notes come from citizens); `.txt` templates
//! print text as is. Filters the templates may use, all taking the language where words differ:
//! - `long_time(lang)` / `short_time(lang)`: an RFC 3339 instant in WITA, midnight as 24:00 of
//!   the day before ("Senin, 30 November 2026 24:00 WITA", "30-11-2026 24:00 WITA"; English
//!   "Monday, 30 November 2026 24:00 WITA", "30 Nov 2026 24:00 WITA"); `-` for none.
//! - `stage_words(lang)`: an SLA stage code in words ("tindak lanjut", "follow-up").
//! - `state_label(lang)`: a case state code as the public status page names it.
//! - `archive_reason(lang)`: an archive reason code (`SPAM`, …) in words; other text unchanged.
//! - `truncate(n)`: at most `n` characters, ending in `...` when cut (GSM-7 safe).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use lapor_domain::CaseState;
use lapor_domain::local_time;
use lapor_domain::workflow::ArchiveReason;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use serde::{Deserialize, Serialize};

/// The language of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Id,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Id, Lang::En];

    /// `id` or `en`, any case; a region suffix is ignored (`en-US`, `id_ID`).
    pub fn parse(text: &str) -> Option<Lang> {
        let primary = text.trim().split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("id") {
            Some(Lang::Id)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The template directory and the `lang` template variable: `id` or `en`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Id => "id",
            Lang::En => "en",
        }
    }
}

/// What a message is about; each kind has its own templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A complaint landed in the recipient's SKPD queue (penghubung, sub-unit officers).
    Assigned,
    /// A step of the escalation ladder: `level` is reminder, breach, provincial or another
    /// configured level.
    Escalated,
    /// To the reporter after submission: the tracking id and how to follow the report.
    ReporterReceived,
    /// To the reporter when the case changes for them: `state` is the new case state.
    ReporterUpdate,
    /// The daily/weekly leadership digest (e-mail only).
    Digest,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Assigned,
        Kind::Escalated,
        Kind::ReporterReceived,
        Kind::ReporterUpdate,
        Kind::Digest,
    ];

    /// The template file stem.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Assigned => "assigned",
            Kind::Escalated => "escalated",
            Kind::ReporterReceived => "reporter_received",
            Kind::ReporterUpdate => "reporter_update",
            Kind::Digest => "digest",
        }
    }

    /// The kind whose file stem is `text`.
    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Whether an SMS template is required. A `digest.sms.txt` may still be added; it is
    /// then checked and rendered like the others.
    pub fn has_sms(self) -> bool {
        !matches!(self, Kind::Digest)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Subject,
    Text,
    Html,
    Sms,
}

impl Part {
    fn suffix(self) -> &'static str {
        match self {
            Part::Subject => "subject.txt",
            Part::Text => "email.txt",
            Part::Html => "email.html",
            Part::Sms => "sms.txt",
        }
    }
}

fn template_name(kind: Kind, lang: Lang, part: Part) -> String {
    format!("{}/{}.{}", lang.as_str(), kind.as_str(), part.suffix())
}

/// The templates [`Templates::load`] requires, relative to the template directory.
pub fn required_templates() -> Vec<String> {
    let mut names = Vec::new();
    for lang in Lang::ALL {
        for kind in Kind::ALL {
            for part in [Part::Subject, Part::Text, Part::Html] {
                names.push(template_name(kind, lang, part));
            }
            if kind.has_sms() {
                names.push(template_name(kind, lang, Part::Sms));
            }
        }
    }
    names
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A required template is missing: its file path from [`Templates::load`], its name
    /// from rendering (an SMS for a kind without one).
    #[error("message template {0} is missing")]
    Missing(String),
    #[error("cannot read message templates at {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A template does not compile; `template` is its file path.
    #[error("message template {template}, line {line}: {reason}")]
    Syntax {
        template: String,
        line: usize,
        reason: String,
    },
    /// A template uses a variable that [`MessageContext`] does not have.
    #[error("message template {template} uses {variable:?}, which is not a message variable")]
    UnknownVariable { template: String, variable: String },
    /// Rendering failed; `reason` names the file and line where it did (which may be an
    /// included template).
    #[error("cannot render message template {template}: {reason}")]
    Render { template: String, reason: String },
}

/// One e-mail: a one-line subject, a plain-text body and an HTML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailText {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Everything a template may print. Fields a message does not need stay empty. It
/// deserializes with absent fields empty, so a stored context outlives added fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageContext {
    /// "" for a reporter whose name we do not have (templates then greet "Bapak/Ibu Pelapor").
    pub recipient_name: String,
    pub tracking_id: String,
    /// Printed as is: the caller replaces the title of a rahasia case.
    pub title: String,
    pub rahasia: bool,
    pub skpd_name: String,
    pub category: String,
    pub kabupaten: String,
    /// RFC 3339 instant; templates format it with `long_time(lang)` / `short_time(lang)`.
    pub deadline_at: Option<String>,
    pub working_days: u32,
    /// Escalation level: reminder | breach | provincial | another configured level.
    pub level: String,
    /// SLA stage code: verification | follow_up | reply_window.
    pub stage: String,
    /// For [`Kind::ReporterUpdate`]: the new case state code ([`CaseState::as_str`]).
    pub state: String,
    /// Free text: follow-up summary, hold question, archive reason (code or text), or "".
    pub note: String,
    /// Console link for officers, public status URL for reporters, dashboard for the digest.
    pub link: String,
    /// "id" | "en": set by the renderer from its `Lang` argument.
    pub lang: String,
    /// Digest lines: label, value.
    pub figures: Vec<(String, String)>,
    /// Digest period label.
    pub period: String,
    /// For a reporter's update: their report was merged into the one the update is about
    /// (they cannot reply to or rate it; the templates say so instead of inviting it).
    pub merged: bool,
}

/// Names a template may use besides the [`MessageContext`] fields: minijinja's own.
const ENGINE_NAMES: [&str; 9] = [
    "loop",
    "super",
    "self",
    "caller",
    "varargs",
    "kwargs",
    "range",
    "dict",
    "namespace",
];

/// The loaded, checked templates.
#[derive(Debug, Clone)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Loads every template under `dir` and checks that each required (kind × lang × channel)
    /// exists and compiles, so a broken edit fails at start with the file name and line. It
    /// also rejects variables that are not [`MessageContext`] fields and renders every
    /// template once with sample values (every case state and escalation level), which catches
    /// a missing include or a failing filter.
    pub fn load(dir: &Path) -> Result<Templates, TemplateError> {
        let mut env = environment();
        let mut files = Vec::new();
        collect_files(dir, "", &mut files)?;
        for (name, path) in files {
            let source = std::fs::read_to_string(&path).map_err(|source| TemplateError::Io {
                path: path.clone(),
                source,
            })?;
            env.add_template_owned(name, source)
                .map_err(|err| TemplateError::Syntax {
                    template: path.display().to_string(),
                    line: err.line().unwrap_or(0),
                    reason: match err.detail() {
                        Some(detail) => format!("{}: {detail}", err.kind()),
                        None => err.kind().to_string(),
                    },
                })?;
        }
        let templates = Templates { env };
        for name in required_templates() {
            if !templates.has(&name) {
                return Err(TemplateError::Missing(dir.join(&name).display().to_string()));
            }
        }
        templates.check_variables(dir)?;
        for (kind, lang, ctx) in samples() {
            templates.email(kind, lang, &ctx)?;
            if kind.has_sms() || templates.has(&template_name(kind, lang, Part::Sms)) {
                templates.sms(kind, lang, &ctx)?;
            }
        }
        Ok(templates)
    }

    /// Subject (one line, whitespace collapsed), plain text (trailing spaces and repeated
    /// blank lines removed, ending in one newline) and HTML.
    pub fn email(&self, kind: Kind, lang: Lang, ctx: &MessageContext) -> Result<EmailText, TemplateError> {
        let value = context_value(ctx, lang);
        Ok(EmailText {
            subject: one_line(&self.render(&template_name(kind, lang, Part::Subject), &value)?),
            text: tidy_text(&self.render(&template_name(kind, lang, Part::Text), &value)?),
            html: format!(
                "{}\n",
                self.render(&template_name(kind, lang, Part::Html), &value)?.trim()
            ),
        })
    }

    /// The SMS text: trimmed, whitespace (line breaks included) collapsed to single spaces.
    pub fn sms(&self, kind: Kind, lang: Lang, ctx: &MessageContext) -> Result<String, TemplateError> {
        let value = context_value(ctx, lang);
        Ok(one_line(&self.render(&template_name(kind, lang, Part::Sms), &value)?))
    }

    fn has(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }

    fn render(&self, name: &str, ctx: &Value) -> Result<String, TemplateError> {
        let template = self
            .env
            .get_template(name)
            .map_err(|_| TemplateError::Missing(name.to_owned()))?;
        template.render(ctx).map_err(|err| TemplateError::Render {
            template: name.to_owned(),
            reason: describe(&err),
        })
    }

    /// Static check of every template (all branches, unlike a sample render) against the
    /// context's field names.
    fn check_variables(&self, dir: &Path) -> Result<(), TemplateError> {
        let mut known: BTreeSet<String> = ENGINE_NAMES.iter().map(|name| (*name).to_owned()).collect();
        if let Ok(fields) = Value::from(Serde(&MessageContext::default())).try_iter() {
            known.extend(fields.filter_map(|field| field.as_str().map(str::to_owned)));
        }
        let mut templates: Vec<_> = self.env.templates().collect();
        templates.sort_by_key(|(name, _)| name.to_owned());
        for (name, template) in templates {
            let mut used: Vec<String> = template.undeclared_variables(false).into_iter().collect();
            used.sort();
            if let Some(variable) = used.into_iter().find(|variable| !known.contains(variable)) {
                return Err(TemplateError::UnknownVariable {
                    template: dir.join(name).display().to_string(),
                    variable,
                });
            }
        }
        Ok(())
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Block tags on their own lines leave no trace in the output (`+%}` keeps a newline).
    let mut syntax = SyntaxConfig::builder();
    syntax.trim_blocks(true).lstrip_blocks(true);
    if let Ok(syntax) = syntax.build() {
        env.set_syntax(syntax);
    }
    // `.html` (and `.htm`, `.xml`) escape HTML; `.txt` prints text as is.
    env.set_auto_escape_callback(minijinja::default_auto_escape_callback);
    env.add_filter("long_time", long_time);
    env.add_filter("short_time", short_time);
    env.add_filter("stage_words", stage_words);
    env.add_filter("state_label", state_label);
    env.add_filter("archive_reason", archive_reason);
    env.add_filter("truncate", truncate);
    env
}

/// `(name relative to the root with '/', path)` of every template file, sorted. Follows
/// symbolic links; skips hidden entries and files that are not `.txt`/`.html`.
fn collect_files(root: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), TemplateError> {
    let dir = if prefix.is_empty() {
        root.to_path_buf()
    } else {
        root.join(prefix)
    };
    let io = |source| TemplateError::Io {
        path: dir.clone(),
        source,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if file_name.starts_with('.') {
            continue;
        }
        entries.push((file_name, entry.path()));
    }
    entries.sort();
    for (file_name, path) in entries {
        let name = if prefix.is_empty() {
            file_name
        } else {
            format!("{prefix}/{file_name}")
        };
        let metadata = std::fs::metadata(&path).map_err(|source| TemplateError::Io {
            path: path.clone(),
            source,
        })?;
        if metadata.is_dir() {
            collect_files(root, &name, out)?;
        } else if name.ends_with(".txt") || name.ends_with(".html") {
            out.push((name, path));
        }
    }
    Ok(())
}

fn context_value(ctx: &MessageContext, lang: Lang) -> Value {
    let mut ctx = ctx.clone();
    lang.as_str().clone_into(&mut ctx.lang);
    Value::from(Serde(&ctx))
}

fn describe(err: &Error) -> String {
    let mut reason = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

/// Control characters become spaces, whitespace runs one space, both ends trimmed.
fn one_line(text: &str) -> String {
    let cleaned: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Trailing spaces removed, at most one blank line in a row, no blank lines at either end,
/// one final newline.
fn tidy_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = false;
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() {
            blank_run = !out.is_empty();
            continue;
        }
        if blank_run {
            out.push('\n');
            blank_run = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn lang_arg(lang: &str) -> Result<Lang, Error> {
    Lang::parse(lang).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("unknown language {lang:?}: expected \"id\" or \"en\""),
        )
    })
}

fn instant(at: Option<&str>) -> Result<Option<DateTime<Utc>>, Error> {
    match at.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|at| Some(at.with_timezone(&Utc)))
            .map_err(|err| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("{text:?} is not an RFC 3339 instant: {err}"),
                )
            }),
    }
}

fn long_time(at: Option<&str>, lang: &str) -> Result<String, Error> {
    let format = match lang_arg(lang)? {
        Lang::Id => local_time::long_time,
        Lang::En => local_time::long_time_en,
    };
    Ok(instant(at)?.map_or_else(|| "-".to_owned(), format))
}

fn short_time(at: Option<&str>, lang: &str) -> Result<String, Error> {
    let format = match lang_arg(lang)? {
        Lang::Id => local_time::short_time,
        Lang::En => local_time::short_time_en,
    };
    Ok(instant(at)?.map_or_else(|| "-".to_owned(), format))
}

fn stage_words(stage: &str, lang: &str) -> Result<String, Error> {
    Ok(match lang_arg(lang)? {
        Lang::Id => local_time::stage_words(stage),
        Lang::En => local_time::stage_words_en(stage),
    }
    .to_owned())
}

/// The public status label; an unknown code is printed as is.
fn state_label(state: &str, lang: &str) -> Result<String, Error> {
    let lang = lang_arg(lang)?;
    let Some(state) = CaseState::parse(state) else {
        return Ok(state.to_owned());
    };
    Ok(match lang {
        Lang::Id => state.public_label(),
        Lang::En => state.public_label_en(),
    }
    .to_owned())
}

/// An archive reason code in words; any other text (a reason written by the admin) as is.
fn archive_reason(note: &str, lang: &str) -> Result<String, Error> {
    let lang = lang_arg(lang)?;
    let Some(reason) = ArchiveReason::parse(note.trim()) else {
        return Ok(note.to_owned());
    };
    Ok(match (lang, reason) {
        (Lang::Id, ArchiveReason::Spam) => "laporan berisi spam atau tidak relevan",
        (Lang::Id, ArchiveReason::Unintelligible) => "isi laporan tidak dapat dipahami",
        (Lang::Id, ArchiveReason::OutOfScope) => "laporan berada di luar cakupan layanan LAPOR!",
        (Lang::Id, ArchiveReason::Duplicate) => "laporan yang sama telah disampaikan sebelumnya",
        (Lang::En, ArchiveReason::Spam) => "the report is spam or not relevant",
        (Lang::En, ArchiveReason::Unintelligible) => "the report could not be understood",
        (Lang::En, ArchiveReason::OutOfScope) => "the report is outside the scope of LAPOR!",
        (Lang::En, ArchiveReason::Duplicate) => "the same report was submitted earlier",
    }
    .to_owned())
}

/// At most `max` characters; a cut text ends in "..." (three GSM-7 characters, not "…"),
/// after the last whole word when there is one.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    if max < 4 {
        return text.chars().take(max).collect();
    }
    let kept: String = text.chars().take(max - 3).collect();
    let next_is_space = text.chars().nth(max - 3).is_some_and(char::is_whitespace);
    let kept = match kept.rfind(char::is_whitespace) {
        Some(space) if !next_is_space && !kept[..space].trim_end().is_empty() => &kept[..space],
        _ => kept.as_str(),
    };
    format!("{}...", kept.trim_end())
}

/// 2026-12-01T00:00 WITA, the end of Monday 30 November 2026 in Kalsel.
const SAMPLE_DEADLINE: &str = "2026-11-30T16:00:00Z";
/// Escalation levels the samples (and tests) cover: the default ladder and a custom one.
const SAMPLE_LEVELS: [&str; 4] = ["reminder", "breach", "provincial", "second_reminder"];
const SAMPLE_STAGES: [&str; 3] = ["verification", "follow_up", "reply_window"];

/// Case states a reporter update covers: every [`CaseState`] and a code templates do not
/// know (printed through their fallback branch).
fn sample_states() -> Vec<String> {
    CaseState::ALL
        .iter()
        .map(|state| state.as_str().to_owned())
        .chain(["reopened".to_owned()])
        .collect()
}

/// Every kind × language, with every escalation level and case state, each once with all
/// fields filled and once with the optional ones empty.
fn samples() -> Vec<(Kind, Lang, MessageContext)> {
    let full = MessageContext {
        recipient_name: "Rina".into(),
        tracking_id: "AB3DEF7H9K".into(),
        title: "Antrian puskesmas <terlalu> panjang".into(),
        rahasia: true,
        skpd_name: "Dinas Kesehatan".into(),
        category: "kesehatan.puskesmas".into(),
        kabupaten: "Kota Banjarmasin".into(),
        deadline_at: Some(SAMPLE_DEADLINE.into()),
        working_days: 5,
        level: "reminder".into(),
        stage: "follow_up".into(),
        state: "assigned".into(),
        note: "Baris pertama\nbaris kedua & <b>".into(),
        link: "http://localhost/status/AB3DEF7H9K".into(),
        lang: String::new(),
        figures: vec![("Aduan masuk".into(), "120".into()), ("Selesai".into(), "98".into())],
        period: "23-29 November 2026".into(),
        merged: true,
    };
    let sparse = MessageContext {
        tracking_id: "AB3DEF7H9K".into(),
        ..MessageContext::default()
    };
    let mut out = Vec::new();
    for lang in Lang::ALL {
        for kind in Kind::ALL {
            for base in [&full, &sparse] {
                match kind {
                    Kind::Escalated => {
                        for (i, level) in SAMPLE_LEVELS.iter().enumerate() {
                            let mut ctx = base.clone();
                            ctx.level = (*level).into();
                            ctx.stage = SAMPLE_STAGES[i % SAMPLE_STAGES.len()].into();
                            out.push((kind, lang, ctx));
                        }
                    }
                    Kind::ReporterUpdate => {
                        for state in sample_states() {
                            let mut ctx = base.clone();
                            ctx.state = state;
                            out.push((kind, lang, ctx));
                        }
                    }
                    _ => out.push((kind, lang, base.clone())),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/templates")
    }

    fn templates() -> Templates {
        match Templates::load(&template_dir()) {
            Ok(templates) => templates,
            Err(err) => panic!("{err}"),
        }
    }

    /// A copy of the real template directory to break, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("lapor-templates-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            copy_dir(&template_dir(), &dir);
            Scratch(dir)
        }

        fn write(&self, name: &str, source: &str) {
            std::fs::write(self.0.join(name), source).expect("write template");
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
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

    fn officer(level: &str) -> MessageContext {
        MessageContext {
            recipient_name: "Ayu".into(),
            tracking_id: "AB3DEF7H9K".into(),
            title: "Antrian puskesmas".into(),
            skpd_name: "Dinas Kesehatan".into(),
            category: "kesehatan.puskesmas".into(),
            kabupaten: "6371".into(),
            deadline_at: Some(SAMPLE_DEADLINE.into()),
            working_days: 5,
            level: level.into(),
            stage: "follow_up".into(),
            link: "http://c/console/cases/AB3DEF7H9K".into(),
            ..MessageContext::default()
        }
    }

    fn reporter(state: &str) -> MessageContext {
        MessageContext {
            tracking_id: "AB3DEF7H9K".into(),
            title: "Jalan berlubang di Jl. A. Yani km 5".into(),
            skpd_name: "Dinas Pekerjaan Umum dan Penataan Ruang".into(),
            deadline_at: Some(SAMPLE_DEADLINE.into()),
            working_days: 10,
            state: state.into(),
            link: "https://lapor.kalselprov.go.id/status/AB3DEF7H9K".into(),
            ..MessageContext::default()
        }
    }

    /// A link attribute as the HTML templates write it (minijinja also escapes '/').
    fn href(link: &str) -> String {
        format!("href=\"{}\"", minijinja::HtmlEscape(link))
    }

    fn email(templates: &Templates, kind: Kind, lang: Lang, ctx: &MessageContext) -> EmailText {
        templates
            .email(kind, lang, ctx)
            .unwrap_or_else(|err| panic!("{kind:?}/{lang:?}: {err}"))
    }

    #[test]
    fn every_kind_language_and_channel_renders() {
        let templates = templates();
        let samples = samples();
        // Every case state and escalation level, in both languages, full and sparse.
        assert_eq!(
            samples.len(),
            2 * 2 * (1 + SAMPLE_LEVELS.len() + 1 + sample_states().len() + 1)
        );
        for (kind, lang, ctx) in samples {
            let what = format!("{kind:?}/{lang:?}/{}/{}", ctx.level, ctx.state);
            let mail = email(&templates, kind, lang, &ctx);
            assert!(mail.subject.starts_with("[LAPOR] "), "{what}: {}", mail.subject);
            assert!(mail.subject.contains("AB3DEF7H9K") || kind == Kind::Digest, "{what}");
            assert!(!mail.subject.contains('\n'), "{what}");
            assert!(
                mail.text.ends_with(")\n") && !mail.text.contains("\n\n\n"),
                "{what}: {}",
                mail.text
            );
            assert!(
                mail.html.starts_with("<!DOCTYPE html>") && mail.html.ends_with("</html>\n"),
                "{what}"
            );
            let greeting = match lang {
                Lang::Id => "Yth. ",
                Lang::En => "Dear ",
            };
            assert!(mail.text.starts_with(greeting), "{what}: {}", mail.text);
            for part in [&mail.subject, &mail.text, &mail.html] {
                assert!(!part.contains("{{") && !part.contains("{%"), "{what}");
            }
            assert!(
                mail.html.contains(&format!("<html lang=\"{}\">", lang.as_str())),
                "{what}"
            );
            if kind.has_sms() {
                let sms = templates.sms(kind, lang, &ctx).expect("sms");
                assert!(
                    sms.starts_with("LAPOR! ") && sms.contains("AB3DEF7H9K"),
                    "{what}: {sms}"
                );
            } else {
                assert!(matches!(
                    templates.sms(kind, lang, &ctx),
                    Err(TemplateError::Missing(name)) if name.ends_with("digest.sms.txt")
                ));
            }
        }
    }

    #[test]
    fn assigned_email_names_the_case() {
        let templates = templates();
        let mut ctx = officer("");
        ctx.recipient_name = "Rina".into();
        ctx.deadline_at = None;
        let mail = email(&templates, Kind::Assigned, Lang::Id, &ctx);
        assert_eq!(mail.subject, "[LAPOR] Aduan baru AB3DEF7H9K untuk Dinas Kesehatan");
        assert!(
            mail.text
                .starts_with("Yth. Rina,\n\nAduan baru telah didisposisikan ke Dinas Kesehatan.\n")
        );
        assert!(mail.text.contains("Judul           : Antrian puskesmas\n"));
        assert!(mail.text.contains("Kategori        : kesehatan.puskesmas\n"));
        assert!(mail.text.contains("Kabupaten/kota  : 6371\n"));
        assert!(mail.text.contains("http://c/console/cases/AB3DEF7H9K"));
        assert!(mail.text.contains("dalam 5 hari kerja"), "{}", mail.text);
        assert!(
            mail.text
                .ends_with("\n\n-- LAPOR! Provinsi Kalimantan Selatan (pesan otomatis, jangan dibalas)\n")
        );
        assert!(
            mail.html.contains(&href("http://c/console/cases/AB3DEF7H9K")),
            "{}",
            mail.html
        );
    }

    #[test]
    fn assigned_email_states_the_actual_deadline() {
        let templates = templates();
        let mail = email(&templates, Kind::Assigned, Lang::Id, &officer(""));
        assert!(
            mail.text.contains(
                "Silakan tindak lanjuti paling lambat Senin, 30 November 2026 24:00 WITA melalui konsol petugas:\n\
                 http://c/console/cases/AB3DEF7H9K\n"
            ),
            "{}",
            mail.text
        );
        assert!(!mail.text.contains("5 hari kerja"));
        assert!(
            mail.html
                .contains("paling lambat <strong>Senin, 30 November 2026 24:00 WITA</strong>")
        );

        let english = email(&templates, Kind::Assigned, Lang::En, &officer(""));
        assert_eq!(english.subject, "[LAPOR] New complaint AB3DEF7H9K for Dinas Kesehatan");
        assert!(
            english
                .text
                .contains("Please follow it up by Monday, 30 November 2026 24:00 WITA in the officer")
        );
        assert!(
            english
                .text
                .starts_with("Dear Ayu,\n\nA new complaint has been assigned to Dinas Kesehatan.\n")
        );
    }

    #[test]
    fn times_are_wita_with_midnight_as_24_00() {
        let templates = templates();
        let render = |source: &str, at: Option<&str>| {
            templates
                .env
                .render_str(source, minijinja::context! { at => at })
                .map_err(|err| err.to_string())
        };
        let midnight = Some(SAMPLE_DEADLINE);
        assert_eq!(
            render("{{ at | long_time('id') }}", midnight).as_deref(),
            Ok("Senin, 30 November 2026 24:00 WITA")
        );
        assert_eq!(
            render("{{ at | short_time('id') }}", midnight).as_deref(),
            Ok("30-11-2026 24:00 WITA")
        );
        assert_eq!(
            render("{{ at | long_time('en') }}", midnight).as_deref(),
            Ok("Monday, 30 November 2026 24:00 WITA")
        );
        assert_eq!(
            render("{{ at | short_time('en') }}", midnight).as_deref(),
            Ok("30 Nov 2026 24:00 WITA")
        );
        // 2026-11-30T01:30:00Z is 09:30 WITA the same day; an offset is honoured.
        for morning in ["2026-11-30T01:30:00Z", "2026-11-30T09:30:00+08:00"] {
            assert_eq!(
                render("{{ at | long_time('id') }}", Some(morning)).as_deref(),
                Ok("Senin, 30 November 2026 09:30 WITA")
            );
        }
        assert_eq!(render("{{ at | long_time('id') }}", None).as_deref(), Ok("-"));
        assert_eq!(render("{{ at | short_time('en') }}", Some("")).as_deref(), Ok("-"));
        let bad = render("{{ at | long_time('id') }}", Some("30/11/2026")).expect_err("not RFC 3339");
        assert!(bad.contains("RFC 3339"), "{bad}");
        let bad = render("{{ at | long_time('fr') }}", midnight).expect_err("unknown language");
        assert!(bad.contains("unknown language"), "{bad}");
    }

    #[test]
    fn reminder_names_the_due_date() {
        let templates = templates();
        let mail = email(&templates, Kind::Escalated, Lang::Id, &officer("reminder"));
        assert_eq!(
            mail.subject,
            "[LAPOR] Pengingat: aduan AB3DEF7H9K jatuh tempo 30-11-2026 24:00 WITA"
        );
        assert!(
            mail.text
                .starts_with("Yth. Ayu,\n\nPengingat: batas waktu tahap tindak lanjut aduan ini segera berakhir.\n\n")
        );
        assert!(mail.text.contains("Judul           : Antrian puskesmas\n"));
        assert!(mail.text.contains("SKPD            : Dinas Kesehatan\n"));
        assert!(mail.text.contains("Tahap           : tindak lanjut\n"));
        assert!(
            mail.text
                .contains("Batas waktu     : Senin, 30 November 2026 24:00 WITA (5 hari kerja)\n\n")
        );
        assert!(
            mail.text
                .contains("Buka di konsol petugas:\nhttp://c/console/cases/AB3DEF7H9K\n")
        );
        assert!(mail.html.contains("Senin, 30 November 2026 24:00 WITA (5 hari kerja)"));

        let english = email(&templates, Kind::Escalated, Lang::En, &officer("reminder"));
        assert_eq!(
            english.subject,
            "[LAPOR] Reminder: complaint AB3DEF7H9K due 30 Nov 2026 24:00 WITA"
        );
        assert!(english.text.contains("Stage           : follow-up\n"));
        assert!(
            english
                .text
                .contains("Deadline        : Monday, 30 November 2026 24:00 WITA (5 working days)\n")
        );

        let mut no_count = officer("reminder");
        no_count.working_days = 0;
        let mail = email(&templates, Kind::Escalated, Lang::Id, &no_count);
        assert!(
            mail.text
                .contains("Batas waktu     : Senin, 30 November 2026 24:00 WITA\n\n")
        );
    }

    #[test]
    fn breach_and_provincial_have_their_own_wording() {
        let templates = templates();
        let breach = email(&templates, Kind::Escalated, Lang::Id, &officer("breach"));
        assert_eq!(breach.subject, "[LAPOR] Melewati batas waktu: aduan AB3DEF7H9K");
        assert!(
            breach
                .text
                .contains("melewati batas waktu tahap tindak lanjut dan belum diselesaikan")
        );

        let mut verification = officer("provincial");
        verification.stage = "verification".into();
        let provincial = email(&templates, Kind::Escalated, Lang::Id, &verification);
        assert_eq!(provincial.subject, "[LAPOR] Eskalasi ke pimpinan: aduan AB3DEF7H9K");
        assert!(provincial.text.contains("dieskalasikan ke pimpinan provinsi"));
        assert!(provincial.text.contains("Tahap           : verifikasi\n"));
        assert!(provincial.text.contains("http://c/console/cases/AB3DEF7H9K"));

        let custom = email(&templates, Kind::Escalated, Lang::Id, &officer("second_reminder"));
        assert_eq!(custom.subject, "[LAPOR] Eskalasi (second_reminder): aduan AB3DEF7H9K");
        assert!(custom.text.contains("Eskalasi tahap tindak lanjut (second_reminder)."));

        let english = email(&templates, Kind::Escalated, Lang::En, &officer("breach"));
        assert_eq!(english.subject, "[LAPOR] Deadline missed: complaint AB3DEF7H9K");
        let english = email(&templates, Kind::Escalated, Lang::En, &officer("second_reminder"));
        assert_eq!(
            english.subject,
            "[LAPOR] Escalation (second_reminder): complaint AB3DEF7H9K"
        );
    }

    #[test]
    fn rahasia_hides_the_title() {
        let templates = templates();
        for lang in Lang::ALL {
            for kind in Kind::ALL {
                for level in SAMPLE_LEVELS {
                    let mut ctx = officer(level);
                    ctx.rahasia = true;
                    ctx.title = "(rahasia)".into();
                    ctx.state = "followed_up".into();
                    let mail = email(&templates, kind, lang, &ctx);
                    for part in [&mail.subject, &mail.text, &mail.html] {
                        assert!(!part.contains("Antrian"), "{kind:?}/{lang:?}/{level}: {part}");
                    }
                    if matches!(kind, Kind::Assigned | Kind::Escalated) && lang == Lang::Id {
                        assert!(mail.text.contains("Judul           : (rahasia)\n"), "{}", mail.text);
                    }
                }
            }
        }
        let mut ctx = reporter("");
        ctx.rahasia = true;
        let received = email(&templates, Kind::ReporterReceived, Lang::Id, &ctx);
        assert!(
            received
                .text
                .contains("bersifat rahasia dan tidak ditampilkan kepada publik")
        );
    }

    #[test]
    fn html_escapes_citizen_text_and_plain_text_keeps_it() {
        let templates = templates();
        let script = "<script>alert('x')</script>";
        for lang in Lang::ALL {
            for kind in Kind::ALL {
                let mut ctx = reporter("followed_up");
                ctx.title = format!("Judul {script}");
                ctx.note = format!("Tanggapan {script} & \"kutip\"");
                ctx.figures = vec![(script.into(), "1".into())];
                let mail = email(&templates, kind, lang, &ctx);
                assert!(!mail.html.contains("<script"), "{kind:?}/{lang:?}: {}", mail.html);
                if kind != Kind::Digest {
                    assert!(mail.html.contains("Judul &lt;script&gt;"), "{kind:?}/{lang:?}");
                    assert!(mail.text.contains(&ctx.title), "{kind:?}/{lang:?}");
                }
                if kind == Kind::ReporterUpdate {
                    assert!(mail.text.contains(&ctx.note), "{kind:?}/{lang:?}");
                    assert!(mail.html.contains("Tanggapan &lt;script&gt;"), "{kind:?}/{lang:?}");
                    assert!(mail.html.contains("&amp; &quot;kutip&quot;"), "{kind:?}/{lang:?}");
                }
            }
        }
    }

    /// A merged duplicate's reporter is told why they hear of another report, and is not
    /// invited to reply to or rate what they cannot.
    #[test]
    fn a_merged_reporter_is_told_of_the_merge_and_not_invited_to_act() {
        let templates = templates();
        for state in ["followed_up", "closed"] {
            let mut ctx = reporter(state);
            ctx.merged = true;
            let mail = email(&templates, Kind::ReporterUpdate, Lang::Id, &ctx);
            assert!(
                mail.text.contains("telah digabung dengan laporan lain"),
                "{state}: {}",
                mail.text
            );
            assert!(mail.html.contains("telah digabung dengan laporan lain"), "{state}");
            assert!(!mail.text.contains("menyampaikan keberatan"), "{state}: {}", mail.text);
            assert!(!mail.text.contains("memberikan penilaian"), "{state}: {}", mail.text);
            let english = email(&templates, Kind::ReporterUpdate, Lang::En, &ctx);
            assert!(english.text.contains("has been merged with another report"), "{state}");
            assert!(
                !english.text.contains("reply or object") && !english.text.contains("rate how"),
                "{state}"
            );
            ctx.merged = false;
            let own = email(&templates, Kind::ReporterUpdate, Lang::Id, &ctx);
            assert!(!own.text.contains("digabung"), "{state}");
        }
    }

    #[test]
    fn every_reporter_update_state_has_its_own_text() {
        let templates = templates();
        let expected: [(&str, &str, &str); 10] = [
            ("submitted", "sedang dalam tahap verifikasi", "is being verified"),
            (
                "verified",
                "diteruskan kepada Dinas Pekerjaan Umum dan Penataan Ruang untuk ditindaklanjuti paling lambat \
                 Senin, 30 November 2026 24:00 WITA.",
                "passed to Dinas Pekerjaan Umum dan Penataan Ruang, which is to follow it up by Monday",
            ),
            (
                "assigned",
                "telah diverifikasi dan diteruskan",
                "has been verified and passed",
            ),
            (
                "in_progress",
                "sedang diproses oleh Dinas Pekerjaan Umum",
                "being processed by Dinas Pekerjaan Umum",
            ),
            (
                "followed_up",
                "memberikan tanggapan atau menyampaikan keberatan melalui tautan di bawah ini paling lambat Senin",
                "reply or object through the link below by Monday",
            ),
            (
                "on_hold",
                "memerlukan keterangan tambahan dari Anda:\n\nCATATAN",
                "needs more information from you",
            ),
            (
                "closed",
                "telah selesai ditindaklanjuti dan kini ditutup",
                "followed up and is now closed",
            ),
            (
                "rejected_not_authority",
                "bukan merupakan wewenang instansi yang dituju",
                "not within the authority",
            ),
            (
                "archived",
                "diarsipkan dan tidak dapat ditindaklanjuti",
                "has been archived",
            ),
            (
                "reopened",
                "Status laporan Anda kini: reopened.",
                "The status of your report is now: reopened.",
            ),
        ];
        let mut subjects = BTreeSet::new();
        for (state, id, en) in expected {
            let mut ctx = reporter(state);
            ctx.note = "CATATAN".into();
            let mail = email(&templates, Kind::ReporterUpdate, Lang::Id, &ctx);
            assert!(mail.text.contains(id), "{state}: {}", mail.text);
            assert!(mail.text.starts_with("Yth. Bapak/Ibu Pelapor,\n\n"), "{state}");
            assert!(
                mail.text.contains("https://lapor.kalselprov.go.id/status/AB3DEF7H9K\n"),
                "{state}"
            );
            assert!(mail.text.contains("SMS STATUS AB3DEF7H9K ke 1708"), "{state}");
            assert!(
                mail.html
                    .contains(&href("https://lapor.kalselprov.go.id/status/AB3DEF7H9K"))
            );
            if let Some(label) = CaseState::parse(state).map(CaseState::public_label) {
                assert!(mail.text.contains(&format!("Status          : {label}\n")), "{state}");
            }
            subjects.insert(mail.subject);
            let english = email(&templates, Kind::ReporterUpdate, Lang::En, &ctx);
            assert!(english.text.contains(en), "{state}: {}", english.text);
            assert!(english.text.starts_with("Dear Sir or Madam,\n\n"), "{state}");
        }
        // verified and assigned share their words; every other state has its own subject.
        assert_eq!(subjects.len(), expected.len() - 1);

        let mut followed_up = reporter("followed_up");
        followed_up.note = "Jalan sudah ditambal pada 2 Desember.".into();
        let mail = email(&templates, Kind::ReporterUpdate, Lang::Id, &followed_up);
        assert!(
            mail.text
                .contains("tanggapan berikut:\n\nJalan sudah ditambal pada 2 Desember.\n\n")
        );
        assert!(mail.text.contains("ditutup secara otomatis"));

        let mut archived = reporter("archived");
        archived.note = "SPAM".into();
        let mail = email(&templates, Kind::ReporterUpdate, Lang::Id, &archived);
        assert!(
            mail.text.contains("Alasan: laporan berisi spam atau tidak relevan\n"),
            "{}",
            mail.text
        );
        let mail = email(&templates, Kind::ReporterUpdate, Lang::En, &archived);
        assert!(
            mail.text.contains("Reason: the report is spam or not relevant\n"),
            "{}",
            mail.text
        );
        archived.note = "Bukan pengaduan pelayanan publik.".into();
        let mail = email(&templates, Kind::ReporterUpdate, Lang::Id, &archived);
        assert!(mail.text.contains("Alasan: Bukan pengaduan pelayanan publik.\n"));
        archived.note.clear();
        let mail = email(&templates, Kind::ReporterUpdate, Lang::Id, &archived);
        assert!(!mail.text.contains("Alasan"));

        let mut named = reporter("closed");
        named.recipient_name = "Siti".into();
        let mail = email(&templates, Kind::ReporterUpdate, Lang::Id, &named);
        assert!(mail.text.starts_with("Yth. Siti,\n\n"));
    }

    #[test]
    fn reporter_received_gives_the_tracking_id_and_how_to_follow_it() {
        let templates = templates();
        let mail = email(&templates, Kind::ReporterReceived, Lang::Id, &reporter("submitted"));
        assert_eq!(
            mail.subject,
            "[LAPOR] Laporan Anda telah diterima, nomor pelacakan AB3DEF7H9K"
        );
        assert!(mail.text.contains("Nomor pelacakan : AB3DEF7H9K\n"));
        assert!(mail.text.contains("https://lapor.kalselprov.go.id/status/AB3DEF7H9K\n"));
        assert!(mail.text.contains("SMS STATUS AB3DEF7H9K ke 1708"));
        assert!(!mail.text.contains("rahasia"));
        let sms = templates
            .sms(Kind::ReporterReceived, Lang::Id, &reporter("submitted"))
            .expect("sms");
        assert!(sms.contains("kirim STATUS AB3DEF7H9K ke 1708"), "{sms}");

        let mut no_link = reporter("submitted");
        no_link.link.clear();
        let mail = email(&templates, Kind::ReporterReceived, Lang::En, &no_link);
        assert!(mail.text.contains("by sending the SMS STATUS AB3DEF7H9K to 1708.\n"));
        assert!(!mail.html.contains("href"));
    }

    #[test]
    fn digest_lists_the_figures() {
        let templates = templates();
        let ctx = MessageContext {
            recipient_name: "Sekda".into(),
            period: "23-29 November 2026".into(),
            figures: vec![
                ("Aduan masuk".into(), "120".into()),
                ("Melewati batas waktu".into(), "7".into()),
            ],
            link: "http://dash".into(),
            ..MessageContext::default()
        };
        let mail = email(&templates, Kind::Digest, Lang::Id, &ctx);
        assert_eq!(mail.subject, "[LAPOR] Ringkasan pengaduan 23-29 November 2026");
        assert!(
            mail.text
                .contains(":\n\n- Aduan masuk: 120\n- Melewati batas waktu: 7\n\n"),
            "{}",
            mail.text
        );
        assert!(mail.html.contains(">Melewati batas waktu</td>"));
        assert!(mail.text.contains("http://dash\n"));
        let empty = MessageContext {
            figures: Vec::new(),
            link: String::new(),
            ..ctx
        };
        let mail = email(&templates, Kind::Digest, Lang::En, &empty);
        assert!(mail.text.contains("There is no data for this period."));
        assert!(!mail.text.contains("dashboard"));
    }

    #[test]
    fn a_missing_variable_is_an_error_not_a_blank() {
        let templates = templates();
        let err = templates
            .env
            .render_str("Yth. {{ recipient }},", minijinja::context! {})
            .expect_err("strict");
        assert_eq!(err.kind(), ErrorKind::UndefinedError);

        // Caught at load when a template names a variable that does not exist …
        let scratch = Scratch::new("unknown-variable");
        scratch.write("id/assigned.email.txt", "Yth. {{ recipient }},\n");
        match Templates::load(&scratch.0) {
            Err(TemplateError::UnknownVariable { template, variable }) => {
                assert!(template.ends_with("id/assigned.email.txt"), "{template}");
                assert_eq!(variable, "recipient");
            }
            other => panic!("{other:?}"),
        }
        // … and a render error when only a live value reaches an undefined attribute.
        let scratch = Scratch::new("undefined-attribute");
        scratch.write(
            "en/assigned.sms.txt",
            "LAPOR! {{ tracking_id }}{% if tracking_id == 'ZZZZZZZZZZ' %}{{ figures.total }}{% endif %}\n",
        );
        let loaded = Templates::load(&scratch.0).expect("sample values do not reach the branch");
        let mut ctx = officer("");
        ctx.tracking_id = "ZZZZZZZZZZ".into();
        match loaded.sms(Kind::Assigned, Lang::En, &ctx) {
            Err(TemplateError::Render { template, reason }) => {
                assert_eq!(template, "en/assigned.sms.txt");
                assert!(reason.contains("undefined"), "{reason}");
                assert!(reason.contains("en/assigned.sms.txt:1"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // A bad instant is a render error too.
        ctx.deadline_at = Some("tomorrow".into());
        assert!(matches!(
            loaded.email(Kind::Assigned, Lang::Id, &ctx),
            Err(TemplateError::Render { template, .. }) if template == "id/assigned.email.txt"
        ));
    }

    #[test]
    fn a_missing_template_fails_load_naming_the_file() {
        let scratch = Scratch::new("missing");
        std::fs::remove_file(scratch.0.join("en/reporter_update.sms.txt")).expect("remove");
        match Templates::load(&scratch.0) {
            Err(TemplateError::Missing(path)) => assert!(path.ends_with("en/reporter_update.sms.txt"), "{path}"),
            other => panic!("{other:?}"),
        }

        // A missing shared piece fails the sample render, naming it.
        let scratch = Scratch::new("missing-footer");
        std::fs::remove_file(scratch.0.join("id/_footer.email.txt")).expect("remove");
        let err = Templates::load(&scratch.0).expect_err("footer missing").to_string();
        assert!(err.contains("id/_footer.email.txt"), "{err}");

        let err = Templates::load(&scratch.0.join("nowhere")).expect_err("no directory");
        assert!(matches!(err, TemplateError::Io { .. }), "{err:?}");
    }

    #[test]
    fn a_syntax_error_fails_load_naming_file_and_line() {
        let scratch = Scratch::new("syntax");
        scratch.write(
            "id/escalated.email.txt",
            "Yth. {{ recipient_name }},\n\n{% if level == %}\nPengingat\n{% endif %}\n",
        );
        let err = Templates::load(&scratch.0).expect_err("syntax error");
        match &err {
            TemplateError::Syntax { template, line, .. } => {
                assert!(template.ends_with("id/escalated.email.txt"), "{template}");
                assert_eq!(*line, 3);
            }
            other => panic!("{other:?}"),
        }
        let shown = err.to_string();
        assert!(
            shown.contains("id/escalated.email.txt, line 3: syntax error"),
            "{shown}"
        );
    }

    #[test]
    fn hidden_entries_and_other_files_are_ignored() {
        let scratch = Scratch::new("hidden");
        std::fs::create_dir_all(scratch.0.join("..data")).expect("mkdir");
        scratch.write("..data/broken.txt", "{% if %}");
        scratch.write(".broken.html", "{% if %}");
        scratch.write("notes.md", "{% if %}");
        Templates::load(&scratch.0).expect("only templates are read");
    }

    #[test]
    fn templates_can_be_shared_between_tasks() {
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<Templates>();
    }

    #[test]
    fn lang_parses_and_serializes_as_its_code() {
        assert_eq!(Lang::parse("id"), Some(Lang::Id));
        assert_eq!(Lang::parse(" EN "), Some(Lang::En));
        assert_eq!(Lang::parse("en-US"), Some(Lang::En));
        assert_eq!(Lang::parse("id_ID"), Some(Lang::Id));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::parse(""), None);
        assert_eq!(Lang::default(), Lang::Id);
        assert_eq!(serde_json::to_string(&Lang::En).ok().as_deref(), Some("\"en\""));
        assert_eq!(serde_json::from_str::<Lang>("\"id\"").ok(), Some(Lang::Id));
        assert_eq!(required_templates().len(), 2 * (5 * 3 + 4));
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("Assigned"), None);
        let stored: MessageContext =
            serde_json::from_str(r#"{"tracking_id":"AB3DEF7H9K","figures":[["Aduan","3"]]}"#).expect("context");
        assert_eq!(stored.tracking_id, "AB3DEF7H9K");
        assert_eq!(stored.figures, vec![("Aduan".to_owned(), "3".to_owned())]);
        assert_eq!(stored.deadline_at, None);
    }

    #[test]
    fn truncate_cuts_on_characters_with_an_ascii_ellipsis() {
        assert_eq!(truncate("Dinas Kesehatan", 55), "Dinas Kesehatan");
        assert_eq!(truncate("Dinas Kesehatan", 10), "Dinas...");
        assert_eq!(truncate("Dinas Kesehatan", 15), "Dinas Kesehatan");
        assert_eq!(truncate("Dinas Kesehatan Provinsi", 18), "Dinas Kesehatan...");
        assert_eq!(truncate("Dinas Kesehatan Provinsi", 19), "Dinas Kesehatan...");
        assert_eq!(truncate("Dinas Kesehatan Provinsi", 8), "Dinas...");
        assert_eq!(truncate("Kesehatan", 8), "Keseh...");
        assert_eq!(truncate("ÄÖÜäöü", 5), "ÄÖ...");
        assert_eq!(truncate("abcdef", 2), "ab");
    }

    /// GSM 03.38 default alphabet (the escape code 0x1B left out) and its extension table,
    /// whose characters cost two septets.
    const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                              ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const GSM7_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

    /// Septets in GSM-7, or None when a character is not in GSM 03.38.
    fn gsm7_septets(text: &str) -> Option<usize> {
        text.chars()
            .map(|c| {
                if GSM7_BASIC.contains(c) {
                    Some(1)
                } else if GSM7_EXTENSION.contains(c) {
                    Some(2)
                } else {
                    None
                }
            })
            .sum()
    }

    #[test]
    fn gsm7_check_knows_the_alphabet() {
        assert_eq!(GSM7_BASIC.chars().count(), 127);
        assert_eq!(gsm7_septets("LAPOR! a-z 0-9 (ok)."), Some(20));
        assert_eq!(gsm7_septets("[x]"), Some(5));
        assert_eq!(gsm7_septets("“x”"), None);
        assert_eq!(gsm7_septets("a—b"), None);
        assert_eq!(gsm7_septets("…"), None);
    }

    #[test]
    fn every_sms_fits_one_gsm7_segment() {
        let templates = templates();
        // Long but realistic values; title and note carry characters outside GSM-7, which
        // SMS texts must therefore leave out.
        let skpd_names = [
            "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu", // longest in the seed (55)
            "Dinas Pemberdayaan Perempuan dan Perlindungan Anak",
            "Badan Perencanaan Pembangunan, Riset dan Inovasi Daerah Provinsi Kalimantan Selatan",
            "",
        ];
        let levels = [
            "reminder",
            "breach",
            "provincial",
            "second_reminder",
            "kepala_dinas_and_inspektorat_xyz",
        ];
        let states: Vec<String> = sample_states()
            .into_iter()
            .chain(["some_future_state_with_a_long_code".to_owned()])
            .collect();
        let base = MessageContext {
            recipient_name: "Hj. Siti Nurhaliza Rahmawati binti Muhammad Noor".into(),
            tracking_id: "AB3DEF7H9K".into(),
            title: "Jalan “berlubang” — sudah 3 bulan 🙏 di Jl. Jenderal Ahmad Yani km 17,5 Gambut".into(),
            category: "infrastruktur.jalan-jembatan".into(),
            kabupaten: "Kabupaten Hulu Sungai Tengah".into(),
            note: "Mohon lampirkan foto lokasi “yang jelas” — terima kasih 🙏".into(),
            link: "https://lapor.kalselprov.go.id/status/AB3DEF7H9K".into(),
            period: "23-29 November 2026".into(),
            ..MessageContext::default()
        };
        let mut longest = 0;
        let mut checked = 0;
        for lang in Lang::ALL {
            for kind in Kind::ALL.into_iter().filter(|kind| kind.has_sms()) {
                for skpd_name in skpd_names {
                    for deadline_at in [Some("2026-09-30T16:00:00Z"), None] {
                        for working_days in [10, 0] {
                            for stage in SAMPLE_STAGES {
                                for level in levels {
                                    for state in &states {
                                        let ctx = MessageContext {
                                            skpd_name: skpd_name.into(),
                                            deadline_at: deadline_at.map(str::to_owned),
                                            working_days,
                                            stage: stage.into(),
                                            level: level.into(),
                                            state: state.clone(),
                                            ..base.clone()
                                        };
                                        let sms = templates
                                            .sms(kind, lang, &ctx)
                                            .unwrap_or_else(|err| panic!("{kind:?}/{lang:?}: {err}"));
                                        let septets = gsm7_septets(&sms)
                                            .unwrap_or_else(|| panic!("not GSM-7: {kind:?}/{lang:?}: {sms}"));
                                        assert!(
                                            septets <= 160,
                                            "{septets} septets: {kind:?}/{lang:?}/{level}/{state}: {sms}"
                                        );
                                        longest = longest.max(septets);
                                        checked += 1;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 1000 && longest > 130, "{checked} texts, longest {longest}");
    }
}
