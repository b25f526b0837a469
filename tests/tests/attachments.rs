//! Attachments end to end: a reporter sends a photo and a PDF with a complaint through the
//! JSON API (multipart) and through gRPC; intake keeps them in its object store (a local
//! directory here, as `make run` uses); routing lists them on the case; the officers of the
//! case's SKPD — and provincial roles — read them over gRPC and in the console, byte for
//! byte; another SKPD's officer, a caller without a token and a caller of intake's internal
//! RPC without the service token get nothing. A retry with the same key stores nothing new.

use base64::Engine;
use futures::StreamExt;
use lapor_domain::reference::OfficerRole;
use lapor_e2e::stack::{TEST_SERVICE_TOKEN, authorized, token};
use lapor_e2e::{Stack, StackConfig, eventually};
use lapor_proto::intake::v1::attachments_client::AttachmentsClient;
use lapor_proto::intake::v1::{AttachmentUpload, Reporter, SubmitComplaintRequest};
use lapor_proto::routing::v1::ReadAttachmentRequest;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// A real 1×1 PNG.
fn png() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
        .expect("png")
}

/// A PDF large enough to arrive in several chunks (intake streams 256 KiB at a time).
fn pdf() -> Vec<u8> {
    let mut pdf = b"%PDF-1.4\n%".to_vec();
    pdf.extend(std::iter::repeat_n(b'x', 700_000));
    pdf.extend_from_slice(b"\n%%EOF\n");
    pdf
}

fn complaint() -> Value {
    json!({
        "title": "Jembatan kayu patah di Jl. Sungai Andai",
        "body": "Papan jembatan patah dua, anak sekolah terpaksa memutar jauh. Foto dan surat RT terlampir.",
        "category_code": "infrastruktur.jalan-jembatan",
        "kabupaten_code": "6371",
        "reporter": {"email": "pelapor.jembatan@example.id"}
    })
}

fn form(files: &[(&str, Vec<u8>)]) -> Form {
    let mut form = Form::new().part(
        "complaint",
        Part::text(complaint().to_string())
            .mime_str("application/json")
            .expect("mime"),
    );
    for (name, data) in files {
        // The declared type is what a browser would send; intake looks at the bytes.
        form = form.part(
            "attachment",
            Part::bytes(data.clone())
                .file_name(name.to_string())
                .mime_str("application/octet-stream")
                .expect("mime"),
        );
    }
    form
}

/// Every file in the store, recursively.
fn stored_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() { stored_files(&path) } else { vec![path] }
        })
        .collect()
}

