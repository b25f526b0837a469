//! The PII vault: reporter identity encrypted at rest with ChaCha20-Poly1305 (RustCrypto's
//! audited AEAD). The key id is stored with each row so keys can be rotated.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng};
use chacha20poly1305::{AeadCore, ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("vault key must be 32 bytes in standard base64")]
    BadKey,
    #[error("encryption failed")]
    Encrypt,
    #[error("decryption failed (wrong key or tampered row)")]
    Decrypt,
    #[error("row was sealed with unknown key id {0:?}")]
    UnknownKey(String),
}

/// Contact details as the reporter gave them (validated and normalised).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// Absent in records sealed before NIKs were taken.
    #[serde(default)]
    pub nik: Option<String>,
}

pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

pub struct Vault {
    key_id: String,
    cipher: ChaCha20Poly1305,
    /// The key itself, only to derive purpose-bound keys from (HMAC, never reused as is).
    secret: [u8; 32],
}

impl Vault {
    pub fn new(key_id: &str, key_base64: &str) -> Result<Self, VaultError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key_base64.trim())
            .map_err(|_| VaultError::BadKey)?;
        if bytes.len() != 32 {
            return Err(VaultError::BadKey);
        }
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&bytes);
        Ok(Self {
            key_id: key_id.to_owned(),
            cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)),
            secret,
        })
    }

    /// A key for another purpose, derived from the vault key: HMAC-SHA256(key, purpose).
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn seal(&self, identity: &Identity) -> Result<Sealed, VaultError> {
        let plaintext = serde_json::to_vec(identity).map_err(|_| VaultError::Encrypt)?;
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_slice())
            .map_err(|_| VaultError::Encrypt)?;
        Ok(Sealed {
            key_id: self.key_id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    pub fn open(&self, sealed: &Sealed) -> Result<Identity, VaultError> {
        if sealed.key_id != self.key_id {
            return Err(VaultError::UnknownKey(sealed.key_id.clone()));
        }
        if sealed.nonce.len() != 12 {
            return Err(VaultError::Decrypt);
        }
        let plaintext = self
            .cipher
            .decrypt(Nonce::from_slice(&sealed.nonce), sealed.ciphertext.as_slice())
            .map_err(|_| VaultError::Decrypt)?;
        serde_json::from_slice(&plaintext).map_err(|_| VaultError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn seals_and_opens_without_plaintext_at_rest() {
        let vault = Vault::new("k1", KEY).expect("key");
        let identity = Identity {
            name: Some("Canary Reporter".into()),
            phone: Some("+6281234567890".into()),
            email: Some("canary@example.id".into()),
            nik: Some("6371035708850417".into()),
        };
        let sealed = vault.seal(&identity).expect("seal");
        let stored = String::from_utf8_lossy(&sealed.ciphertext);
        assert!(!stored.contains("Canary") && !stored.contains("6371035708850417"));
        assert_eq!(vault.open(&sealed).expect("open"), identity);
    }

    #[test]
    fn opens_records_sealed_before_niks_were_taken() {
        let vault = Vault::new("k1", KEY).expect("key");
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let old = br#"{"name":"Lama","phone":null,"email":null}"#;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(
            &base64::engine::general_purpose::STANDARD.decode(KEY).expect("key"),
        ));
        let sealed = Sealed {
            key_id: "k1".into(),
            nonce: nonce.to_vec(),
            ciphertext: cipher.encrypt(&nonce, old.as_slice()).expect("encrypt"),
        };
        let identity = vault.open(&sealed).expect("open");
        assert_eq!((identity.name.as_deref(), identity.nik), (Some("Lama"), None));
    }

    #[test]
    fn rejects_tampering_and_bad_keys() {
        let vault = Vault::new("k1", KEY).expect("key");
        let mut sealed = vault.seal(&Identity::default()).expect("seal");
        sealed.ciphertext[0] ^= 1;
        assert!(matches!(vault.open(&sealed), Err(VaultError::Decrypt)));
        assert!(matches!(Vault::new("k1", "c2hvcnQ="), Err(VaultError::BadKey)));
    }
}
