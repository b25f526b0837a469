//! Access codes: the reporter's proof of authorship. Returned with the tracking id, needed
//! to answer, reply, object or rate, and to read the status of a rahasia report. A code is
//! HMAC-SHA256 of the complaint id under a key derived from the vault key, so nothing is
//! stored and a replayed submission gets the same code back. Rotating the vault key
//! re-issues every code (a reporter then asks the verification desk).

use hmac::{Hmac, Mac};
use lapor_domain::tracking_id::ALPHABET;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// 30^10 ≈ 5.9e14 codes, and every report answers a limited number of code checks an
/// hour (`limits.code_attempts_per_hour`) from all addresses together.
pub const LENGTH: usize = 10;

pub struct AccessCodes {
    key: [u8; 32],
}

impl AccessCodes {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    pub fn code(&self, complaint_id: Uuid) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(complaint_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        // 64 bits, read as base-30 digits: 30^8 is far below 2^64, so every code is as likely.
        let mut n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        let base = ALPHABET.len() as u64;
        (0..LENGTH)
            .map(|_| {
                let digit = (n % base) as usize;
                n /= base;
                ALPHABET[digit] as char
            })
            .collect()
    }

    /// Checks a presented code, counting the attempt against the report first.
    pub fn check(
        &self,
        limits: &crate::limits::Limits,
        complaint_id: Uuid,
        tracking_id: &str,
        presented: &str,
    ) -> Result<bool, crate::limits::Limited> {
        limits.check_code_attempt(tracking_id)?;
        Ok(self.verify(complaint_id, presented))
    }

    /// What people type is forgiven (case, spaces, dashes); the comparison runs on digests,
    /// so its timing says nothing about the code.
    pub fn verify(&self, complaint_id: Uuid, presented: &str) -> bool {
        let presented: String = presented
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        Sha256::digest(presented.as_bytes()) == Sha256::digest(self.code(complaint_id).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_per_complaint_and_key() {
        let codes = AccessCodes::new([7; 32]);
        let id = Uuid::now_v7();
        let code = codes.code(id);
        assert_eq!(code.len(), LENGTH);
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)));
        assert_eq!(code, codes.code(id));
        assert_ne!(code, codes.code(Uuid::now_v7()));
        assert_ne!(code, AccessCodes::new([8; 32]).code(id));
        assert!(codes.verify(id, &code));
        assert!(codes.verify(id, &format!("{}-{}", &code[..4], &code[4..]).to_lowercase()));
        assert!(!codes.verify(id, "22222222"));
        assert!(!codes.verify(id, ""));
    }
}