/// Reads an attachment through routing's gRPC as `bearer`: (content type, file name, bytes, chunks).
async fn read_over_grpc(
    stack: &Stack,
    tracking_id: &str,
    attachment_id: &str,
    bearer: &str,
) -> Result<(String, String, Vec<u8>, usize), tonic::Status> {
    let mut routing = stack.routing().await.expect("routing");
    let mut chunks = routing
        .read_attachment(authorized(
            ReadAttachmentRequest {
                tracking_id: tracking_id.to_owned(),
                attachment_id: attachment_id.to_owned(),
            },
            bearer,
        ))
        .await?
        .into_inner();
    let (mut content_type, mut filename, mut data, mut count) = (String::new(), String::new(), Vec::new(), 0);
    while let Some(chunk) = chunks.message().await? {
        if count == 0 {
            content_type = chunk.content_type.clone();
            filename = chunk.filename.clone();
        }
        count += 1;
        data.extend_from_slice(&chunk.data);
    }
    Ok((content_type, filename, data, count))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attachments_reach_only_the_officers_of_the_case() {
    let stack = Stack::start(StackConfig::new("attach")).await.expect("stack starts");
    let base = format!("http://127.0.0.1:{}", stack.http_port("intake"));
    let http = reqwest::Client::new();
    let (png, pdf) = (png(), pdf());
    let files = [
        ("jembatan patah.png", png.clone()),
        ("C:\\Dokumen\\surat RT.pdf", pdf.clone()),
    ];

    let response = http
        .post(format!("{base}/api/v1/complaints"))
        .header("Idempotency-Key", "attach-1")
        .multipart(form(&files))
        .send()
        .await
        .expect("post");
    assert_eq!(
        response.status().as_u16(),
        201,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let accepted: Value = response.json().await.expect("json");
    let tracking_id = accepted["tracking_id"].as_str().expect("tracking id").to_owned();
    assert_eq!(stored_files(stack.attachments_dir()).len(), 2, "both files stored");

    // A retry with the same key and files replays; with another file it is refused.
    let replay = http
        .post(format!("{base}/api/v1/complaints"))
        .header("Idempotency-Key", "attach-1")
        .multipart(form(&files))
        .send()
        .await
        .expect("post");
    assert_eq!(replay.status().as_u16(), 200);
    let changed = http
        .post(format!("{base}/api/v1/complaints"))
        .header("Idempotency-Key", "attach-1")
        .multipart(form(&[("jembatan patah.png", png.clone())]))
        .send()
        .await
        .expect("post");
    assert_eq!(changed.status().as_u16(), 409);
    assert_eq!(
        stored_files(stack.attachments_dir()).len(),
        2,
        "a retry stores nothing new"
    );

    // Routing lists them on the case, in the order sent, named as the reporter named them.
    let case = stack.case_in_state(&tracking_id, "assigned").await;
    let skpd = case.skpd_code.clone();
    assert!(!skpd.is_empty());
    let listed: Vec<(&str, &str, i64)> = case
        .attachments
        .iter()
        .map(|a| (a.filename.as_str(), a.content_type.as_str(), a.size_bytes))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("jembatan patah.png", "image/png", png.len() as i64),
            ("surat RT.pdf", "application/pdf", pdf.len() as i64),
        ]
    );
    let (photo_id, letter_id) = (case.attachments[0].id.clone(), case.attachments[1].id.clone());

    // The SKPD's penghubung and the provincial admin read them byte for byte.
    let own = token(OfficerRole::Penghubung, Some(&skpd));
    let (content_type, filename, data, _) = read_over_grpc(&stack, &tracking_id, &photo_id, &own)
        .await
        .expect("photo");
    assert_eq!(
        (content_type.as_str(), filename.as_str()),
        ("image/png", "jembatan patah.png")
    );
    assert_eq!(data, png);
    let admin = token(OfficerRole::Admin, None);
    let (_, _, data, chunks) = read_over_grpc(&stack, &tracking_id, &letter_id, &admin)
        .await
        .expect("letter");
    assert_eq!(data, pdf);
    assert!(chunks >= 3, "a 700 KB file streams in pieces, got {chunks}");

    // Another SKPD's officer, no token, an unknown id: nothing.
    let other_skpd = if skpd == "dinkes" { "dishub" } else { "dinkes" };
    let other = token(OfficerRole::Penghubung, Some(other_skpd));
    let denied = read_over_grpc(&stack, &tracking_id, &photo_id, &other)
        .await
        .expect_err("other skpd");
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    let mut routing = stack.routing().await.expect("routing");
    let anonymous = routing
        .read_attachment(ReadAttachmentRequest {
            tracking_id: tracking_id.clone(),
            attachment_id: photo_id.clone(),
        })
        .await
        .expect_err("no token");
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
    let unknown = read_over_grpc(&stack, &tracking_id, &uuid::Uuid::new_v4().to_string(), &own)
        .await
        .expect_err("unknown id");
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    // Intake's internal RPC takes only the service token.
    let mut internal = AttachmentsClient::new(stack.channel("intake").await.expect("channel"));
    let request = || lapor_proto::intake::v1::ReadAttachmentRequest {
        complaint_id: case.complaint_id.clone(),
        attachment_id: photo_id.clone(),
    };
    let refused = internal.read_attachment(request()).await.expect_err("no service token");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let mut with_officer_token = authorized(request(), &own);
    with_officer_token.metadata_mut().insert(
        lapor_platform::auth::SERVICE_TOKEN_HEADER,
        "not-the-token".parse().expect("ascii"),
    );
    assert!(internal.read_attachment(with_officer_token).await.is_err());
    let mut with_token = tonic::Request::new(request());
    with_token.metadata_mut().insert(
        lapor_platform::auth::SERVICE_TOKEN_HEADER,
        TEST_SERVICE_TOKEN.parse().expect("ascii"),
    );
    let direct: Vec<u8> = internal
        .read_attachment(with_token)
        .await
        .expect("service token")
        .into_inner()
        .flat_map(|chunk| futures::stream::iter(chunk.expect("chunk").data))
        .collect()
        .await;
    assert_eq!(direct, png);

    // The console: a link on the case page, the photo inline with a sandbox, another SKPD refused.
    let console = format!("http://127.0.0.1:{}", stack.http_port("routing"));
    let page = http
        .get(format!("{console}/console/cases/{tracking_id}"))
        .bearer_auth(&own)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains(&format!("/console/cases/{tracking_id}/attachments/{photo_id}")),
        "{page}"
    );
    assert!(page.contains("surat RT.pdf"));
    let photo = http
        .get(format!("{console}/console/cases/{tracking_id}/attachments/{photo_id}"))
        .bearer_auth(&own)
        .send()
        .await
        .expect("photo");
    assert_eq!(photo.status().as_u16(), 200);
    let header = |name: &str| {
        photo
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "image/png");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(header("content-security-policy").starts_with("sandbox"));
    assert!(
        header("content-disposition").starts_with("inline;"),
        "{}",
        header("content-disposition")
    );
    assert_eq!(photo.bytes().await.expect("bytes").to_vec(), png);
    let letter = http
        .get(format!("{console}/console/cases/{tracking_id}/attachments/{letter_id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("letter");
    let disposition = letter
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        disposition.starts_with("attachment;") && disposition.contains("surat%20RT%2Epdf"),
        "{disposition}"
    );
    assert_eq!(letter.bytes().await.expect("bytes").len(), pdf.len());
    let forbidden = http
        .get(format!("{console}/console/cases/{tracking_id}/attachments/{photo_id}"))
        .bearer_auth(&other)
        .send()
        .await
        .expect("refused");
    assert_eq!(forbidden.status().as_u16(), 403);

    // gRPC submissions carry files too; a forged one is refused by name and stores nothing.
    let mut intake = stack.intake().await.expect("intake");
    let request = |files: Vec<AttachmentUpload>| SubmitComplaintRequest {
        title: "Drainase tersumbat di Jl. Kelayan".into(),
        body: "Air meluap ke rumah warga setiap hujan deras, sudah tiga minggu.".into(),
        category_code: "infrastruktur.jalan-jembatan".into(),
        kabupaten_code: "6371".into(),
        reporter: Some(Reporter {
            email: "warga.kelayan@example.id".into(),
            ..Reporter::default()
        }),
        attachments: files,
        ..SubmitComplaintRequest::default()
    };
    let forged = intake
        .submit_complaint(request(vec![
            AttachmentUpload {
                filename: "foto.jpg".into(),
                data: png.clone(),
            },
            AttachmentUpload {
                filename: "foto2.jpg".into(),
                data: b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".to_vec(),
            },
        ]))
        .await
        .expect_err("a program is not a photo");
    assert_eq!(forged.code(), tonic::Code::InvalidArgument);
    assert!(
        forged.message().contains("attachments[1]") && forged.message().contains("foto2.jpg"),
        "{}",
        forged.message()
    );
    assert_eq!(
        stored_files(stack.attachments_dir()).len(),
        2,
        "a refused submission stores no file"
    );
    let accepted = intake
        .submit_complaint(request(vec![AttachmentUpload {
            filename: "banjir.png".into(),
            data: png.clone(),
        }]))
        .await
        .expect("a photo over gRPC")
        .into_inner();
    let case = stack.case_in_state(&accepted.tracking_id, "assigned").await;
    assert_eq!(case.attachments.len(), 1);
    assert_eq!(case.attachments[0].filename, "banjir.png");
    // Another case's attachment id under this tracking id: not found.
    let crossed = read_over_grpc(&stack, &tracking_id, &case.attachments[0].id, &admin)
        .await
        .expect_err("an attachment of another case");
    assert_eq!(crossed.code(), tonic::Code::NotFound);
    assert_eq!(stored_files(stack.attachments_dir()).len(), 3);
    stack.stop().await.expect("stack stops");
}

