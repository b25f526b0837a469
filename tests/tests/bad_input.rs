//! The bad-input corpus: more than a hundred malformed, oversized, hostile or simply wrong
//! requests across intake's public doors — the JSON API (submissions, status, the reporter's
//! replies and ratings, submissions with files), Open311 GeoReport v2, the web form and the
//! SMS aggregator webhook. Each must get a 4xx that names the problem in the channel's
//! error body, store nothing — no complaint, no event, no file — and leave the service
//! answering. (Field-by-field gRPC cases are in e2e.rs, Open311 with a stock client
//! in open311.rs.)

use lapor_e2e::stack::{TEST_OPEN311_API_KEY, TEST_SMS_WEBHOOK_TOKEN};
use lapor_e2e::{Stack, StackConfig};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";
const BOUNDARY: &str = "lapor-corpus-boundary";
const MULTIPART: &str = "multipart/form-data; boundary=lapor-corpus-boundary";
/// Attachments allowed per submission in this suite (small, so oversized bodies stay cheap).
const ATTACHMENT_BYTES: usize = 256 * 1024;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
const WINDOWS_PROGRAM: &[u8] = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0\xb8\0\0\0";

/// One part of a multipart body: its name, file name (for files) and bytes.
struct Part<'a>(&'a str, Option<&'a str>, Vec<u8>);

