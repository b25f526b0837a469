//! The citizen's pages: one column, large tap targets, no JavaScript, every control with a
//! label, errors summarised at the top with a link to the field. maud escapes everything
//! it prints, so text people typed is shown as text.

use super::text::Lang;
use chrono::{DateTime, Utc};
use lapor_domain::Directory;
use maud::{DOCTYPE, Markup, PreEscaped, html};

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f5f6f8;font-size:17px;line-height:1.45}
header{background:#8a1c1c;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;justify-content:space-between}
header a{color:#fff}
main{max-width:44rem;margin:0 auto;padding:1rem}
section,.card{background:#fff;border-radius:.5rem;padding:.8rem 1rem;margin:.8rem 0;box-shadow:0 1px 2px #0002}
label,legend{display:block;font-weight:600;margin:.6rem 0 .2rem}
fieldset{border:1px solid #ccc;border-radius:.4rem;margin:.8rem 0;padding:.2rem .8rem .6rem}
.choice{display:flex;gap:.5rem;align-items:flex-start;font-weight:400;margin:.3rem 0}
.choice input{width:auto;margin-top:.3rem}
input,select,textarea{width:100%;box-sizing:border-box;font-size:1rem;padding:.5rem;border:1px solid #888;border-radius:.3rem}
input:focus,select:focus,textarea:focus,button:focus,a:focus{outline:3px solid #f0b400;outline-offset:1px}
[aria-invalid=true]{border:2px solid #8a1111}
.hint{color:#555;font-size:.9rem;margin:0 0 .2rem}
button{font-size:1.05rem;padding:.65rem 1.2rem;margin-top:.8rem;border-radius:.4rem;border:1px solid #8a1c1c;background:#8a1c1c;color:#fff;cursor:pointer}
.problem{background:#fde2e1;border-left:4px solid #8a1111;padding:.6rem 1rem;margin:.8rem 0}
.code{font-family:ui-monospace,monospace;font-size:1.6rem;letter-spacing:.15rem;background:#f0f0f0;padding:.2rem .5rem;border-radius:.3rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0}
ol.timeline{padding-left:1.2rem}
a{color:#8a1c1c}
";

fn layout(lang: Lang, title: &str, switch_href: &str, body: Markup) -> Markup {
    let text = lang.text();
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (text.site) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a href={ "/?lang=" (lang.code()) } { strong { (text.site) } }
                    a href=(switch_href) lang=(lang.other().code()) { (text.switch_to) }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// What the form holds, as sent (or empty): kept when the form comes back with an error.
#[derive(Debug, Clone, Default)]
pub struct FormValues {
    pub kind: String,
    pub title: String,
    pub body: String,
    pub category_code: String,
    pub kabupaten_code: String,
    pub location: String,
    pub anonim: bool,
    pub rahasia: bool,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub nik: String,
    pub idempotency_key: String,
}

/// A problem with the form: the control it concerns (its id) and what is wrong.
pub struct FormError {
    pub field: Option<&'static str>,
    pub message: String,
}

fn invalid(error: Option<&FormError>, field: &str) -> &'static str {
    if error.and_then(|e| e.field) == Some(field) {
        "true"
    } else {
        "false"
    }
}

/// The tracking form; `id` prefills the tracking number (a not-found page keeps what was
/// asked for, so the reporter of a rahasia report only adds the access code).
fn tracking_form(lang: Lang, id: &str) -> Markup {
    let text = lang.text();
    html! {
        section aria-labelledby="track-heading" {
            h2 id="track-heading" { (text.track_heading) }
            form method="post" action="/lacak" {
                input type="hidden" name="lang" value=(lang.code());
                label for="track-id" { (text.tracking_id) }
                input id="track-id" name="id" autocomplete="off" autocapitalize="characters" maxlength="20" required value=(id);
                label for="track-code" { (text.access_code) }
                p class="hint" id="track-code-hint" { (text.access_code_hint) }
                input id="track-code" name="kode" autocomplete="off" autocapitalize="characters" maxlength="20" aria-describedby="track-code-hint";
                button type="submit" { (text.track) }
            }
        }
    }
}

pub fn form_page(lang: Lang, directory: &Directory, values: &FormValues, error: Option<&FormError>) -> Markup {
    let text = lang.text();
    let kind = if values.kind.is_empty() {
        "aduan"
    } else {
        values.kind.as_str()
    };
    let tops: Vec<_> = directory.categories.iter().filter(|c| !c.code.contains('.')).collect();
    let body = html! {
        p { (text.intro) }
        @if let Some(error) = error {
            div class="problem" role="alert" id="problem" tabindex="-1" {
                strong { (text.problem) } ": "
                @match error.field {
                    Some(field) => a href={ "#" (field) } { (error.message) },
                    None => (error.message),
                }
            }
        }
        form method="post" action="/lapor" enctype="multipart/form-data" {
            input type="hidden" name="lang" value=(lang.code());
            input type="hidden" name="idempotency_key" value=(values.idempotency_key);
            fieldset {
                legend { (text.kind) }
                @for (value, label) in text.kinds {
                    label class="choice" {
                        input type="radio" name="kind" value=(value) checked[kind == value];
                        (label)
                    }
                }
            }
            label for="title" { (text.title) }
            p class="hint" id="title-hint" { (text.title_hint) }
            input id="title" name="title" maxlength="150" required value=(values.title)
                aria-describedby="title-hint" aria-invalid=(invalid(error, "title"));
            label for="body" { (text.body) }
            p class="hint" id="body-hint" { (text.body_hint) }
            textarea id="body" name="body" rows="6" maxlength="4000" required aria-describedby="body-hint"
                aria-invalid=(invalid(error, "body")) { (values.body) }
            label for="category" { (text.category) }
            select id="category" name="category_code" required aria-invalid=(invalid(error, "category")) {
                @for top in &tops {
                    optgroup label=(top.name) {
                        @for category in directory.categories.iter().filter(|c| c.code == top.code || c.code.starts_with(&format!("{}.", top.code))) {
                            option value=(category.code) selected[values.category_code == category.code] { (category.name) }
                        }
                    }
                }
            }
            label for="kabupaten" { (text.kabupaten) }
            select id="kabupaten" name="kabupaten_code" required aria-invalid=(invalid(error, "kabupaten")) {
                @for kabupaten in &directory.kabupaten {
                    option value=(kabupaten.code) selected[values.kabupaten_code == kabupaten.code] { (kabupaten.name) }
                }
            }
            label for="location" { (text.location) }
            input id="location" name="location" maxlength="200" value=(values.location)
                aria-invalid=(invalid(error, "location"));
            label for="lampiran" { (text.attachments) }
            p class="hint" id="lampiran-hint" { (text.attachments_hint) }
            input id="lampiran" name="lampiran" type="file" multiple
                accept=(lapor_domain::submission::ATTACHMENT_TYPES.join(","))
                aria-describedby="lampiran-hint" aria-invalid=(invalid(error, "lampiran"));
            fieldset {
                legend { (text.privacy) }
                label class="choice" { input type="checkbox" id="anonim" name="anonim" value="on" checked[values.anonim]; (text.anonim) }
                label class="choice" { input type="checkbox" id="rahasia" name="rahasia" value="on" checked[values.rahasia]; (text.rahasia) }
            }
            fieldset {
                legend { (text.identity) }
                p class="hint" { (text.identity_hint) }
                label for="name" { (text.name) }
                input id="name" name="name" maxlength="100" autocomplete="name" value=(values.name)
                    aria-invalid=(invalid(error, "name"));
                label for="phone" { (text.phone) }
                input id="phone" name="phone" type="tel" autocomplete="tel" value=(values.phone)
                    aria-invalid=(invalid(error, "phone"));
                label for="email" { (text.email) }
                input id="email" name="email" type="email" autocomplete="email" value=(values.email)
                    aria-invalid=(invalid(error, "email"));
                label for="nik" { (text.nik) }
                input id="nik" name="nik" inputmode="numeric" autocomplete="off" value=(values.nik)
                    aria-invalid=(invalid(error, "nik"));
            }
            button type="submit" { (text.send) }
        }
        (tracking_form(lang, ""))
    };
    layout(
        lang,
        text.submit_heading,
        &format!("/?lang={}", lang.other().code()),
        body,
    )
}

pub fn received_page(lang: Lang, tracking_id: &str, access_code: &str) -> Markup {
    let text = lang.text();
    let body = html! {
        section role="status" {
            p { (text.tracking_id) ": " span class="code" id="tracking-id" { (tracking_id) } }
            p { (text.access_code) ": " span class="code" id="access-code" { (access_code) } }
            p { strong { (text.received_keep) } }
            p { a href={ "/lacak?id=" (tracking_id) "&lang=" (lang.code()) } { (text.see_status) } }
        }
    };
    layout(
        lang,
        text.received_heading,
        &format!("/?lang={}", lang.other().code()),
        body,
    )
}

/// What the status page shows: the public record and the timeline of states.
pub struct StatusView {
    pub tracking_id: String,
    /// `None`: rahasia and opened without the code (never shown then, kept for clarity).
    pub title: Option<String>,
    pub category: String,
    pub kabupaten: String,
    pub state: String,
    pub skpd_name: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub expected_at: Option<DateTime<Utc>>,
    /// The report this one was merged into; state, deadline and timeline are that report's.
    pub merged_into: Option<String>,
    pub timeline: Vec<(DateTime<Utc>, String)>,
    pub may_respond: bool,
    pub may_answer: bool,
    pub may_rate: bool,
}

fn code_field(lang: Lang, id: &str) -> Markup {
    let text = lang.text();
    html! {
        label for=(id) { (text.access_code) }
        input id=(id) name="kode" autocomplete="off" autocapitalize="characters" maxlength="20" required;
    }
}

pub fn status_page(lang: Lang, view: &StatusView) -> Markup {
    let text = lang.text();
    let id = &view.tracking_id;
    let body = html! {
        @if let Some(parent) = &view.merged_into {
            p class="notice" id="merged" { (lang.merged_notice(parent)) }
        }
        section {
            dl {
                dt { (text.tracking_id) } dd id="status-id" { (id) }
                dt { (text.title) } dd { (view.title.as_deref().unwrap_or(text.hidden_title)) }
                dt { (text.category) } dd { (view.category) }
                dt { (text.kabupaten) } dd { (view.kabupaten) }
                dt { (text.state) } dd id="status-state" { strong { (lang.state(&view.state)) } }
                @if let Some(skpd) = &view.skpd_name { dt { (text.handled_by) } dd { (skpd) } }
                dt { (text.submitted) } dd { (lang.time(view.submitted_at)) }
                @if let Some(due) = view.expected_at { dt { (text.due) } dd { (lang.time(due)) } }
            }
        }
        section aria-labelledby="timeline-heading" {
            h2 id="timeline-heading" { (text.timeline) }
            ol class="timeline" id="timeline" {
                li { (lang.time(view.submitted_at)) ": " (lang.state("submitted")) }
                @for (at, state) in &view.timeline {
                    li { (lang.time(*at)) ": " (lang.state(state)) }
                }
            }
        }
        @if view.may_respond {
            section aria-labelledby="respond-heading" {
                h2 id="respond-heading" { (text.respond_heading) }
                form method="post" action={ "/lacak/" (id) "/balas" } {
                    input type="hidden" name="lang" value=(lang.code());
                    fieldset {
                        legend { (text.kind) }
                        label class="choice" { input type="radio" name="kind" value="reply" checked; (text.reply) }
                        label class="choice" { input type="radio" name="kind" value="objection"; (text.objection) }
                    }
                    label for="respond-text" { (text.your_text) }
                    textarea id="respond-text" name="text" rows="4" maxlength="4000" required {}
                    (code_field(lang, "respond-code"))
                    button type="submit" { (text.send_reply) }
                }
            }
        }
        @if view.may_answer {
            section aria-labelledby="answer-heading" {
                h2 id="answer-heading" { (text.answer_heading) }
                form method="post" action={ "/lacak/" (id) "/balas" } {
                    input type="hidden" name="lang" value=(lang.code());
                    input type="hidden" name="kind" value="answer";
                    label for="answer-text" { (text.your_text) }
                    textarea id="answer-text" name="text" rows="4" maxlength="4000" required {}
                    (code_field(lang, "answer-code"))
                    button type="submit" { (text.send_reply) }
                }
            }
        }
        @if view.may_rate {
            section aria-labelledby="rate-heading" {
                h2 id="rate-heading" { (text.rate_heading) }
                form method="post" action={ "/lacak/" (id) "/nilai" } {
                    input type="hidden" name="lang" value=(lang.code());
                    fieldset {
                        legend { (text.stars) }
                        @for stars in 1..=5u8 {
                            label class="choice" { input type="radio" name="stars" value=(stars) required; (stars) }
                        }
                    }
                    (code_field(lang, "rate-code"))
                    button type="submit" { (text.send_rating) }
                }
            }
        }
        (tracking_form(lang, ""))
    };
    layout(
        lang,
        text.status_heading,
        &format!("/lacak?id={id}&lang={}", lang.other().code()),
        body,
    )
}

/// A short page: a heading, what happened, and the way back.
pub fn message_page(lang: Lang, heading: &str, message: &str, back: &str) -> Markup {
    let text = lang.text();
    let body = html! {
        div class="problem" role="alert" { (message) }
        p { a href=(back) { (text.back) } }
        (tracking_form(lang, ""))
    };
    layout(lang, heading, &format!("/?lang={}", lang.other().code()), body)
}

/// The same page for an unknown id and for a rahasia report asked for without its code,
/// so it tells nobody which it was; the id stays in the form.
pub fn not_found_page(lang: Lang, id: &str) -> Markup {
    let text = lang.text();
    let body = html! {
        div class="problem" role="alert" { (text.not_found_hint) }
        (tracking_form(lang, id))
    };
    layout(lang, text.not_found, &format!("/?lang={}", lang.other().code()), body)
}
