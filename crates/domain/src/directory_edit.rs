//! Changes an admin makes to the directory (DESIGN §1: "manages SKPDs, officers, categories,
//! routing rules"). An edit is applied to a copy and the result checked as a whole, so a
//! change that would leave a dangling reference is refused and nothing is half-applied.

use crate::reference::{Category, Directory, Instansi, Officer, ReferenceError, RoutingRule, Skpd};
use crate::workflow::{NAME_MAX_CHARS, WorkflowError};
use serde::{Deserialize, Serialize};

/// One change. "Put" adds the entry or replaces the one with the same key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "snake_case")]
pub enum DirectoryEdit {
    PutInstansi(Instansi),
    PutSkpd(Skpd),
    PutCategory(Category),
    /// Keyed by category × kabupaten.
    PutRule(RoutingRule),
    RemoveRule {
        category: String,
        kabupaten: String,
    },
    PutOfficer(Officer),
    RemoveOfficer {
        id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The field that is wrong and why.
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("{0} does not exist")]
    NotFound(String),
}

fn invalid(field: &'static str, message: impl Into<String>) -> EditError {
    EditError::Invalid {
        field,
        message: message.into(),
    }
}

/// A name shown to people and put in messages: one line, no control characters.
fn name(field: &'static str, value: &str) -> Result<String, EditError> {
    crate::workflow::check_text(field, value, NAME_MAX_CHARS, false).map_err(|error| match error {
        WorkflowError::Invalid { field, message } => invalid(field, message),
        other => invalid(field, other.to_string()),
    })
}

/// Officer ids name people in tokens and logs: `dinkes-penghubung1`. `reporter` is
/// notification's name for a complaint's reporter, so no officer may have it.
fn is_valid_officer_id(id: &str) -> bool {
    id != "reporter"
        && !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_'))
}

/// What the edit replaced or removed, for the audit's "before".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Before {
    Instansi(Instansi),
    Skpd(Skpd),
    Category(Category),
    Rule(RoutingRule),
    Officer(Officer),
}

fn put<T: Clone>(items: &mut Vec<T>, item: T, same: impl Fn(&T) -> bool) -> Option<T> {
    match items.iter_mut().find(|existing| same(existing)) {
        Some(existing) => Some(std::mem::replace(existing, item)),
        None => {
            items.push(item);
            None
        }
    }
}

impl DirectoryEdit {
    /// Short name for the audit log and logs.
    pub fn action(&self) -> &'static str {
        match self {
            DirectoryEdit::PutInstansi(_) => "put_instansi",
            DirectoryEdit::PutSkpd(_) => "put_skpd",
            DirectoryEdit::PutCategory(_) => "put_category",
            DirectoryEdit::PutRule(_) => "put_rule",
            DirectoryEdit::RemoveRule { .. } => "remove_rule",
            DirectoryEdit::PutOfficer(_) => "put_officer",
            DirectoryEdit::RemoveOfficer { .. } => "remove_officer",
        }
    }

    /// The directory after this edit, or why not. `current` is left as it was.
    pub fn apply(&self, current: &Directory) -> Result<(Directory, Option<Before>), EditError> {
        let mut next = current.clone();
        let before = match self.clone() {
            DirectoryEdit::PutInstansi(mut instansi) => {
                instansi.name = name("name", &instansi.name)?;
                let code = instansi.code.clone();
                put(&mut next.instansi, instansi, |i| i.code == code).map(Before::Instansi)
            }
            DirectoryEdit::PutSkpd(mut skpd) => {
                skpd.name = name("name", &skpd.name)?;
                skpd.sub_units = skpd
                    .sub_units
                    .iter()
                    .map(|s| name("sub_units", s))
                    .collect::<Result<_, _>>()?;
                let existing = current.skpd(&skpd.code);
                // The verification desk is one SKPD for good: moving it would strand the
                // cases waiting there, so it is not an edit.
                if skpd.verification_desk != existing.is_some_and(|s| s.verification_desk)
                    && (existing.is_some() || skpd.verification_desk)
                {
                    return Err(invalid("verification_desk", "the verification desk cannot be moved"));
                }
                let code = skpd.code.clone();
                put(&mut next.skpds, skpd, |s| s.code == code).map(Before::Skpd)
            }
            DirectoryEdit::PutCategory(mut category) => {
                category.name = name("name", &category.name)?;
                if !is_valid_category_code(&category.code) {
                    return Err(invalid(
                        "code",
                        format!("{:?} is not dotted lowercase [a-z0-9-] segments", category.code),
                    ));
                }
                let code = category.code.clone();
                put(&mut next.categories, category, |c| c.code == code).map(Before::Category)
            }
            DirectoryEdit::PutRule(rule) => {
                let (category, kabupaten) = (rule.category.clone(), rule.kabupaten.clone());
                put(&mut next.rules, rule, |r| {
                    r.category == category && r.kabupaten == kabupaten
                })
                .map(Before::Rule)
            }
            DirectoryEdit::RemoveRule { category, kabupaten } => {
                let at = next
                    .rules
                    .iter()
                    .position(|r| r.category == category && r.kabupaten == kabupaten)
                    .ok_or_else(|| EditError::NotFound(format!("rule {category}@{kabupaten}")))?;
                Some(Before::Rule(next.rules.remove(at)))
            }
            DirectoryEdit::PutOfficer(mut officer) => {
                if !is_valid_officer_id(&officer.id) {
                    return Err(invalid(
                        "id",
                        format!("{:?} is not lowercase [a-z0-9._-], at most 64", officer.id),
                    ));
                }
                officer.name = name("name", &officer.name)?;
                check_officer_contacts(&officer)?;
                officer.sub_unit = match officer.sub_unit.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(sub_unit) => Some(name("sub_unit", sub_unit)?),
                };
                let id = officer.id.clone();
                put(&mut next.officers, officer, |o| o.id == id).map(Before::Officer)
            }
            DirectoryEdit::RemoveOfficer { id } => {
                let at = next
                    .officers
                    .iter()
                    .position(|o| o.id == id)
                    .ok_or_else(|| EditError::NotFound(format!("officer {id:?}")))?;
                Some(Before::Officer(next.officers.remove(at)))
            }
        };
        next.check().map_err(|error| match error {
            ReferenceError::Inconsistent(message) => invalid("directory", message),
            other => invalid("directory", other.to_string()),
        })?;
        Ok((next, before))
    }
}