fn multipart(parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for Part(name, filename, data) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
        match filename {
            Some(file) => {
                body.extend_from_slice(format!("; filename=\"{file}\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes())
            }
            None => body.extend_from_slice(b"\r\n\r\n"),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn complaint_part<'a>() -> Part<'a> {
    Part("complaint", None, valid_complaint().to_string().into_bytes())
}

fn file<'a>(name: &'a str, data: &[u8]) -> Part<'a> {
    Part("attachment", Some(name), data.to_vec())
}

/// Submissions with files (multipart): forged types, too many, too large, malformed forms.
fn attachments() -> Vec<Case> {
    let path = "/api/v1/complaints";
    let with = |parts: &[Part]| multipart(parts);
    let big = {
        let mut data = PNG.to_vec();
        data.resize(ATTACHMENT_BYTES / 2 + 1, 0);
        data
    };
    vec![
        case(
            "a Windows program named foto.jpg",
            path,
            MULTIPART,
            with(&[complaint_part(), file("foto.jpg", WINDOWS_PROGRAM)]),
            415,
            "unsupported_attachment",
        ),
        case(
            "an HTML page named foto.png",
            path,
            MULTIPART,
            with(&[
                complaint_part(),
                file("foto.png", b"<html><script>alert(1)</script></html>"),
            ]),
            415,
            "attachments[0]",
        ),
        case(
            "an SVG with a script",
            path,
            MULTIPART,
            with(&[
                complaint_part(),
                file(
                    "peta.svg",
                    b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>",
                ),
            ]),
            415,
            "unsupported_attachment",
        ),
        case(
            "a ZIP named laporan.pdf",
            path,
            MULTIPART,
            with(&[complaint_part(), file("laporan.pdf", b"PK\x03\x04\x14\0\0\0\x08\0")]),
            415,
            "laporan.pdf",
        ),
        case(
            "the second file forged",
            path,
            MULTIPART,
            with(&[complaint_part(), file("a.png", PNG), file("b.jpg", WINDOWS_PROGRAM)]),
            415,
            "attachments[1]",
        ),
        case(
            "six files",
            path,
            MULTIPART,
            with(&[
                complaint_part(),
                file("1.png", PNG),
                file("2.png", PNG),
                file("3.png", PNG),
                file("4.png", PNG),
                file("5.png", PNG),
                file("6.png", PNG),
            ]),
            400,
            "too_many_attachments",
        ),
        case(
            "files over the size limit together",
            path,
            MULTIPART,
            with(&[complaint_part(), file("a.png", &big), file("b.png", &big)]),
            413,
            "attachments_too_large",
        ),
        case(
            "an empty file",
            path,
            MULTIPART,
            with(&[complaint_part(), file("kosong.png", b"")]),
            400,
            "empty_attachment",
        ),
        case(
            "no complaint part",
            path,
            MULTIPART,
            with(&[file("a.png", PNG)]),
            400,
            "no complaint part",
        ),
        case(
            "the complaint part twice",
            path,
            MULTIPART,
            with(&[complaint_part(), complaint_part()]),
            400,
            "appears twice",
        ),
        case(
            "an unknown part",
            path,
            MULTIPART,
            with(&[complaint_part(), Part("lampiran", Some("a.png"), PNG.to_vec())]),
            400,
            "unexpected part",
        ),
        case(
            "the complaint part is not JSON",
            path,
            MULTIPART,
            with(&[Part("complaint", None, b"title=x".to_vec()), file("a.png", PNG)]),
            400,
            "invalid_json",
        ),
        case(
            "the complaint part lacks a title",
            path,
            MULTIPART,
            with(&[
                Part("complaint", None, complaint_with("title", None)),
                file("a.png", PNG),
            ]),
            400,
            "title",
        ),
        case(
            "a bad NIK beside a good photo",
            path,
            MULTIPART,
            with(&[
                Part(
                    "complaint",
                    None,
                    complaint_with("reporter.nik", Some(json!("1234567890123456"))),
                ),
                file("a.png", PNG),
            ]),
            400,
            "nik",
        ),
        case(
            "multipart without a boundary",
            path,
            "multipart/form-data",
            with(&[complaint_part()]),
            400,
            "invalid_multipart",
        ),
        case(
            "a multipart body cut short",
            path,
            MULTIPART,
            with(&[complaint_part(), file("a.png", PNG)])[..200].to_vec(),
            400,
            "invalid_multipart",
        ),
    ]
}

/// The web form (`POST /lapor`): refused with a page that names the problem.
fn web_form() -> Vec<Case> {
    let path = "/lapor";
    let fields = |extra: &str| {
        format!(
            "lang=id&kind=aduan&title=Lampu+jalan+mati&body=Sudah+dua+minggu+gelap+di+depan+sekolah.\
             &category_code=infrastruktur.jalan-jembatan&kabupaten_code=6371{extra}"
        )
    };
    let text = |name: &'static str, value: &str| Part(name, None, value.as_bytes().to_vec());
    let form_parts = |files: Vec<Part<'static>>| {
        let mut parts = vec![
            text("lang", "id"),
            text("title", "Lampu jalan mati"),
            text("body", "Sudah dua minggu gelap di depan sekolah."),
            text("category_code", "infrastruktur.jalan-jembatan"),
            text("kabupaten_code", "6371"),
        ];
        parts.extend(files);
        multipart(&parts)
    };
    let lampiran = |name: &'static str, data: &[u8]| Part("lampiran", Some(name), data.to_vec());
    vec![
        case(
            "web: JSON instead of a form",
            path,
            JSON,
            valid_complaint().to_string(),
            415,
            "x-www-form-urlencoded",
        ),
        case(
            "web: no title",
            path,
            FORM,
            fields("").replace("title=Lampu+jalan+mati&", ""),
            400,
            "Judul: wajib diisi",
        ),
        case(
            "web: a title not UTF-8",
            path,
            FORM,
            fields("").replace("title=Lampu", "title=%FF%FE"),
            400,
            "UTF-8",
        ),
        case(
            "web: the title twice",
            path,
            FORM,
            fields("&title=Lagi"),
            400,
            "more than once",
        ),
        case(
            "web: an unknown category",
            path,
            FORM,
            fields("").replace("infrastruktur.jalan-jembatan", "tidak.ada"),
            400,
            "Kategori",
        ),
        case(
            "web: an unknown kabupaten",
            path,
            FORM,
            fields("").replace("6371", "9999"),
            400,
            "Kabupaten",
        ),
        case(
            "web: a bad NIK",
            path,
            FORM,
            fields("&nik=1234567890123456"),
            400,
            "NIK (16 angka): tidak memuat tanggal lahir yang sah",
        ),
        case("web: a bad phone", path, FORM, fields("&phone=12345"), 400, "Nomor HP"),
        case(
            "web: an unknown kind",
            path,
            FORM,
            fields("").replace("kind=aduan", "kind=pujian"),
            400,
            "Jenis laporan",
        ),
        case(
            "web: an oversized form",
            path,
            FORM,
            fields(&format!("&location={}", "x".repeat(40_000))),
            413,
            "terlalu panjang",
        ),
        case(
            "web: a program as a photo",
            path,
            MULTIPART,
            form_parts(vec![lampiran("foto.jpg", WINDOWS_PROGRAM)]),
            415,
            "bukan foto",
        ),
        case(
            "web: six files",
            path,
            MULTIPART,
            form_parts((0..6).map(|_| lampiran("a.png", PNG)).collect()),
            400,
            "paling banyak 5 berkas",
        ),
        case(
            "web: a file in a text field",
            path,
            MULTIPART,
            form_parts(vec![Part("title", Some("a.png"), PNG.to_vec())]),
            400,
            "unexpected file",
        ),
        case(
            "web: a field not UTF-8",
            path,
            MULTIPART,
            form_parts(vec![Part("location", None, b"\xff\xfe".to_vec())]),
            400,
            "UTF-8",
        ),
        case(
            "web: a field twice in multipart",
            path,
            MULTIPART,
            form_parts(vec![text("title", "Lagi")]),
            400,
            "more than once",
        ),
    ]
}

/// One bad request and what must come back.
struct Case {
    name: String,
    path: String,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    /// Must appear in the answer: the field, the error code or the reason.
    names: &'static str,
}

fn case(
    name: impl Into<String>,
    path: impl Into<String>,
    content_type: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    names: &'static str,
) -> Case {
    Case {
        name: name.into(),
        path: path.into(),
        content_type,
        headers: Vec::new(),
        body: body.into(),
        status,
        names,
    }
}

fn valid_complaint() -> Value {
    json!({
        "title": "Lampu jalan mati di Jl. Pramuka",
        "body": "Sudah dua minggu gelap, rawan kecelakaan malam hari.",
        "category_code": "infrastruktur.jalan-jembatan",
        "kabupaten_code": "6371",
        "location": "Jl. Pramuka",
        "reporter": {"name": "Warga", "phone": "0812-3456-7890", "email": "warga@example.id", "nik": "6371035708850001"}
    })
}

/// The valid complaint with one change: `path` is `field` or `reporter.field`; `None`
/// removes it.
fn complaint_with(path: &str, value: Option<Value>) -> Vec<u8> {
    let mut body = valid_complaint();
    let (parent, key) = match path.split_once('.') {
        Some((parent, key)) => (&mut body[parent], key),
        None => (&mut body, path),
    };
    let object = parent.as_object_mut().expect("object");
    match value {
        Some(value) => {
            object.insert(key.to_owned(), value);
        }
        None => {
            object.remove(key);
        }
    }
    body.to_string().into_bytes()
}

/// JSON API submissions: malformed bodies, wrong types, every field out of bounds, hostile text.
fn submissions() -> Vec<Case> {
    let path = "/api/v1/complaints";
    let mut cases = vec![
        case("empty body", path, JSON, "", 400, "invalid_json"),
        case("truncated JSON", path, JSON, "{\"title\": ", 400, "invalid_json"),
        case("JSON array", path, JSON, "[]", 422, "invalid_json"),
        case("JSON null", path, JSON, "null", 422, "invalid_json"),
        case("JSON string", path, JSON, "\"aduan\"", 422, "invalid_json"),
        case(
            "trailing garbage",
            path,
            JSON,
            format!("{}xyz", valid_complaint()),
            400,
            "invalid_json",
        ),
        case(
            "invalid UTF-8",
            path,
            JSON,
            b"{\"title\": \"\xff\xfe\"}".to_vec(),
            400,
            "invalid_json",
        ),
        case(
            "form instead of JSON",
            path,
            FORM,
            "title=x&body=y",
            415,
            "invalid_json",
        ),
        case(
            "text/plain",
            path,
            "text/plain",
            valid_complaint().to_string(),
            415,
            "invalid_json",
        ),
        case(
            "XML body",
            path,
            "application/xml",
            "<complaint><title>x</title></complaint>",
            415,
            "invalid_json",
        ),
        case(
            "oversized body",
            path,
            JSON,
            json!({"title": "x".repeat(70_000)}).to_string(),
            413,
            "body_too_large",
        ),
        case(
            "number as title",
            path,
            JSON,
            complaint_with("title", Some(json!(42))),
            422,
            "title",
        ),
        case(
            "object as body",
            path,
            JSON,
            complaint_with("body", Some(json!({"a": 1}))),
            422,
            "body",
        ),
        case(
            "string as anonim",
            path,
            JSON,
            complaint_with("anonim", Some(json!("yes"))),
            422,
            "anonim",
        ),
        case(
            "number as rahasia",
            path,
            JSON,
            complaint_with("rahasia", Some(json!(1))),
            422,
            "rahasia",
        ),
        case(
            "string as reporter",
            path,
            JSON,
            complaint_with("reporter", Some(json!("Budi"))),
            422,
            "reporter",
        ),
        case(
            "unknown field",
            path,
            JSON,
            complaint_with("priority", Some(json!("tinggi"))),
            422,
            "priority",
        ),
        case(
            "unknown reporter field",
            path,
            JSON,
            complaint_with("reporter.alamat", Some(json!("Jl. A"))),
            422,
            "alamat",
        ),
    ];
    for field in ["title", "body", "category_code", "kabupaten_code"] {
        cases.push(case(
            format!("missing {field}"),
            path,
            JSON,
            complaint_with(field, None),
            422,
            field_name(field),
        ));
    }
    let field_cases: Vec<(&str, &str, Value, &'static str)> = vec![
        ("empty title", "title", json!(""), "title"),
        ("blank title", "title", json!("   \t "), "title"),
        ("title of 151 characters", "title", json!("j".repeat(151)), "title"),
        (
            "control character in title",
            "title",
            json!("Lampu\u{0007}mati"),
            "title",
        ),
        ("bidi override in title", "title", json!("Lampu \u{202E}itam"), "title"),
        ("empty body", "body", json!(""), "body"),
        ("body of 4001 characters", "body", json!("b".repeat(4001)), "body"),
        ("NUL in body", "body", json!("ada\u{0000}nul"), "body"),
        (
            "bidi isolate in body",
            "body",
            json!("teks \u{2066}tersembunyi\u{2069}"),
            "body",
        ),
        ("unknown category", "category_code", json!("tidak.ada"), "category_code"),
        (
            "SQL in category",
            "category_code",
            json!("lainnya' OR '1'='1"),
            "category_code",
        ),
        (
            "HTML in category",
            "category_code",
            json!("<script>alert(1)</script>"),
            "category_code",
        ),
        ("unknown kabupaten", "kabupaten_code", json!("3171"), "kabupaten_code"),
        (
            "SQL in kabupaten",
            "kabupaten_code",
            json!("6371; DROP TABLE complaints;--"),
            "kabupaten_code",
        ),
        ("empty kabupaten", "kabupaten_code", json!(""), "kabupaten_code"),
        (
            "location of 201 characters",
            "location",
            json!("l".repeat(201)),
            "location",
        ),
        (
            "control character in location",
            "location",
            json!("Jl.\u{001B}[31m Merah"),
            "location",
        ),
        ("unknown kind", "kind", json!("keluhan"), "kind"),
        (
            "name of 101 characters",
            "reporter.name",
            json!("n".repeat(101)),
            "reporter.name",
        ),
        (
            "control character in name",
            "reporter.name",
            json!("Budi\u{0008}"),
            "reporter.name",
        ),
        ("two-digit phone", "reporter.phone", json!("12"), "reporter.phone"),
        (
            "phone with letters",
            "reporter.phone",
            json!("0812-ABCD-7890"),
            "reporter.phone",
        ),
        (
            "foreign phone",
            "reporter.phone",
            json!("+1 415 555 0100"),
            "reporter.phone",
        ),
        (
            "phone too long",
            "reporter.phone",
            json!("0812345678901234"),
            "reporter.phone",
        ),
        (
            "e-mail without @",
            "reporter.email",
            json!("warga.example.id"),
            "reporter.email",
        ),
        (
            "e-mail without domain dot",
            "reporter.email",
            json!("warga@localhost"),
            "reporter.email",
        ),
        (
            "e-mail with spaces",
            "reporter.email",
            json!("war ga@example.id"),
            "reporter.email",
        ),
        (
            "e-mail of 255 characters",
            "reporter.email",
            json!(format!("{}@example.id", "e".repeat(244))),
            "reporter.email",
        ),
        (
            "e-mail with HTML",
            "reporter.email",
            json!("<img src=x>@example.id"),
            "reporter.email",
        ),
        (
            "NIK of 15 digits",
            "reporter.nik",
            json!("637103570885000"),
            "reporter.nik",
        ),
        (
            "NIK with letters",
            "reporter.nik",
            json!("63710357088500AB"),
            "reporter.nik",
        ),
        (
            "NIK of no province",
            "reporter.nik",
            json!("9971035708850001"),
            "reporter.nik",
        ),
        (
            "NIK with day 32",
            "reporter.nik",
            json!("6371033208850001"),
            "reporter.nik",
        ),
        (
            "NIK with month 13",
            "reporter.nik",
            json!("6371031713850001"),
            "reporter.nik",
        ),
        (
            "NIK with serial 0000",
            "reporter.nik",
            json!("6371035708850000"),
            "reporter.nik",
        ),
        (
            "idempotency key with a space",
            "idempotency_key",
            json!("kunci saya"),
            "idempotency_key",
        ),
        (
            "idempotency key of 129 characters",
            "idempotency_key",
            json!("k".repeat(129)),
            "idempotency_key",
        ),
    ];
    for (name, field, value, names) in field_cases {
        cases.push(case(name, path, JSON, complaint_with(field, Some(value)), 400, names));
    }
    cases
}

/// serde names a missing field by its own name.
fn field_name(field: &str) -> &'static str {
    match field {
        "title" => "title",
        "body" => "body",
        "category_code" => "category_code",
        _ => "kabupaten_code",
    }
}

