//! `multipart/form-data` submissions: the JSON document in a part named `complaint`, files in
//! parts named `attachment`. Reading stops at the first file or byte over the limits, and a
//! file that is not a photo or PDF by its content is refused by name before anything is
//! stored (intake's gRPC layer checks the same again, as it does for every channel).

use super::{ApiFailure, MAX_BODY_BYTES, SubmitComplaint, failure, serde_field};
use crate::attachments::{self, AttachmentError, AttachmentSettings};
use axum::extract::{FromRequest, Multipart};
use axum::http::{HeaderMap, StatusCode, header};
use lapor_proto::intake::v1::AttachmentUpload;

pub fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/"))
}

fn limit_failure(error: &AttachmentError, index: Option<usize>) -> ApiFailure {
    let (status, code) = match error {
        AttachmentError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "attachments_too_large"),
        AttachmentError::TooMany { .. } => (StatusCode::BAD_REQUEST, "too_many_attachments"),
        AttachmentError::Empty { .. } => (StatusCode::BAD_REQUEST, "empty_attachment"),
        AttachmentError::Unsupported { .. } => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_attachment"),
    };
    failure(status, code, error.to_string(), Some(&error.field(index)))
}

fn malformed(error: axum::extract::multipart::MultipartError) -> ApiFailure {
    let status = error.status();
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "body_too_large"
    } else {
        "invalid_multipart"
    };
    failure(status, code, error.body_text(), None)
}

/// The submission and its files, or the first problem found.
pub async fn read(
    settings: &AttachmentSettings,
    request: axum::extract::Request,
) -> Result<(SubmitComplaint, Vec<AttachmentUpload>), ApiFailure> {
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|rejection| failure(rejection.status(), "invalid_multipart", rejection.body_text(), None))?;
    let mut document: Option<SubmitComplaint> = None;
    let mut uploads: Vec<AttachmentUpload> = Vec::new();
    let mut total = 0usize;
    while let Some(mut part) = form.next_field().await.map_err(malformed)? {
        match part.name().unwrap_or_default() {
            "complaint" => {
                if document.is_some() {
                    return Err(failure(
                        StatusCode::BAD_REQUEST,
                        "invalid_multipart",
                        "the complaint part appears twice",
                        Some("complaint"),
                    ));
                }
                let mut json = Vec::new();
                while let Some(chunk) = part.chunk().await.map_err(malformed)? {
                    if json.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(failure(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "body_too_large",
                            format!("the complaint part is larger than {MAX_BODY_BYTES} bytes"),
                            Some("complaint"),
                        ));
                    }
                    json.extend_from_slice(&chunk);
                }
                let parsed = serde_json::from_slice(&json).map_err(|error| {
                    let text = format!("the complaint part: {error}");
                    let field = serde_field(&text).unwrap_or("complaint").to_owned();
                    failure(StatusCode::BAD_REQUEST, "invalid_json", text, Some(&field))
                })?;
                document = Some(parsed);
            }
            "attachment" => {
                let index = uploads.len();
                let filename = part.file_name().unwrap_or_default().to_owned();
                let mut data = Vec::new();
                while let Some(chunk) = part.chunk().await.map_err(malformed)? {
                    total += chunk.len();
                    attachments::check_running_total(settings, index + 1, total)
                        .map_err(|error| limit_failure(&error, None))?;
                    data.extend_from_slice(&chunk);
                }
                attachments::check_running_total(settings, index + 1, total)
                    .map_err(|error| limit_failure(&error, None))?;
                let filename_shown = attachments::clean_filename(&filename, index);
                if data.is_empty() {
                    let error = AttachmentError::Empty {
                        filename: filename_shown,
                    };
                    return Err(limit_failure(&error, Some(index)));
                }
                if attachments::sniff(&data).is_none() {
                    let error = AttachmentError::Unsupported {
                        filename: filename_shown,
                    };
                    return Err(limit_failure(&error, Some(index)));
                }
                uploads.push(AttachmentUpload { filename, data });
            }
            other => {
                return Err(failure(
                    StatusCode::BAD_REQUEST,
                    "invalid_multipart",
                    format!("unexpected part {other:?}: expected complaint and attachment parts"),
                    None,
                ));
            }
        }
    }
    let document = document.ok_or_else(|| {
        failure(
            StatusCode::BAD_REQUEST,
            "invalid_multipart",
            "no complaint part: send the submission as JSON in a part named complaint",
            Some("complaint"),
        )
    })?;
    Ok((document, uploads))
}