/// The tindak lanjut with photos of what was done: the penghubung's files go to intake's
/// store, are listed on the case after the reporter's, and are read back like them; a
/// forged file refuses the whole follow-up (nothing recorded, nothing stored), and an
/// officer of another SKPD cannot add to the case. Through laporctl, as an officer would.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_penghubung_attaches_what_was_done_to_the_follow_up() {
    let stack = Stack::start(StackConfig::new("followfiles"))
        .await
        .expect("stack starts");
    let mut intake = stack.intake().await.expect("intake");
    let accepted = intake
        .submit_complaint(SubmitComplaintRequest {
            title: "Lampu penerangan jembatan padam".into(),
            body: "Lampu di Jembatan Pasar Lama padam sejak sepekan, rawan kecelakaan malam hari.".into(),
            category_code: "infrastruktur.jalan-jembatan".into(),
            kabupaten_code: "6371".into(),
            reporter: Some(Reporter {
                email: "warga.pasarlama@example.id".into(),
                ..Reporter::default()
            }),
            attachments: vec![AttachmentUpload {
                filename: "gelap.png".into(),
                data: png(),
            }],
            ..SubmitComplaintRequest::default()
        })
        .await
        .expect("submitted")
        .into_inner();
    let tracking_id = accepted.tracking_id;
    let case = stack.case_in_state(&tracking_id, "assigned").await;
    let skpd = case.skpd_code.clone();
    let penghubung = token(OfficerRole::Penghubung, Some(&skpd));
    let laporctl = |bearer: &str, args: &[&str]| stack.laporctl(bearer, args);
    let dir = std::env::temp_dir().join(format!("{}_followfiles", stack.prefix));
    std::fs::create_dir_all(&dir).expect("dir");
    let (photo, forged) = (dir.join("sudah menyala.png"), dir.join("laporan.pdf"));
    std::fs::write(&photo, png()).expect("photo");
    std::fs::write(&forged, b"MZ\x90\x00 not a pdf").expect("forged");
    let started = laporctl(&penghubung, &["act", &tracking_id, "start"]);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    let text = "Lampu sudah diganti dan menyala kembali.";

    // A forged file: refused by name, the case unchanged, nothing stored.
    let stored_before = stored_files(stack.attachments_dir()).len();
    let refused = laporctl(
        &penghubung,
        &[
            "act",
            &tracking_id,
            "follow-up",
            text,
            "--attach",
            photo.to_str().expect("path"),
            "--attach",
            forged.to_str().expect("path"),
        ],
    );
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        error.contains("InvalidArgument") && error.contains("attachments[1]") && error.contains("laporan.pdf"),
        "{error}"
    );
    assert_eq!(
        stack.case_in_state(&tracking_id, "in_progress").await.attachments.len(),
        1
    );
    assert_eq!(stored_files(stack.attachments_dir()).len(), stored_before);

    // A stale version: refused before any file is handed over.
    let mut routing = stack.routing().await.expect("routing");
    let stale = routing
        .post_follow_up(authorized(
            lapor_proto::routing::v1::PostFollowUpRequest {
                case: Some(lapor_proto::routing::v1::CaseRef {
                    tracking_id: tracking_id.clone(),
                    expected_version: case.version,
                }),
                text: text.into(),
                attachments: vec![lapor_proto::routing::v1::FileUpload {
                    filename: "sudah menyala.png".into(),
                    data: png(),
                }],
            },
            &penghubung,
        ))
        .await
        .expect_err("the case moved on since it was read");
    assert_eq!(stale.code(), tonic::Code::FailedPrecondition, "{}", stale.message());
    assert_eq!(stored_files(stack.attachments_dir()).len(), stored_before);

    // Another SKPD's penghubung adds nothing.
    let other = token(
        OfficerRole::Penghubung,
        Some(if skpd == "dinkes" { "pupr" } else { "dinkes" }),
    );
    let denied = laporctl(
        &other,
        &[
            "act",
            &tracking_id,
            "follow-up",
            text,
            "--attach",
            photo.to_str().expect("path"),
        ],
    );
    let error = String::from_utf8_lossy(&denied.stderr);
    assert!(
        !denied.status.success() && error.contains("PermissionDenied"),
        "{error}"
    );
    assert_eq!(stored_files(stack.attachments_dir()).len(), stored_before);

    // The photo: listed after the reporter's, readable by the officers of the case.
    let posted = laporctl(
        &penghubung,
        &[
            "act",
            &tracking_id,
            "follow-up",
            text,
            "--attach",
            photo.to_str().expect("path"),
        ],
    );
    assert!(posted.status.success(), "{}", String::from_utf8_lossy(&posted.stderr));
    let case = stack.case_in_state(&tracking_id, "followed_up").await;
    let names: Vec<&str> = case.attachments.iter().map(|a| a.filename.as_str()).collect();
    assert_eq!(names, ["gelap.png", "sudah menyala.png"]);
    assert_eq!(stored_files(stack.attachments_dir()).len(), stored_before + 1);
    let (content_type, filename, data, _) = read_over_grpc(&stack, &tracking_id, &case.attachments[1].id, &penghubung)
        .await
        .expect("the penghubung reads it");
    assert_eq!(
        (content_type.as_str(), filename.as_str()),
        ("image/png", "sudah menyala.png")
    );
    assert!(data.starts_with(b"\x89PNG"), "a PNG comes back");
    // The follow-up's audit entry names the file it added.
    let audit = routing
        .list_audit_log(authorized(
            lapor_proto::routing::v1::ListAuditLogRequest {
                tracking_id: tracking_id.clone(),
            },
            &penghubung,
        ))
        .await
        .expect("audit")
        .into_inner()
        .entries;
    let follow_up = audit
        .iter()
        .find(|e| e.action == "follow_up")
        .expect("follow-up audited");
    let after: Value = serde_json::from_str(&follow_up.after_json).expect("json");
    assert_eq!(after["attachments"][0]["filename"], "sudah menyala.png", "{after}");
    assert_eq!(after["attachments"][0]["id"], case.attachments[1].id.as_str());
    let _ = std::fs::remove_dir_all(&dir);
    stack.stop().await.expect("stack stops");
}