/// Status lookups and the reporter's actions on an existing complaint.
fn reporter_side(tracking_id: &str, code: &str) -> Vec<Case> {
    let status = |id: &str| format!("/api/v1/complaints/{id}");
    let replies = format!("/api/v1/complaints/{tracking_id}/replies");
    let rating = format!("/api/v1/complaints/{tracking_id}/rating");
    let get = |name: &str, path: String, status: u16, names: &'static str| {
        let mut c = case(name, path, "", "", status, names);
        c.headers.push(("x-method", "GET".into()));
        c
    };
    vec![
        get("tracking id too short", status("ABC"), 400, "tracking_id"),
        get("tracking id with 0 and 1", status("A0B1C2D3E4"), 400, "tracking_id"),
        get("SQL as tracking id", status("1'%20OR%20'1'='1"), 400, "tracking_id"),
        get("script as tracking id", status("%3Cscript%3E"), 400, "tracking_id"),
        get("tracking id never issued", status("ZZZZZZZZZZ"), 404, "not_found"),
        get(
            "unknown query parameter",
            format!("{}?kode=1", status(tracking_id)),
            400,
            "query",
        ),
        case(
            "reply with a wrong code",
            &replies,
            JSON,
            json!({"access_code": "22222222", "kind": "reply", "text": "Halo"}).to_string(),
            403,
            "access_code",
        ),
        case(
            "reply without a code",
            &replies,
            JSON,
            json!({"kind": "reply", "text": "Halo"}).to_string(),
            422,
            "access_code",
        ),
        case(
            "unknown reply kind",
            &replies,
            JSON,
            json!({"access_code": code, "kind": "protes", "text": "Halo"}).to_string(),
            400,
            "kind",
        ),
        case(
            "empty reply",
            &replies,
            JSON,
            json!({"access_code": code, "kind": "reply", "text": "  "}).to_string(),
            400,
            "text",
        ),
        case(
            "reply of 4001 characters",
            &replies,
            JSON,
            json!({"access_code": code, "kind": "reply", "text": "r".repeat(4001)}).to_string(),
            400,
            "text",
        ),
        case(
            "reply before any follow-up",
            &replies,
            JSON,
            json!({"access_code": code, "kind": "objection", "text": "Belum"}).to_string(),
            409,
            "not_allowed_now",
        ),
        case("reply as a form", &replies, FORM, "kind=reply", 415, "invalid_json"),
        case(
            "zero stars",
            &rating,
            JSON,
            json!({"access_code": code, "stars": 0}).to_string(),
            400,
            "stars",
        ),
        case(
            "six stars",
            &rating,
            JSON,
            json!({"access_code": code, "stars": 6}).to_string(),
            400,
            "stars",
        ),
        case(
            "negative stars",
            &rating,
            JSON,
            json!({"access_code": code, "stars": -1}).to_string(),
            422,
            "stars",
        ),
        case(
            "stars as text",
            &rating,
            JSON,
            json!({"access_code": code, "stars": "lima"}).to_string(),
            422,
            "stars",
        ),
        case(
            "rating before any follow-up",
            &rating,
            JSON,
            json!({"access_code": code, "stars": 5}).to_string(),
            409,
            "not_allowed_now",
        ),
        case(
            "rating of a report never issued",
            "/api/v1/complaints/ZZZZZZZZZZ/rating",
            JSON,
            json!({"access_code": code, "stars": 5}).to_string(),
            404,
            "not_found",
        ),
    ]
}

