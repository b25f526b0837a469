//! Choosing the SKPD for a complaint from category × kabupaten/kota rules.

use crate::reference::{Directory, RoutingRule};

/// Where a complaint goes and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disposition {
    pub skpd_code: String,
    /// `rule:<category>@<kabupaten>` or `fallback`.
    pub reason: String,
}

fn category_matches(rule_category: &str, category: &str) -> bool {
    category == rule_category
        || category
            .strip_prefix(rule_category)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Specificity: exact kabupaten beats `*`, then a longer (deeper) category, then priority.
fn rank(rule: &RoutingRule) -> (bool, usize, i32) {
    (rule.kabupaten != "*", rule.category.len(), rule.priority)
}

pub fn dispose(directory: &Directory, category: &str, kabupaten: &str) -> Disposition {
    directory
        .rules
        .iter()
        .filter(|r| category_matches(&r.category, category))
        .filter(|r| r.kabupaten == "*" || r.kabupaten == kabupaten)
        .max_by_key(|r| rank(r))
        .map(|r| Disposition {
            skpd_code: r.skpd.clone(),
            reason: format!("rule:{}@{}", r.category, r.kabupaten),
        })
        .unwrap_or_else(|| Disposition {
            skpd_code: directory.verification_desk().code.clone(),
            reason: "fallback".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Directory;

    fn directory() -> Directory {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/seed");
        Directory::load(&dir).expect("seed loads")
    }

    #[test]
    fn child_category_follows_parent_rule() {
        let d = dispose(&directory(), "kesehatan.jkn", "6303");
        assert_eq!(d.skpd_code, "dinkes");
        assert_eq!(d.reason, "rule:kesehatan@*");
    }

    #[test]
    fn kabupaten_specific_rule_wins() {
        assert_eq!(
            dispose(&directory(), "kesehatan.rumah-sakit", "6371").skpd_code,
            "rsud-ulin"
        );
        assert_eq!(
            dispose(&directory(), "kesehatan.rumah-sakit", "6372").skpd_code,
            "dinkes"
        );
    }

    #[test]
    fn deeper_category_beats_parent() {
        assert_eq!(
            dispose(&directory(), "sosial.perlindungan-anak", "6301").skpd_code,
            "dp3a"
        );
        assert_eq!(dispose(&directory(), "sosial.bansos", "6301").skpd_code, "dinsos");
    }

    #[test]
    fn unmatched_goes_to_verification_desk() {
        let d = dispose(&directory(), "lainnya", "6301");
        assert_eq!(d.skpd_code, "diskominfo");
        assert_eq!(d.reason, "fallback");
    }

    #[test]
    fn prefix_is_not_a_parent() {
        assert!(!category_matches("sosial", "sosialita"));
        assert!(category_matches("sosial", "sosial.bansos"));
    }
}
