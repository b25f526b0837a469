//! Open311 GeoReport v2 end to end: a stock client (georeport from PyPI, unchanged) reads
//! the services, a definition and the requests in both formats; requests POSTed the way
//! clients post them reach routing and show its SKPD and deadline; rahasia reports stay
//! out of every answer, no answer carries a reporter's identity, and every kind of bad
//! request gets the spec's error body and status and stores nothing.

use lapor_domain::Directory;
use lapor_domain::reference::OfficerRole;
use lapor_e2e::stack::{TEST_OPEN311_API_KEY, TEST_OPEN311_JURISDICTION, authorized, repo_root, token};
use lapor_e2e::{Stack, StackConfig, eventually};
use lapor_proto::routing::v1::GetCaseRequest;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const SERVICE: &str = "infrastruktur.jalan-jembatan";

/// Runs the stock client script; its stdout is one JSON document.
async fn stock_client(args: &[&str]) -> Value {
    let output = tokio::process::Command::new(repo_root().join(".tools/venv/bin/python"))
        .arg(repo_root().join("tests/open311/stock_client.py"))
        .args(args)
        .output()
        .await
        .expect("the stock client runs (make infra installs it)");
    assert!(
        output.status.success(),
        "stock client {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the stock client prints JSON")
}

/// A scalar as text: XML gives every value as a string, JSON as its own type.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

async fn complaints(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM complaints",
        ))
        .await
        .expect("query")
        .expect("row");
    row.try_get("", "n").expect("count")
}

