//! Tracking ids: short enough to type from an SMS, free of look-alike characters, random.

use rand::Rng;

/// 30 characters: digits 2-9 and A-Z without I, L, O (look like 1 and 0) and U.
/// 10 characters give 30^10 ≈ 5.9e14 ids, so guessing one is hopeless at any rate limit.
pub const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const LENGTH: usize = 10;

pub fn generate() -> String {
    let mut rng = rand::rng();
    (0..LENGTH)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Accepts what people type: lower case, spaces and dashes are forgiven.
pub fn normalize(input: &str) -> Option<String> {
    let id: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (id.len() == LENGTH && id.bytes().all(|b| ALPHABET.contains(&b))).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let ids: HashSet<String> = (0..10_000).map(|_| generate()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in &ids {
            assert_eq!(normalize(id).as_deref(), Some(id.as_str()));
        }
    }

    #[test]
    fn normalize_forgives_case_and_separators() {
        assert_eq!(normalize("ab3d-ef7h 9k").as_deref(), Some("AB3DEF7H9K"));
        assert_eq!(normalize("AB3DEF7H9"), None);
        assert_eq!(normalize("AB3DEF7H90"), None, "0 is not in the alphabet");
        assert_eq!(normalize("AB3DEF7H9I"), None, "I is not in the alphabet");
    }
}
