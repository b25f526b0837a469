//! Files a reporter attaches to a submission: photos and PDFs only, recognised by their
//! content (magic numbers, the `infer` crate), never by file name or declared type; at most
//! `max_files` of them and `max_total_bytes` together.
//!
//! The bytes go through `object_store` (a local directory by default, S3-compatible storage
//! in production) under `complaints/<complaint id>/<attachment id>`. They are written before
//! the submission's transaction, which then records them: an accepted complaint never names
//! a missing file, and a failed transaction leaves at worst an unreferenced object, which is
//! deleted at once when possible. Officers read them only through routing, which checks that
//! they may read the case and then asks intake's internal `Attachments` RPC.

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

use lapor_domain::submission::ATTACHMENT_TYPES;
use lapor_proto::events::v1::AttachmentRef;
/// Longest file name kept (characters); longer names are cut.
const MAX_FILENAME_CHARS: usize = 120;

#[derive(Debug, Clone, Deserialize)]
pub struct AttachmentSettings {
    /// A directory (created if missing), `file:///abs/path`, or `s3://bucket/prefix`.
    pub store: String,
    /// Settings of an S3-compatible store (`aws_endpoint`, `aws_region`, `aws_access_key_id`,
    /// `aws_secret_access_key`, `aws_allow_http`): `LAPOR__ATTACHMENTS__OPTIONS__AWS_ENDPOINT`…
    #[serde(default)]
    pub options: HashMap<String, String>,
    pub max_files: usize,
    pub max_total_bytes: usize,
    /// Submissions with files read at once per replica: each holds up to `max_total_bytes`
    /// in memory, so this bounds what uploads can take (the pod's memory limit allows for it).
    #[serde(default = "default_concurrent_uploads")]
    pub concurrent_uploads: usize,
}

fn default_concurrent_uploads() -> usize {
    4
}

/// How long an upload waits for a slot before it is told to come back (503).
const UPLOAD_SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error("at most {max} files may be attached")]
    TooMany { max: usize },
    #[error("attachments may total at most {max} bytes")]
    TooLarge { max: usize },
    #[error("{filename:?} is empty")]
    Empty { filename: String },
    #[error("{filename:?} is not a photo (JPEG, PNG, WebP, GIF) or a PDF by its content")]
    Unsupported { filename: String },
}

impl AttachmentError {
    /// The field to name in the error: `attachments` or `attachments[<index>]`.
    pub fn field(&self, index: Option<usize>) -> String {
        match (self, index) {
            (AttachmentError::Empty { .. } | AttachmentError::Unsupported { .. }, Some(i)) => {
                format!("attachments[{i}]")
            }
            _ => "attachments".to_owned(),
        }
    }
}

/// A file as a channel received it.
#[derive(Debug, Clone)]
pub struct Upload {
    pub filename: String,
    pub data: Bytes,
}

/// A file that passed the checks, ready to store.
#[derive(Debug, Clone)]
pub struct Checked {
    pub id: Uuid,
    pub filename: String,
    pub content_type: &'static str,
    pub sha256: String,
    pub data: Bytes,
}

/// The type the content shows, if it is one we take.
pub fn sniff(data: &[u8]) -> Option<&'static str> {
    let kind = infer::get(data)?;
    ATTACHMENT_TYPES
        .iter()
        .copied()
        .find(|allowed| *allowed == kind.mime_type())
}

/// Counts what a channel has received so far, so it can stop reading at the first file or
/// byte over the limit.
pub fn check_running_total(settings: &AttachmentSettings, files: usize, bytes: usize) -> Result<(), AttachmentError> {
    if files > settings.max_files {
        return Err(AttachmentError::TooMany {
            max: settings.max_files,
        });
    }
    if bytes > settings.max_total_bytes {
        return Err(AttachmentError::TooLarge {
            max: settings.max_total_bytes,
        });
    }
    Ok(())
}

/// Whether photos keep their metadata. An anonim reporter's lose it: EXIF and XMP can name
/// the phone's owner, its serial and where the picture was taken. Others keep it (the
/// position usually is the problem's, and the orientation tag keeps photos upright).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    Keep,
    Strip,
}

