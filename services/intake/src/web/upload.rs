//! The report form with files (`multipart/form-data`): text fields strictly UTF-8 and each
//! given once, as in the URL-encoded form; files from the `lampiran` input. Reading goes on
//! past a file over the limits (keeping no more of its bytes) so that the form can come back
//! with everything the citizen typed; the route's body limit bounds what that can cost.

use crate::attachments::{self, AttachmentError, AttachmentSettings, Upload};
use crate::params::Params;
use axum::extract::{FromRequest, Multipart};

/// The form's fields and files, and the first problem with the files if any.
pub struct UploadedForm {
    pub params: Params,
    pub uploads: Vec<Upload>,
    pub problem: Option<(AttachmentError, Option<usize>)>,
    /// The upload slot, held while the files are in memory (until the form is answered).
    pub slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// What stops the form from being read at all.
pub struct Unreadable {
    pub too_large: bool,
    pub message: String,
}

fn unreadable(error: impl std::fmt::Display, too_large: bool) -> Unreadable {
    Unreadable {
        too_large,
        message: error.to_string(),
    }
}

pub async fn read(settings: &AttachmentSettings, request: axum::extract::Request) -> Result<UploadedForm, Unreadable> {
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|rejection| unreadable(rejection.body_text(), false))?;
    let mut params = Params::default();
    let mut uploads: Vec<Upload> = Vec::new();
    let mut problem = None;
    let (mut text_bytes, mut file_bytes) = (0usize, 0usize);
    let broken = |e: axum::extract::multipart::MultipartError| {
        let too_large = e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE;
        unreadable(e.body_text(), too_large)
    };
    while let Some(mut part) = form.next_field().await.map_err(broken)? {
        let name = part.name().unwrap_or_default().to_owned();
        let file_name = part.file_name().map(str::to_owned);
        let mut data = Vec::new();
        let index = uploads.len();
        while let Some(chunk) = part.chunk().await.map_err(broken)? {
            match file_name {
                None => {
                    text_bytes += chunk.len();
                    if text_bytes > super::MAX_BODY_BYTES {
                        return Err(unreadable("the form's text is too long", true));
                    }
                    data.extend_from_slice(&chunk);
                }
                Some(_) if problem.is_some() => {}
                Some(_) => {
                    file_bytes += chunk.len();
                    match attachments::check_running_total(settings, index + 1, file_bytes) {
                        Ok(()) => data.extend_from_slice(&chunk),
                        Err(error) => problem = Some((error, None)),
                    }
                }
            }
        }
        match file_name {
            None => {
                let value =
                    String::from_utf8(data).map_err(|_| unreadable(format!("{name} is not valid UTF-8"), false))?;
                params.push(name, value).map_err(|e| unreadable(e, false))?;
            }
            // A file input left empty still sends a nameless, empty part.
            Some(file_name) if file_name.is_empty() && data.is_empty() => {}
            Some(_) if name != "lampiran" => {
                return Err(unreadable(format!("unexpected file in {name}"), false));
            }
            Some(file_name) if problem.is_none() => uploads.push(Upload {
                filename: file_name,
                data: data.into(),
            }),
            Some(_) => {}
        }
    }
    Ok(UploadedForm {
        params,
        uploads,
        problem,
        slot: None,
    })
}