/// Open311 POSTs beyond those open311.rs sends with the stock client.
fn open311() -> Vec<Case> {
    let path = "/open311/v2/requests.json";
    let form = |extra: &str| {
        format!(
            "api_key={TEST_OPEN311_API_KEY}&service_code=infrastruktur.jalan-jembatan&address_string=Jl.+A&\
             description=Jalan+rusak+parah&attribute%5Bkabupaten%5D=6371{extra}"
        )
    };
    vec![
        case(
            "Open311: XML body",
            path,
            "text/xml",
            "<request/>",
            400,
            "x-www-form-urlencoded",
        ),
        case("Open311: JSON body", path, JSON, "{}", 400, "x-www-form-urlencoded"),
        case(
            "Open311: no content type",
            path,
            "",
            form(""),
            400,
            "x-www-form-urlencoded",
        ),
        case(
            "Open311: bad escape",
            path,
            FORM,
            format!("{}&description=%E0%A4", form("")),
            400,
            "not valid UTF-8",
        ),
        case(
            "Open311: raw invalid UTF-8",
            path,
            FORM,
            [b"description=".as_slice(), &[0xc3, 0x28]].concat(),
            400,
            "not valid UTF-8",
        ),
        case(
            "Open311: api_key twice",
            path,
            FORM,
            format!("{}&api_key=x", form("")),
            400,
            "more than once",
        ),
        case(
            "Open311: SQL service code",
            path,
            FORM,
            form("").replace("infrastruktur.jalan-jembatan", "x'%20OR%201=1--"),
            404,
            "unknown service_code",
        ),
        case(
            "Open311: lat not a number",
            path,
            FORM,
            form("&lat=abc&long=114.6"),
            400,
            "decimal degree",
        ),
        case(
            "Open311: infinite lat",
            path,
            FORM,
            form("&lat=inf&long=114.6"),
            400,
            "decimal degree",
        ),
        case(
            "Open311: point in Jakarta",
            path,
            FORM,
            form("&lat=-6.2&long=106.8"),
            400,
            "outside Kalimantan Selatan",
        ),
        case(
            "Open311: attribute without brackets",
            path,
            FORM,
            form("&attribute=6371"),
            400,
            "not an attribute parameter",
        ),
        case(
            "Open311: attribute given twice",
            path,
            FORM,
            form("&attribute%5Bkabupaten%5D=6372"),
            400,
            "more than once",
        ),
        case(
            "Open311: media_url not http",
            path,
            FORM,
            form("&media_url=ftp://x/a.jpg"),
            400,
            "media_url",
        ),
        case(
            "Open311: address_id of 101 characters",
            path,
            FORM,
            form(&format!("&address_id={}", "a".repeat(101))),
            400,
            "address_id",
        ),
        case(
            "Open311: description with a bidi override",
            path,
            FORM,
            form("").replace("Jalan+rusak+parah", "Jalan+%E2%80%AErusak"),
            400,
            "description",
        ),
        case(
            "Open311: oversized",
            path,
            FORM,
            form(&format!("&x={}", "a".repeat(40_000))),
            413,
            "",
        ),
    ]
}