impl Metadata {
    pub fn for_report(anonim: bool) -> Metadata {
        if anonim { Metadata::Strip } else { Metadata::Keep }
    }
}

/// Checks every upload; the error carries the index of the file at fault.
pub fn check(
    settings: &AttachmentSettings,
    uploads: Vec<Upload>,
    metadata: Metadata,
) -> Result<Vec<Checked>, (AttachmentError, Option<usize>)> {
    let total = uploads.iter().map(|u| u.data.len()).sum();
    check_running_total(settings, uploads.len(), total).map_err(|e| (e, None))?;
    uploads
        .into_iter()
        .enumerate()
        .map(|(index, upload)| {
            let filename = clean_filename(&upload.filename, index);
            if upload.data.is_empty() {
                return Err((AttachmentError::Empty { filename }, Some(index)));
            }
            let Some(content_type) = sniff(&upload.data) else {
                return Err((AttachmentError::Unsupported { filename }, Some(index)));
            };
            let data = match metadata {
                Metadata::Keep => upload.data,
                // A photo whose structure cannot be read cannot be cleaned: refused.
                Metadata::Strip => match without_metadata(content_type, upload.data) {
                    Some(data) => data,
                    None => return Err((AttachmentError::Unsupported { filename }, Some(index))),
                },
            };
            Ok(Checked {
                id: Uuid::new_v4(),
                filename,
                content_type,
                sha256: hex::encode(Sha256::digest(&data)),
                data,
            })
        })
        .collect()
}

/// The photo without EXIF, XMP, IPTC, comments and text chunks; pixels untouched (the
/// containers are rewritten, not the images re-encoded). GIF and PDF pass as they are.
fn without_metadata(content_type: &str, data: Bytes) -> Option<Bytes> {
    use img_parts::ImageEXIF;
    use img_parts::jpeg::{Jpeg, markers};
    match content_type {
        "image/jpeg" => {
            let mut jpeg = Jpeg::from_bytes(data).ok()?;
            // Kept: JFIF (APP0), the colour profile (APP2) and Adobe's colour transform (APP14).
            jpeg.segments_mut().retain(|s| {
                let marker = s.marker();
                let application = (markers::APP0..=markers::APP15).contains(&marker);
                let kept = matches!(marker, markers::APP0 | markers::APP2 | markers::APP14);
                (!application || kept) && marker != markers::COM
            });
            Some(jpeg.encoder().bytes())
        }
        "image/png" => {
            let mut png = img_parts::png::Png::from_bytes(data).ok()?;
            png.chunks_mut()
                .retain(|c| !matches!(&c.kind(), b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME"));
            Some(png.encoder().bytes())
        }
        "image/webp" => {
            let mut webp = img_parts::webp::WebP::from_bytes(data).ok()?;
            webp.set_exif(None);
            webp.remove_chunks_by_id(*b"XMP ");
            Some(webp.encoder().bytes())
        }
        _ => Some(data),
    }
}

/// The last path component, without control or bidi characters, at most 120 characters;
/// `lampiran-<n>` when nothing is left. Only for showing: storage keys are ids.
pub fn clean_filename(raw: &str, index: usize) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !lapor_domain::submission::is_bidi_control(*c))
        .take(MAX_FILENAME_CHARS)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        format!("lampiran-{}", index + 1)
    } else {
        cleaned
    }
}

/// Where attachments live.
pub struct AttachmentStore {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    pub settings: AttachmentSettings,
    uploads: Arc<tokio::sync::Semaphore>,
}

impl AttachmentStore {
    pub fn open(settings: &AttachmentSettings) -> anyhow::Result<AttachmentStore> {
        let (store, prefix): (Arc<dyn ObjectStore>, ObjectPath) =
            if settings.store.contains("://") && !settings.store.starts_with("file://") {
                let url = url::Url::parse(&settings.store)?;
                let (store, prefix) = object_store::parse_url_opts(&url, settings.options.iter())?;
                (Arc::from(store), prefix)
            } else {
                let dir = settings.store.trim_start_matches("file://");
                std::fs::create_dir_all(dir)?;
                // fsync: an accepted submission's files must survive a power cut like its row.
                let local = object_store::local::LocalFileSystem::new_with_prefix(dir)?
                    .with_fsync(true)
                    .with_automatic_cleanup(true);
                (Arc::new(local), ObjectPath::default())
            };
        Ok(AttachmentStore {
            store,
            prefix,
            settings: settings.clone(),
            uploads: Arc::new(tokio::sync::Semaphore::new(settings.concurrent_uploads.max(1))),
        })
    }

