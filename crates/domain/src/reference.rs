//! Reference data loaded from `deploy/seed/*.toml` and checked for consistency.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("failed to read seed file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("failed to parse seed file {path}: {source}")]
    Parse { path: String, source: Box<toml::de::Error> },
    #[error("inconsistent seed data: {0}")]
    Inconsistent(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Province {
    pub code: String,
    pub name: String,
    pub timezone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Kabupaten {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Skpd {
    pub code: String,
    pub name: String,
    /// The provincial verification desk receives what no routing rule matches.
    #[serde(default)]
    pub verification_desk: bool,
    /// The instansi (government body) the SKPD belongs to; unset: the province's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instansi: Option<String>,
    /// The sub-units (bidang/seksi) a koordinator disposes to. Empty: not managed here, and
    /// any name is taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_units: Vec<String>,
}

/// A government body above SKPDs: the province itself, a kabupaten/kota government, or a
/// vertical agency that "bukan wewenang" cases are passed to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Instansi {
    pub code: String,
    pub name: String,
}

/// How a new complaint in a category reaches an SKPD.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Verification {
    /// An admin verifies and disposes it (LAPOR!'s default).
    Manual,
    /// Disposed straight away when a routing rule matches; otherwise verified manually.
    Automatic,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Category {
    pub code: String,
    pub name: String,
    /// Unset: as the parent category; unset at the top: manual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoutingRule {
    /// Category code; matches that category and its children.
    pub category: String,
    /// Kabupaten/kota code or `*`.
    pub kabupaten: String,
    pub skpd: String,
    #[serde(default)]
    pub priority: i32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum OfficerRole {
    Admin,
    Koordinator,
    Penghubung,
    Kepala,
    Pimpinan,
}

impl OfficerRole {
    pub const ALL: [OfficerRole; 5] = [
        OfficerRole::Admin,
        OfficerRole::Koordinator,
        OfficerRole::Penghubung,
        OfficerRole::Kepala,
        OfficerRole::Pimpinan,
    ];

    pub fn parse(text: &str) -> Option<OfficerRole> {
        OfficerRole::ALL.into_iter().find(|role| role.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OfficerRole::Admin => "admin",
            OfficerRole::Koordinator => "koordinator",
            OfficerRole::Penghubung => "penghubung",
            OfficerRole::Kepala => "kepala",
            OfficerRole::Pimpinan => "pimpinan",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Officer {
    pub id: String,
    pub name: String,
    pub skpd: String,
    pub role: OfficerRole,
    pub email: String,
    pub phone: String,
    /// The sub-unit (bidang/seksi) an officer works in, by the name koordinators dispose
    /// to; `None` for the SKPD-level officers who receive every assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_unit: Option<String>,
}

/// Everything in `deploy/seed/`, validated: the first version of the directory, which
/// routing then keeps and admins change (`directory_edit`). Its JSON form (serde) is what
/// routing stores and `directory.changed` carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Directory {
    pub province: Province,
    pub kabupaten: Vec<Kabupaten>,
    #[serde(default)]
    pub instansi: Vec<Instansi>,
    pub skpds: Vec<Skpd>,
    pub categories: Vec<Category>,
    pub rules: Vec<RoutingRule>,
    pub officers: Vec<Officer>,
}

#[derive(Deserialize)]
struct KabupatenFile {
    province: Province,
    kabupaten: Vec<Kabupaten>,
}
#[derive(Deserialize)]
struct SkpdFile {
    #[serde(default)]
    instansi: Vec<Instansi>,
    skpd: Vec<Skpd>,
}
#[derive(Deserialize)]
struct CategoryFile {
    category: Vec<Category>,
}
#[derive(Deserialize)]
struct RuleFile {
    rule: Vec<RoutingRule>,
}
#[derive(Deserialize)]
struct OfficerFile {
    officer: Vec<Officer>,
}

fn read_toml<T: for<'de> Deserialize<'de>>(dir: &Path, name: &str) -> Result<T, ReferenceError> {
    let path = dir.join(name);
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|source| ReferenceError::Read {
        path: shown.clone(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ReferenceError::Parse {
        path: shown,
        source: Box::new(source),
    })
}

/// SKPD codes end up in queue names and routing keys.
pub fn is_valid_skpd_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 32
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Directory {
    pub fn load(dir: &Path) -> Result<Self, ReferenceError> {
        let kabupaten: KabupatenFile = read_toml(dir, "kabupaten.toml")?;
        let skpds: SkpdFile = read_toml(dir, "skpd.toml")?;
        let categories: CategoryFile = read_toml(dir, "categories.toml")?;
        let rules: RuleFile = read_toml(dir, "routing_rules.toml")?;
        let officers: OfficerFile = read_toml(dir, "officers.toml")?;
        let directory = Directory {
            province: kabupaten.province,
            kabupaten: kabupaten.kabupaten,
            instansi: skpds.instansi,
            skpds: skpds.skpd,
            categories: categories.category,
            rules: rules.rule,
            officers: officers.officer,
        };
        directory.check()?;
        Ok(directory)
    }

    /// Every reference resolves and every code is well formed; what an edit must keep true.
    pub fn check(&self) -> Result<(), ReferenceError> {
        let bad = |msg: String| Err(ReferenceError::Inconsistent(msg));
        let mut instansi_codes = HashSet::new();
        for instansi in &self.instansi {
            if !is_valid_skpd_code(&instansi.code) {
                return bad(format!("instansi code {:?} is not lowercase [a-z0-9-]", instansi.code));
            }
            if !instansi_codes.insert(instansi.code.as_str()) {
                return bad(format!("duplicate instansi code {:?}", instansi.code));
            }
        }
        let mut skpd_codes = HashSet::new();
        for skpd in &self.skpds {
            if !is_valid_skpd_code(&skpd.code) {
                return bad(format!("skpd code {:?} is not lowercase [a-z0-9-]", skpd.code));
            }
            if !skpd_codes.insert(skpd.code.as_str()) {
                return bad(format!("duplicate skpd code {:?}", skpd.code));
            }
            if let Some(instansi) = &skpd.instansi
                && !instansi_codes.contains(instansi.as_str())
            {
                return bad(format!("skpd {:?} names unknown instansi {instansi:?}", skpd.code));
            }
            // Dispositions name a sub-unit in any letter case.
            let distinct: HashSet<_> = skpd.sub_units.iter().map(|s| s.to_lowercase()).collect();
            if distinct.len() != skpd.sub_units.len() {
                return bad(format!("skpd {:?} lists a sub-unit twice", skpd.code));
            }
        }
        if self.skpds.iter().filter(|s| s.verification_desk).count() != 1 {
            return bad("exactly one skpd must be the verification desk".into());
        }
        let category_codes: HashSet<_> = self.categories.iter().map(|c| c.code.as_str()).collect();
        if category_codes.len() != self.categories.len() {
            return bad("duplicate category code".into());
        }
        for category in &self.categories {
            if let Some((parent, _)) = category.code.rsplit_once('.')
                && !category_codes.contains(parent)
            {
                return bad(format!("category {:?} has no parent {parent:?}", category.code));
            }
        }
        let kabupaten_codes: HashSet<_> = self.kabupaten.iter().map(|k| k.code.as_str()).collect();
        for rule in &self.rules {
            if !category_codes.contains(rule.category.as_str()) {
                return bad(format!("rule names unknown category {:?}", rule.category));
            }
            if rule.kabupaten != "*" && !kabupaten_codes.contains(rule.kabupaten.as_str()) {
                return bad(format!("rule names unknown kabupaten {:?}", rule.kabupaten));
            }
            if !skpd_codes.contains(rule.skpd.as_str()) {
                return bad(format!("rule names unknown skpd {:?}", rule.skpd));
            }
        }
        let mut officer_ids = HashSet::new();
        for officer in &self.officers {
            if !skpd_codes.contains(officer.skpd.as_str()) {
                return bad(format!("officer {:?} names unknown skpd", officer.id));
            }
            if !officer_ids.insert(officer.id.as_str()) {
                return bad(format!("duplicate officer id {:?}", officer.id));
            }
            if let (Some(sub_unit), Some(skpd)) = (&officer.sub_unit, self.skpd(&officer.skpd))
                && !skpd.sub_units.is_empty()
                && !skpd.sub_units.contains(sub_unit)
            {
                return bad(format!(
                    "officer {:?} names sub-unit {sub_unit:?}, which {:?} does not have",
                    officer.id, officer.skpd
                ));
            }
        }
        Ok(())
    }

    pub fn skpd(&self, code: &str) -> Option<&Skpd> {
        self.skpds.iter().find(|s| s.code == code)
    }

    pub fn verification_desk(&self) -> &Skpd {
        // `check` guarantees exactly one.
        self.skpds
            .iter()
            .find(|s| s.verification_desk)
            .unwrap_or(&self.skpds[0])
    }

    pub fn has_category(&self, code: &str) -> bool {
        self.categories.iter().any(|c| c.code == code)
    }

    /// The category's own setting, else its nearest ancestor's, else manual.
    pub fn verification_of(&self, category: &str) -> Verification {
        let mut code = category;
        loop {
            if let Some(setting) = self
                .categories
                .iter()
                .find(|c| c.code == code)
                .and_then(|c| c.verification)
            {
                return setting;
            }
            match code.rsplit_once('.') {
                Some((parent, _)) => code = parent,
                None => return Verification::Manual,
            }
        }
    }

    pub fn has_kabupaten(&self, code: &str) -> bool {
        self.kabupaten.iter().any(|k| k.code == code)
    }

    pub fn officers_of(&self, skpd: &str, role: OfficerRole) -> impl Iterator<Item = &Officer> {
        let skpd = skpd.to_owned();
        self.officers.iter().filter(move |o| o.skpd == skpd && o.role == role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn seed_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/seed")
    }

    #[test]
    fn kalsel_seed_is_consistent_and_complete() {
        let directory = Directory::load(&seed_dir()).expect("seed loads");
        assert_eq!(directory.kabupaten.len(), 13);
        assert!(directory.skpds.len() >= 15);
        assert_eq!(directory.verification_desk().code, "diskominfo");
        for skpd in &directory.skpds {
            assert!(
                directory.officers_of(&skpd.code, OfficerRole::Penghubung).count() >= 1,
                "{} has no penghubung",
                skpd.code
            );
        }
    }

    #[test]
    fn verification_is_inherited_and_manual_by_default() {
        let directory = Directory::load(&seed_dir()).expect("seed loads");
        assert_eq!(directory.verification_of("kesehatan.jkn"), Verification::Automatic);
        assert_eq!(directory.verification_of("lainnya"), Verification::Manual);
        assert_eq!(directory.verification_of("no-such-category"), Verification::Manual);
    }

    #[test]
    fn skpd_codes_must_be_queue_safe() {
        assert!(is_valid_skpd_code("rsud-ulin"));
        assert!(!is_valid_skpd_code("Dinkes"));
        assert!(!is_valid_skpd_code("din.kes"));
        assert!(!is_valid_skpd_code(""));
    }
}