/// Frees a port for a child process to bind.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The attachment store configured as production configures it — `s3://bucket` with an
/// endpoint, region and keys in `[attachments.options]` — against an S3-compatible server
/// (moto's, installed by `make infra`): files go in under the complaint's id, come back byte
/// for byte, and are gone after a delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_compatible_bucket_holds_the_files() {
    use lapor_intake::attachments::{self, AttachmentSettings, AttachmentStore, Upload};
    let port = free_port();
    let _server = tokio::process::Command::new(lapor_e2e::stack::repo_root().join(".tools/venv/bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("moto_server runs (make infra installs it)");
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually("the S3 server answers", WAIT, || {
        let (http, url) = (http.clone(), format!("{endpoint}/lapor-attachments"));
        async move { http.put(url).send().await.ok().filter(|r| r.status().is_success()) }
    })
    .await;
    let options = [
        ("aws_endpoint", endpoint.as_str()),
        ("aws_region", "id-kalsel-1"),
        ("aws_access_key_id", "lapor-test"),
        ("aws_secret_access_key", "lapor-test-secret"),
        ("aws_allow_http", "true"),
    ];
    let settings = AttachmentSettings {
        store: "s3://lapor-attachments".into(),
        options: options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        max_files: 5,
        max_total_bytes: 10 * 1024 * 1024,
        concurrent_uploads: 1,
    };
    let store = AttachmentStore::open(&settings).expect("the store opens");
    let files = attachments::check(
        &settings,
        vec![
            Upload {
                filename: "jembatan.png".into(),
                data: png().into(),
            },
            Upload {
                filename: "surat.pdf".into(),
                data: pdf().into(),
            },
        ],
        attachments::Metadata::Keep,
    )
    .expect("photo and PDF");
    let complaint_id = uuid::Uuid::now_v7();
    store.put_all(complaint_id, &files).await.expect("stored in the bucket");
    let listing = http
        .get(format!("{endpoint}/lapor-attachments?list-type=2"))
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("xml");
    for file in &files {
        assert!(
            listing.contains(&format!("complaints/{complaint_id}/{}", file.id)),
            "{listing}"
        );
        let read: Vec<u8> = store
            .read(complaint_id, file.id)
            .await
            .expect("read")
            .map(|chunk| chunk.expect("chunk").to_vec())
            .concat()
            .await;
        assert_eq!(read, file.data.to_vec());
    }
    store.delete_all(complaint_id, &files).await;
    assert!(store.read(complaint_id, files[0].id).await.is_err(), "deleted");
}