    /// A slot to read one submission's files in, or `None` when all stayed busy for a while.
    pub async fn upload_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        tokio::time::timeout(UPLOAD_SLOT_WAIT, self.uploads.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }

    fn key(&self, complaint_id: Uuid, attachment_id: Uuid) -> ObjectPath {
        self.prefix
            .clone()
            .join("complaints")
            .join(complaint_id.to_string())
            .join(attachment_id.to_string())
    }

    /// Writes every file; on a failure removes the ones written.
    pub async fn put_all(&self, complaint_id: Uuid, files: &[Checked]) -> Result<(), object_store::Error> {
        for (written, file) in files.iter().enumerate() {
            let key = self.key(complaint_id, file.id);
            if let Err(error) = self.store.put(&key, PutPayload::from_bytes(file.data.clone())).await {
                self.delete_all(complaint_id, &files[..written]).await;
                return Err(error);
            }
        }
        Ok(())
    }

    /// Best effort: an object left behind is unreferenced, never shown.
    pub async fn delete_all(&self, complaint_id: Uuid, files: &[Checked]) {
        for file in files {
            if let Err(error) = self.store.delete(&self.key(complaint_id, file.id)).await {
                tracing::warn!(%error, attachment = %file.id, "unreferenced attachment left in the store");
            }
        }
    }

    /// The stored bytes, as a stream of chunks.
    pub async fn read(
        &self,
        complaint_id: Uuid,
        attachment_id: Uuid,
    ) -> Result<futures::stream::BoxStream<'static, Result<Bytes, object_store::Error>>, object_store::Error> {
        Ok(self
            .store
            .get(&self.key(complaint_id, attachment_id))
            .await?
            .into_stream())
    }
}