/// `kesehatan`, `kesehatan.jkn`: the segments become URL paths and Open311 service codes.
pub fn is_valid_category_code(code: &str) -> bool {
    code.len() <= 64
        && code.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// An officer is reached by e-mail and SMS: both must be usable.
fn check_officer_contacts(officer: &Officer) -> Result<(), EditError> {
    let email = officer.email.trim();
    let valid_email = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
    });
    if !valid_email {
        return Err(invalid(
            "email",
            format!("{:?} is not an e-mail address", officer.email),
        ));
    }
    let phone = officer.phone.trim();
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    if !phone.starts_with("+62") || !(9..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "phone",
            format!("{:?} is not an Indonesian number in +62 form", officer.phone),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::{OfficerRole, Verification};

    fn seed() -> Directory {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/seed");
        Directory::load(&dir).expect("seed loads")
    }

    fn skpd(code: &str) -> Skpd {
        Skpd {
            code: code.into(),
            name: "Dinas Pemuda dan Olahraga".into(),
            verification_desk: false,
            instansi: Some("pemprov-kalsel".into()),
            sub_units: vec!["Bidang Keolahragaan".into()],
        }
    }

    fn officer(id: &str, skpd: &str) -> Officer {
        Officer {
            id: id.into(),
            name: "Petugas Contoh".into(),
            skpd: skpd.into(),
            role: OfficerRole::Penghubung,
            email: "penghubung@dispora.example.id".into(),
            phone: "+6281200009999".into(),
            sub_unit: None,
        }
    }

    #[test]
    fn an_skpd_its_officer_and_a_rule_build_on_each_other() {
        let (d, before) = DirectoryEdit::PutSkpd(skpd("dispora")).apply(&seed()).expect("skpd");
        assert!(before.is_none());
        let (d, _) = DirectoryEdit::PutOfficer(officer("dispora-penghubung", "dispora"))
            .apply(&d)
            .expect("officer");
        let (d, _) = DirectoryEdit::PutCategory(Category {
            code: "pemuda-olahraga".into(),
            name: "Pemuda dan Olahraga".into(),
            verification: Some(Verification::Automatic),
        })
        .apply(&d)
        .expect("category");
        let rule = RoutingRule {
            category: "pemuda-olahraga".into(),
            kabupaten: "*".into(),
            skpd: "dispora".into(),
            priority: 0,
        };
        let (d, _) = DirectoryEdit::PutRule(rule.clone()).apply(&d).expect("rule");
        assert_eq!(
            crate::routing_rules::dispose(&d, "pemuda-olahraga", "6301").skpd_code,
            "dispora"
        );
        let (d, before) = DirectoryEdit::RemoveRule {
            category: rule.category.clone(),
            kabupaten: "*".into(),
        }
        .apply(&d)
        .expect("removed");
        assert_eq!(before, Some(Before::Rule(rule)));
        assert_eq!(
            crate::routing_rules::dispose(&d, "pemuda-olahraga", "6301").reason,
            "fallback"
        );
    }

    #[test]
    fn putting_an_existing_entry_replaces_it_and_reports_what_was_there() {
        let seed = seed();
        let mut renamed = seed.skpd("dinkes").expect("dinkes").clone();
        renamed.name = "Dinas Kesehatan Provinsi".into();
        let (d, before) = DirectoryEdit::PutSkpd(renamed.clone()).apply(&seed).expect("renamed");
        assert_eq!(before, Some(Before::Skpd(seed.skpd("dinkes").expect("dinkes").clone())));
        assert_eq!(d.skpd("dinkes"), Some(&renamed));
        assert_eq!(d.skpds.len(), seed.skpds.len());
    }

    #[test]
    fn dangling_references_are_refused_and_nothing_changes() {
        let seed = seed();
        let refusals = [
            DirectoryEdit::PutOfficer(officer("x", "no-such-skpd")),
            DirectoryEdit::PutRule(RoutingRule {
                category: "kesehatan".into(),
                kabupaten: "*".into(),
                skpd: "no-such-skpd".into(),
                priority: 0,
            }),
            DirectoryEdit::PutRule(RoutingRule {
                category: "no-such-category".into(),
                kabupaten: "*".into(),
                skpd: "dinkes".into(),
                priority: 0,
            }),
            DirectoryEdit::PutRule(RoutingRule {
                category: "kesehatan".into(),
                kabupaten: "9999".into(),
                skpd: "dinkes".into(),
                priority: 0,
            }),
            DirectoryEdit::PutCategory(Category {
                code: "no-parent.child".into(),
                name: "Orphan".into(),
                verification: None,
            }),
            DirectoryEdit::PutSkpd(Skpd {
                instansi: Some("no-such-instansi".into()),
                ..skpd("dispora")
            }),
            DirectoryEdit::PutSkpd(skpd("Bad Code")),
            DirectoryEdit::PutSkpd(Skpd {
                name: " ".into(),
                ..skpd("dispora")
            }),
            DirectoryEdit::PutOfficer(Officer {
                sub_unit: Some("Bidang Yang Tidak Ada".into()),
                ..officer("dinkes-baru", "dinkes")
            }),
            DirectoryEdit::PutOfficer(Officer {
                email: "not-an-address".into(),
                ..officer("dinkes-baru", "dinkes")
            }),
            DirectoryEdit::PutOfficer(Officer {
                phone: "0812".into(),
                ..officer("dinkes-baru", "dinkes")
            }),
            DirectoryEdit::PutCategory(Category {
                code: "Kesehatan".into(),
                name: "Upper".into(),
                verification: None,
            }),
            DirectoryEdit::RemoveOfficer { id: "nobody".into() },
            DirectoryEdit::PutOfficer(officer("Not An Id", "dinkes")),
            DirectoryEdit::PutOfficer(officer("reporter", "dinkes")),
            DirectoryEdit::PutSkpd(Skpd {
                sub_units: vec!["Bidang A".into(), "bidang a".into()],
                ..skpd("dispora")
            }),
            DirectoryEdit::PutSkpd(Skpd {
                sub_units: vec!["Bidang\u{202e}A".into()],
                ..skpd("dispora")
            }),
            DirectoryEdit::PutCategory(Category {
                code: "baru".into(),
                name: "x".repeat(201),
                verification: None,
            }),
            DirectoryEdit::RemoveRule {
                category: "kesehatan".into(),
                kabupaten: "6301".into(),
            },
        ];
        for edit in refusals {
            assert!(edit.apply(&seed).is_err(), "{edit:?} should be refused");
        }
    }

    #[test]
    fn the_verification_desk_stays_where_it_is() {
        let seed = seed();
        let mut desk = skpd("dispora");
        desk.verification_desk = true;
        assert!(DirectoryEdit::PutSkpd(desk).apply(&seed).is_err());
        let mut demoted = seed.skpd("diskominfo").expect("desk").clone();
        demoted.verification_desk = false;
        assert!(DirectoryEdit::PutSkpd(demoted).apply(&seed).is_err());
        let mut renamed = seed.skpd("diskominfo").expect("desk").clone();
        renamed.name = "Diskominfo Kalsel".into();
        assert!(DirectoryEdit::PutSkpd(renamed).apply(&seed).is_ok());
    }

    #[test]
    fn the_directory_round_trips_through_json() {
        let seed = seed();
        let json = serde_json::to_string(&seed).expect("json");
        let back: Directory = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, seed);
    }
}