/// The SMS aggregator's webhook.
fn sms_webhook() -> Vec<Case> {
    let path = "/api/v1/sms/inbound";
    let with_token = |mut c: Case| {
        c.headers.push(("x-lapor-webhook-token", TEST_SMS_WEBHOOK_TOKEN.into()));
        c
    };
    let sms = |from: &str, text: &str| json!({"from": from, "to": "1708", "text": text}).to_string();
    vec![
        case(
            "SMS: no token",
            path,
            JSON,
            sms("081234567890", "LAPOR#sampah#Banjarmasin#Sampah menumpuk"),
            401,
            "unauthenticated",
        ),
        {
            let mut c = case(
                "SMS: wrong token",
                path,
                JSON,
                sms("081234567890", "Sampah menumpuk"),
                401,
                "unauthenticated",
            );
            c.headers.push(("x-lapor-webhook-token", "tebakan".into()));
            c
        },
        with_token(case(
            "SMS: malformed JSON",
            path,
            JSON,
            "{\"from\": ",
            400,
            "invalid_body",
        )),
        with_token(case(
            "SMS: missing text",
            path,
            JSON,
            json!({"from": "081234567890"}).to_string(),
            400,
            "text",
        )),
        with_token(case(
            "SMS: invalid UTF-8",
            path,
            JSON,
            b"{\"from\":\"0812\",\"text\":\"\xff\"}".to_vec(),
            400,
            "invalid_body",
        )),
        with_token(case(
            "SMS: XML",
            path,
            "text/xml",
            "<sms/>",
            415,
            "unsupported_media_type",
        )),
        with_token(case(
            "SMS: sender not a phone",
            path,
            JSON,
            sms("budi", "Sampah menumpuk di pasar"),
            422,
            "from",
        )),
        with_token(case(
            "SMS: foreign sender",
            path,
            JSON,
            sms("+14155550100", "Sampah menumpuk di pasar"),
            422,
            "from",
        )),
        with_token(case(
            "SMS: empty text",
            path,
            JSON,
            sms("081234567890", ""),
            422,
            "text",
        )),
        with_token(case(
            "SMS: oversized",
            path,
            JSON,
            sms("081234567890", &"s".repeat(20_000)),
            413,
            "",
        )),
    ]
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("query")
        .expect("row");
    row.try_get_by_index(0).expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn more_than_a_hundred_bad_inputs_get_a_named_4xx_and_store_nothing() {
    let stack = Stack::start(StackConfig {
        attachment_bytes: ATTACHMENT_BYTES,
        ..StackConfig::new("badinput")
    })
    .await
    .expect("stack starts");
    let base = format!("http://127.0.0.1:{}", stack.http_port("intake"));
    let http = reqwest::Client::new();
    let intake_db = stack.db("intake").await.expect("db");
    // One good complaint, for the status and reporter cases.
    let accepted: Value = http
        .post(format!("{base}/api/v1/complaints"))
        .json(&valid_complaint())
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let tracking_id = accepted["tracking_id"].as_str().expect("tracking id").to_owned();
    let code = accepted["access_code"].as_str().expect("access code").to_owned();
    let stored = || scalar(&intake_db, "SELECT count(*) FROM complaints");
    let recorded = || scalar(&intake_db, "SELECT count(*) FROM outbox");
    let (complaints_before, events_before) = (stored().await, recorded().await);

    let cases: Vec<Case> = [
        submissions(),
        reporter_side(&tracking_id, &code),
        attachments(),
        open311(),
        web_form(),
        sms_webhook(),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(cases.len() >= 100, "only {} cases", cases.len());
    for case in &cases {
        let url = format!("{base}{}", case.path);
        let is_get = case.headers.iter().any(|(k, v)| *k == "x-method" && v == "GET");
        let mut request = if is_get {
            http.get(&url)
        } else {
            http.post(&url).body(case.body.clone())
        };
        if !case.content_type.is_empty() {
            request = request.header("content-type", case.content_type);
        }
        for (key, value) in case.headers.iter().filter(|(k, _)| *k != "x-method") {
            request = request.header(*key, value);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert_eq!(status, case.status, "{}: {text}", case.name);
        assert!(
            text.contains(case.names),
            "{}: the answer does not name {:?}: {text}",
            case.name,
            case.names
        );
        if case.path.starts_with("/api/") && status != 413 {
            let error: Value =
                serde_json::from_str(&text).unwrap_or_else(|_| panic!("{}: not JSON: {text}", case.name));
            assert!(
                error["code"].is_string() && error["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{}: {error}",
                case.name
            );
        } else if case.path.starts_with("/open311/") && status != 413 {
            let error: Value =
                serde_json::from_str(&text).unwrap_or_else(|_| panic!("{}: not JSON: {text}", case.name));
            assert_eq!(error[0]["code"], status, "{}", case.name);
        }
    }
    assert_eq!(stored().await, complaints_before, "a bad request stored a complaint");
    assert_eq!(recorded().await, events_before, "a bad request recorded an event");
    assert_eq!(
        std::fs::read_dir(stack.attachments_dir())
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "a bad request stored a file"
    );
    // Still answering, and the good complaint reads back as it was.
    let status: Value = http
        .get(format!("{base}/api/v1/complaints/{tracking_id}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(status["title"], "Lampu jalan mati di Jl. Pramuka");
    println!("{} bad inputs refused", cases.len());
    stack.stop().await.expect("stack stops");
}