/// Rows for `files`, numbered from `first_position`, inside the caller's transaction; the
/// references events and routing carry.
pub async fn record(
    txn: &impl sea_orm::ConnectionTrait,
    complaint_id: Uuid,
    first_position: usize,
    files: &[Checked],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<AttachmentRef>, sea_orm::DbErr> {
    use sea_orm::{ActiveModelTrait, Set};
    let mut refs = Vec::with_capacity(files.len());
    for (offset, file) in files.iter().enumerate() {
        let position = i16::try_from(first_position + offset)
            .map_err(|_| sea_orm::DbErr::Custom("too many attachments on one complaint".into()))?;
        crate::entity::attachment::ActiveModel {
            id: Set(file.id),
            complaint_id: Set(complaint_id),
            position: Set(position),
            filename: Set(file.filename.clone()),
            content_type: Set(file.content_type.to_owned()),
            size_bytes: Set(file.data.len() as i64),
            sha256: Set(file.sha256.clone()),
            created_at: Set(at),
        }
        .insert(txn)
        .await?;
        refs.push(AttachmentRef {
            id: file.id.to_string(),
            filename: file.filename.clone(),
            content_type: file.content_type.to_owned(),
            size_bytes: file.data.len() as i64,
        });
    }
    Ok(refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AttachmentSettings {
        AttachmentSettings {
            store: String::new(),
            options: HashMap::new(),
            max_files: 2,
            max_total_bytes: 100,
            concurrent_uploads: 1,
        }
    }

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

    fn upload(name: &str, data: &[u8]) -> Upload {
        Upload {
            filename: name.into(),
            data: Bytes::copy_from_slice(data),
        }
    }

    #[test]
    fn content_decides_the_type_not_the_name() {
        assert_eq!(sniff(PNG), Some("image/png"));
        assert_eq!(sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"), Some("application/pdf"));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF\0"), Some("image/jpeg"));
        // A Windows program, an HTML page, an SVG and a ZIP are refused whatever their name.
        assert_eq!(sniff(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0"), None);
        assert_eq!(sniff(b"<html><script>alert(1)</script></html>"), None);
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>"), None);
        assert_eq!(sniff(b"PK\x03\x04\x14\0\0\0\x08\0"), None);
        let forged = check(
            &settings(),
            vec![upload("foto.jpg", b"MZ\x90\0\x03\0\0\0")],
            Metadata::Keep,
        );
        assert!(matches!(forged, Err((AttachmentError::Unsupported { .. }, Some(0)))));
    }

    #[test]
    fn limits_count_files_and_bytes() {
        let three = vec![upload("a.png", PNG), upload("b.png", PNG), upload("c.png", PNG)];
        assert!(matches!(
            check(&settings(), three, Metadata::Keep),
            Err((AttachmentError::TooMany { max: 2 }, None))
        ));
        let mut big = PNG.to_vec();
        big.resize(101, 0);
        assert!(matches!(
            check(&settings(), vec![upload("a.png", &big)], Metadata::Keep),
            Err((AttachmentError::TooLarge { max: 100 }, None))
        ));
        assert!(matches!(
            check(
                &settings(),
                vec![upload("a.png", PNG), upload("kosong.png", b"")],
                Metadata::Keep
            ),
            Err((AttachmentError::Empty { .. }, Some(1)))
        ));
        let ok = check(&settings(), vec![upload("a.png", PNG)], Metadata::Keep).expect("a PNG passes");
        assert_eq!(ok[0].content_type, "image/png");
        assert_eq!(ok[0].sha256.len(), 64);
    }

    /// A JPEG as phones write it: JFIF, EXIF with a position, XMP, a comment, then the image.
    fn jpeg_with_metadata() -> Vec<u8> {
        let segment = |marker: u8, body: &[u8]| {
            let mut s = vec![0xFF, marker];
            s.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
            s.extend_from_slice(body);
            s
        };
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend(segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
        jpeg.extend(segment(0xE1, b"Exif\0\0GPS -3.3194 114.5908 OWNER Budi Santoso"));
        jpeg.extend(segment(
            0xE1,
            b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>Budi</x:xmpmeta>",
        ));
        jpeg.extend(segment(0xFE, b"diambil oleh Budi"));
        jpeg.extend(segment(0xDB, &[0u8; 65]));
        jpeg.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        jpeg.extend_from_slice(&[0x12, 0x34, 0x56, 0xFF, 0xD9]);
        jpeg
    }

    #[test]
    fn an_anonim_reporters_photos_lose_their_metadata() {
        let original = jpeg_with_metadata();
        let roomy = AttachmentSettings {
            max_total_bytes: 10_000,
            ..settings()
        };
        let kept = check(&roomy, vec![upload("a.jpg", &original)], Metadata::Keep).expect("jpeg");
        assert_eq!(kept[0].data.as_ref(), original.as_slice());
        let stripped = check(&roomy, vec![upload("a.jpg", &original)], Metadata::Strip).expect("jpeg");
        let data = stripped[0].data.as_ref();
        let contains = |needle: &[u8]| data.windows(needle.len()).any(|w| w == needle);
        assert!(!contains(b"Budi") && !contains(b"GPS") && !contains(b"Exif"));
        assert!(contains(b"JFIF") && data.ends_with(&[0x12, 0x34, 0x56, 0xFF, 0xD9]));
        assert_eq!(stripped[0].content_type, "image/jpeg");
        // What cannot be read as a JPEG cannot be cleaned, so it is not taken.
        let mut broken = original.clone();
        broken.truncate(30);
        let refused = check(&roomy, vec![upload("rusak.jpg", &broken)], Metadata::Strip);
        assert!(matches!(refused, Err((AttachmentError::Unsupported { .. }, Some(0)))));
    }

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        assert_eq!(clean_filename("C:\\Users\\x\\jalan rusak.jpg", 0), "jalan rusak.jpg");
        assert_eq!(clean_filename("../../etc/passwd", 0), "passwd");
        assert_eq!(clean_filename("foto\u{202e}gpj.exe", 0), "fotogpj.exe");
        assert_eq!(clean_filename("\n\t", 2), "lampiran-3");
        assert_eq!(clean_filename(".htaccess", 0), "htaccess");
        assert_eq!(clean_filename(&"a".repeat(500), 0).chars().count(), 120);
    }
}