/// What the stock client saw for request `id`, in `format`.
async fn read(root: &str, format: &str, id: &str) -> Value {
    stock_client(&["read", root, TEST_OPEN311_JURISDICTION, format, id]).await
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|r| text(&r["service_request_id"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn open311_georeport_v2_works_with_a_stock_client_and_refuses_bad_requests() {
    let stack = Stack::start(StackConfig::new("open311")).await.expect("stack starts");
    let root = format!("http://127.0.0.1:{}/open311/v2", stack.http_port("intake"));
    let directory = Directory::load(&repo_root().join("deploy/seed")).expect("seed");
    let intake_db = stack.db("intake").await.expect("db");
    let http = reqwest::Client::new();

    // Two requests created as clients create them, one per format.
    let mut created = Vec::new();
    for format in ["json", "xml"] {
        let answer = stock_client(&[
            "create",
            &root,
            TEST_OPEN311_JURISDICTION,
            TEST_OPEN311_API_KEY,
            format,
            "Lubang besar di tengah jalan, sudah dua motor jatuh minggu ini. <script>alert(1)</script>",
        ])
        .await;
        assert_eq!(answer["status"], 200, "{answer}");
        let request = &answer["created"][0];
        let id = text(&request["service_request_id"]);
        assert_eq!(id.len(), 10, "{answer}");
        assert!(text(&request["service_notice"]).contains(&id), "{answer}");
        created.push(id);
    }
    // A rahasia report, POSTed by hand: it must appear nowhere.
    let form = |extra: &[(&str, &str)]| {
        let mut fields: Vec<(String, String)> = [
            ("api_key", TEST_OPEN311_API_KEY),
            ("service_code", SERVICE),
            ("address_string", "Jl. Lambung Mangkurat"),
            (
                "description",
                "Trotoar amblas di depan kantor, berbahaya bagi pejalan kaki.",
            ),
            ("attribute[kabupaten]", "6371"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (key, value) in extra {
            fields.retain(|(k, _)| k != key);
            if !value.is_empty() {
                fields.push(((*key).to_owned(), (*value).to_owned()));
            }
        }
        fields
    };
    let secret: Value = http
        .post(format!("{root}/requests.json"))
        .form(&form(&[("attribute[rahasia]", "true")]))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let secret_id = text(&secret[0]["service_request_id"]);
    assert_eq!(secret_id.len(), 10, "{secret}");

    // Routing takes both public ones: agency_responsible and expected_datetime follow.
    for id in &created {
        eventually("routing's SKPD on the Open311 record", WAIT, || {
            let request = http.get(format!("{root}/requests/{id}.json")).send();
            async move {
                let record: Value = request.await.ok()?.json().await.ok()?;
                (!record[0]["agency_responsible"].is_null()).then_some(())
            }
        })
        .await;
    }
    let admin = token(OfficerRole::Admin, None);
    let case = stack
        .routing()
        .await
        .expect("client")
        .get_case(authorized(
            GetCaseRequest {
                tracking_id: created[0].clone(),
            },
            &admin,
        ))
        .await
        .expect("case")
        .into_inner();
    assert_eq!(case.skpd_code, "pupr");
    assert_eq!(case.state, "assigned");

    for format in ["json", "xml"] {
        let seen = read(&root, format, &created[0]).await;
        // Services: every category, each with its group and metadata.
        let services = seen["services"].as_array().expect("services");
        assert_eq!(services.len(), directory.categories.len(), "{format}");
        let road = services
            .iter()
            .find(|s| s["service_code"] == SERVICE)
            .expect("the road service");
        assert_eq!(text(&road["metadata"]), "true");
        assert_eq!(text(&road["group"]), "Infrastruktur");
        // Its definition: the kabupaten/kota attribute is required, one value per kabupaten.
        let attributes = seen["definition"]["attributes"].as_array().expect("attributes");
        let kabupaten = attributes
            .iter()
            .find(|a| a["code"] == "kabupaten")
            .expect("kabupaten attribute");
        assert_eq!(text(&kabupaten["required"]), "true");
        assert_eq!(text(&kabupaten["datatype"]), "singlevaluelist");
        assert_eq!(
            kabupaten["values"].as_array().expect("values").len(),
            directory.kabupaten.len()
        );
        // Lists hold both public requests and never the rahasia one.
        for list in ["listed", "open_only"] {
            let listed = ids(&seen[list]);
            assert!(
                created.iter().all(|id| listed.contains(id)),
                "{format} {list}: {listed:?}"
            );
            assert!(!listed.contains(&secret_id), "{format} {list} shows a rahasia report");
        }
        assert_eq!(ids(&seen["by_id"]), [created[0].clone()], "{format}");
        // The record: LAPOR!'s state, routing's SKPD and deadline, the client's place.
        let one = &seen["one"];
        assert_eq!(text(&one["service_request_id"]), created[0]);
        assert_eq!(text(&one["status"]), "open");
        assert_eq!(text(&one["status_notes"]), "Belum Ditindaklanjuti");
        assert_eq!(text(&one["service_code"]), SERVICE);
        assert_eq!(text(&one["agency_responsible"]), case.skpd_name);
        let expected = chrono::DateTime::parse_from_rfc3339(&text(&one["expected_datetime"])).expect("w3c datetime");
        let due = case.sla_due_at.as_ref().expect("deadline");
        assert_eq!(expected.timestamp(), due.seconds, "{format}");
        assert_eq!(text(&one["lat"]).parse::<f64>().expect("lat"), -3.3194);
        assert_eq!(text(&one["address"]), "Jl. A. Yani km 5, Banjarmasin");
        assert_eq!(text(&one["media_url"]), "https://foto.example.id/lubang.jpg");
        // Stored text comes back as data: the script tag is text in both formats.
        assert!(text(&one["description"]).contains("<script>alert(1)</script>"));
        assert_eq!(seen["token"][0]["service_request_id"], seen["token"][0]["token"]);
        // No identity anywhere in what a client sees.
        let everything = seen.to_string();
        for identity in ["Siti", "Kanari", "siti.kanari@example.id", "0311"] {
            assert!(!everything.contains(identity), "{format} answer shows {identity}");
        }
    }
    // In XML the script tag is escaped, never markup.
    let xml = http
        .get(format!("{root}/requests/{}.xml", created[0]))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("xml");
    assert!(
        xml.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !xml.contains("<script>"),
        "{xml}"
    );

    // An Idempotency-Key makes a retry the same request.
    let keyed = || {
        http.post(format!("{root}/requests.json"))
            .header("Idempotency-Key", "open311-retry-1")
            .form(&form(&[]))
            .send()
    };
    let first: Value = keyed().await.expect("post").json().await.expect("json");
    let stored = complaints(&intake_db).await;
    let second: Value = keyed().await.expect("post").json().await.expect("json");
    assert_eq!(first[0]["service_request_id"], second[0]["service_request_id"]);
    assert_eq!(complaints(&intake_db).await, stored, "a retry stores nothing new");

    // Bad requests: the spec's status and error body, naming the problem; nothing stored.
    let post = |body: reqwest::Body, content_type: &'static str, path: &'static str| {
        http.post(format!("{root}/{path}"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let encoded =
        |fields: Vec<(String, String)>| -> reqwest::Body { serde_urlencoded::to_string(fields).expect("form").into() };
    let form_type = "application/x-www-form-urlencoded";
    let cases: Vec<(&str, reqwest::Body, &str, &str, u16, &str)> = vec![
        (
            "no api_key",
            encoded(form(&[("api_key", "")])),
            form_type,
            "requests.json",
            403,
            "api_key is required",
        ),
        (
            "wrong api_key",
            encoded(form(&[("api_key", "tebakan")])),
            form_type,
            "requests.xml",
            403,
            "api_key is not valid",
        ),
        (
            "unknown service",
            encoded(form(&[("service_code", "tidak.ada")])),
            form_type,
            "requests.json",
            404,
            "unknown service_code",
        ),
        (
            "no service",
            encoded(form(&[("service_code", "")])),
            form_type,
            "requests.json",
            400,
            "service_code is required",
        ),
        (
            "other jurisdiction",
            encoded(form(&[("jurisdiction_id", "sfgov.org")])),
            form_type,
            "requests.json",
            404,
            "unknown jurisdiction_id",
        ),
        (
            "no kabupaten",
            encoded(form(&[("attribute[kabupaten]", "")])),
            form_type,
            "requests.json",
            400,
            "attribute[kabupaten] is required",
        ),
        (
            "unknown kabupaten",
            encoded(form(&[("attribute[kabupaten]", "3171")])),
            form_type,
            "requests.json",
            400,
            "not a kabupaten/kota",
        ),
        (
            "unknown attribute",
            encoded(form(&[("attribute[prioritas]", "tinggi")])),
            form_type,
            "requests.json",
            400,
            "attribute[prioritas] is not an attribute",
        ),
        (
            "bad flag",
            encoded(form(&[("attribute[anonim]", "mungkin")])),
            form_type,
            "requests.json",
            400,
            "expected true or false",
        ),
        (
            "bad kind",
            encoded(form(&[("attribute[jenis]", "keluhan")])),
            form_type,
            "requests.json",
            400,
            "attribute[jenis]",
        ),
        (
            "no location",
            encoded(form(&[("address_string", "")])),
            form_type,
            "requests.json",
            400,
            "location is required",
        ),
        (
            "outside the province",
            encoded(form(&[("lat", "-6.2"), ("long", "106.8")])),
            form_type,
            "requests.json",
            400,
            "outside Kalimantan Selatan",
        ),
        (
            "half a point",
            encoded(form(&[("lat", "-3.3")])),
            form_type,
            "requests.json",
            400,
            "lat and long go together",
        ),
        (
            "no description",
            encoded(form(&[("description", "")])),
            form_type,
            "requests.json",
            400,
            "description is required",
        ),
        (
            "blank description",
            encoded(form(&[("description", "   ")])),
            form_type,
            "requests.json",
            400,
            "description is required",
        ),
        (
            "long description",
            encoded(form(&[("description", &"a".repeat(4001))])),
            form_type,
            "requests.json",
            400,
            "description",
        ),
        (
            "bad e-mail",
            encoded(form(&[("email", "bukan-email")])),
            form_type,
            "requests.json",
            400,
            "email",
        ),
        (
            "bad phone",
            encoded(form(&[("phone", "12")])),
            form_type,
            "requests.json",
            400,
            "phone",
        ),
        (
            "script media_url",
            encoded(form(&[("media_url", "javascript:alert(1)")])),
            form_type,
            "requests.json",
            400,
            "media_url",
        ),
        (
            "JSON body",
            "{\"service_code\":\"x\"}".into(),
            "application/json",
            "requests.json",
            400,
            "x-www-form-urlencoded",
        ),
        (
            "invalid UTF-8 escape",
            "api_key=x&description=%FF%FE".into(),
            form_type,
            "requests.json",
            400,
            "not valid UTF-8",
        ),
        (
            "invalid UTF-8 body",
            vec![b'a', b'=', 0xff, 0xfe].into(),
            form_type,
            "requests.json",
            400,
            "not valid UTF-8",
        ),
        (
            "repeated field",
            "service_code=a&service_code=b".into(),
            form_type,
            "requests.json",
            400,
            "more than once",
        ),
        (
            "POST to services",
            encoded(form(&[])),
            form_type,
            "services.json",
            405,
            "cannot be POSTed",
        ),
        (
            "no format",
            encoded(form(&[])),
            form_type,
            "requests",
            404,
            "add .xml or .json",
        ),
        (
            "oversized",
            encoded(form(&[("description", &"a".repeat(40_000))])),
            form_type,
            "requests.json",
            413,
            "",
        ),
    ];
    let mut checked = 0;
    for (what, body, content_type, path, status, message) in cases {
        let response = post(body, content_type, path).await.expect("post");
        assert_eq!(response.status().as_u16(), status, "{what}");
        let xml_answer = path.ends_with(".xml") || !path.contains('.');
        let text_body = response.text().await.expect("body");
        if xml_answer {
            assert!(text_body.contains("<errors><error><code>"), "{what}: {text_body}");
        } else if status != 413 {
            let error: Value = serde_json::from_str(&text_body).unwrap_or_else(|_| panic!("{what}: {text_body}"));
            assert_eq!(error[0]["code"], status, "{what}: {error}");
        }
        assert!(text_body.contains(message), "{what}: {text_body}");
        checked += 1;
    }
    let gets = [
        (
            "requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",
            400,
            "at most 90 days",
        ),
        ("requests.json?start_date=kemarin", 400, "not a W3C datetime"),
        (
            "requests.json?start_date=2026-02-01T00:00:00Z&end_date=2026-01-01T00:00:00Z",
            400,
            "before start_date",
        ),
        ("requests.json?status=pending", 400, "expected open or closed"),
        ("requests.json?service_code=tidak.ada", 404, "unknown service_code"),
        (
            "requests.json?service_request_id=%3Cscript%3E",
            400,
            "not a LAPOR tracking id",
        ),
        ("requests.json?status=open&status=closed", 400, "more than once"),
        ("requests.xml?jurisdiction_id=sfgov.org", 404, "unknown jurisdiction_id"),
        ("services/tidak.ada.json", 404, "unknown service_code"),
        ("services.html", 404, "add .xml or .json"),
        ("requests/ZZZZZZZZZZ.json", 404, "no public service request"),
        ("tokens/ZZZZZZZZZZ.xml", 404, "no public service request"),
        ("laporan.json", 404, "unknown resource"),
    ];
    for (path, status, message) in gets {
        let response = http.get(format!("{root}/{path}")).send().await.expect("get");
        assert_eq!(response.status().as_u16(), status, "{path}");
        let body = response.text().await.expect("body");
        assert!(body.contains(message), "{path}: {body}");
        checked += 1;
    }
    // The rahasia report cannot be read back by id or token either.
    for path in [
        format!("requests/{secret_id}.json"),
        format!("tokens/{secret_id}.json"),
        format!("requests.json?service_request_id={secret_id}"),
    ] {
        let response = http.get(format!("{root}/{path}")).send().await.expect("get");
        let body = response.text().await.expect("body");
        assert!(!body.contains("Trotoar"), "{path} shows the rahasia report: {body}");
    }
    assert_eq!(
        complaints(&intake_db).await,
        stored,
        "{checked} bad requests stored nothing"
    );

    // The discovery document names this endpoint and both formats.
    let discovery: Value = http
        .get(format!("{root}/discovery.json"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(discovery["endpoints"][0]["url"], root);
    assert_eq!(
        discovery["endpoints"][0]["formats"],
        serde_json::json!(["text/xml", "application/json"])
    );
    stack.stop().await.expect("stack stops");
}
