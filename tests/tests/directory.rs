//! The directory changed while the system runs (issue: routing workflow, "Directory and
//! rules"): an admin adds an SKPD with its sub-units, a penghubung, a category and a routing
//! rule — through laporctl and gRPC — and without a restart intake takes complaints in the
//! new category, routing disposes them to the new SKPD's queue, notification consumes that
//! queue and mails the new officer, and the koordinator disposes to a listed sub-unit.
//! Every change is in the directory's audit log with who and before/after; refused edits
//! (wrong role, dangling reference, stale version, unknown entry, bad code) change nothing.
//! A restarted intake starts from its stored copy, not the seed.

use lapor_domain::reference::OfficerRole;
use lapor_e2e::stack::{authorized, token};
use lapor_e2e::{Stack, StackConfig, eventually, rabbit};
use lapor_proto::intake::v1::{Reporter, SubmitComplaintRequest};
use lapor_proto::routing::v1::edit_directory_request::Edit;
use lapor_proto::routing::v1::{
    CaseRef, Category, DisposeToSubUnitRequest, EditDirectoryRequest, GetDirectoryRequest, ListDirectoryChangesRequest,
    Officer, RoutingRule, Skpd,
};
use serde_json::Value;
use std::time::Duration;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(30);
const OFFICER_EMAIL: &str = "penghubung@dispora.kalselprov.example.id";

/// Runs the real `laporctl` against the stack's routing; its stdout.
fn laporctl(stack: &Stack, bearer: &str, args: &[&str]) -> String {
    let output = stack.laporctl(bearer, args);
    assert!(
        output.status.success(),
        "laporctl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

async fn edit(stack: &Stack, bearer: &str, expected_version: u64, edit: Edit) -> Result<u64, tonic::Status> {
    let request = EditDirectoryRequest {
        expected_version,
        edit: Some(edit),
    };
    let mut client = stack.directory().await.expect("client");
    client
        .edit_directory(authorized(request, bearer))
        .await
        .map(|r| r.into_inner().version)
}

/// An edit that must be refused with `code`, naming `mentions`.
struct Refusal {
    what: &'static str,
    bearer: String,
    expected_version: u64,
    edit: Option<Edit>,
    code: Code,
    mentions: &'static str,
}

async fn version(stack: &Stack) -> u64 {
    let mut client = stack.directory().await.expect("client");
    let admin = token(OfficerRole::Admin, None);
    client
        .get_directory(authorized(GetDirectoryRequest {}, &admin))
        .await
        .expect("directory")
        .into_inner()
        .version
}

async fn open311_codes(stack: &Stack) -> Option<Vec<String>> {
    let url = format!(
        "http://127.0.0.1:{}/open311/v2/services.json",
        stack.http_port("intake")
    );
    let services: Value = reqwest::get(url).await.ok()?.json().await.ok()?;
    Some(
        services
            .as_array()?
            .iter()
            .filter_map(|s| s["service_code"].as_str().map(str::to_owned))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_skpd_added_at_run_time_receives_and_routes_its_complaints() {
    let mut stack = Stack::start(StackConfig::new("directory")).await.expect("stack");
    let admin = token(OfficerRole::Admin, None);
    assert_eq!(version(&stack).await, 1, "the seed is version 1");

    // The SKPD through laporctl: its queue exists as soon as the command returns.
    let out = laporctl(
        &stack,
        &admin,
        &[
            "directory",
            "skpd",
            "dispora",
            "--name",
            "Dinas Pemuda dan Olahraga",
            "--instansi",
            "pemprov-kalsel",
            "--sub-unit",
            "Bidang Keolahragaan",
            "--sub-unit",
            "Bidang Kepemudaan",
        ],
    );
    assert_eq!(out.trim(), "directory version 2");
    let queues = rabbit::queues(&stack.vhost).await.expect("queues");
    assert!(queues.iter().any(|(name, _)| name == "skpd.dispora"), "{queues:?}");

    // Its penghubung and a category over gRPC, the rule through laporctl.
    let officer = Officer {
        id: "dispora-penghubung".into(),
        name: "Dewi Contoh".into(),
        skpd: "dispora".into(),
        role: "penghubung".into(),
        email: OFFICER_EMAIL.into(),
        phone: "+6281200009001".into(),
        sub_unit: String::new(),
    };
    assert_eq!(
        edit(&stack, &admin, 2, Edit::PutOfficer(officer.clone()))
            .await
            .expect("officer"),
        3
    );
    let category = Category {
        code: "pemuda-olahraga".into(),
        name: "Pemuda dan Olahraga".into(),
        verification: "automatic".into(),
    };
    assert_eq!(
        edit(&stack, &admin, 3, Edit::PutCategory(category))
            .await
            .expect("category"),
        4
    );
    let out = laporctl(
        &stack,
        &admin,
        &["directory", "rule", "pemuda-olahraga", "*", "--skpd", "dispora"],
    );
    assert_eq!(out.trim(), "directory version 5");

    // Refusals: each names the problem and leaves version 5 in force.
    let penghubung = token(OfficerRole::Penghubung, Some("dinkes"));
    let dangling = RoutingRule {
        category: "pemuda-olahraga".into(),
        kabupaten: "*".into(),
        skpd: "no-such-skpd".into(),
        priority: 0,
    };
    let bad_code = Skpd {
        code: "Dispora Baru".into(),
        name: "Kode salah".into(),
        ..Default::default()
    };
    let bad_phone = Officer {
        phone: "0812-000".into(),
        ..officer.clone()
    };
    let refusals = [
        Refusal {
            what: "penghubung",
            bearer: penghubung.clone(),
            expected_version: 0,
            edit: Some(Edit::RemoveOfficer("dispora-penghubung".into())),
            code: Code::PermissionDenied,
            mentions: "only an admin",
        },
        Refusal {
            what: "dangling rule",
            bearer: admin.clone(),
            expected_version: 0,
            edit: Some(Edit::PutRule(dangling)),
            code: Code::InvalidArgument,
            mentions: "unknown skpd",
        },
        Refusal {
            what: "stale version",
            bearer: admin.clone(),
            expected_version: 4,
            edit: Some(Edit::RemoveOfficer("dispora-penghubung".into())),
            code: Code::FailedPrecondition,
            mentions: "version 5",
        },
        Refusal {
            what: "unknown officer",
            bearer: admin.clone(),
            expected_version: 0,
            edit: Some(Edit::RemoveOfficer("nobody".into())),
            code: Code::NotFound,
            mentions: "nobody",
        },
        Refusal {
            what: "bad skpd code",
            bearer: admin.clone(),
            expected_version: 0,
            edit: Some(Edit::PutSkpd(bad_code)),
            code: Code::InvalidArgument,
            mentions: "lowercase",
        },
        Refusal {
            what: "bad phone",
            bearer: admin.clone(),
            expected_version: 0,
            edit: Some(Edit::PutOfficer(bad_phone)),
            code: Code::InvalidArgument,
            mentions: "phone",
        },
        Refusal {
            what: "no edit",
            bearer: admin.clone(),
            expected_version: 0,
            edit: None,
            code: Code::InvalidArgument,
            mentions: "edit",
        },
    ];
    for refusal in refusals {
        let mut client = stack.directory().await.expect("client");
        let request = EditDirectoryRequest {
            expected_version: refusal.expected_version,
            edit: refusal.edit,
        };
        let what = refusal.what;
        let status = client
            .edit_directory(authorized(request, &refusal.bearer))
            .await
            .expect_err(what);
        assert_eq!(status.code(), refusal.code, "{what}: {}", status.message());
        assert!(
            status.message().contains(refusal.mentions),
            "{what}: {}",
            status.message()
        );
    }
    let mut anonymous = stack.directory().await.expect("client");
    let status = anonymous
        .edit_directory(tonic::Request::new(EditDirectoryRequest::default()))
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(version(&stack).await, 5, "refused edits changed nothing");
    // Other officers read the directory without their colleagues' contacts.
    let mut client = stack.directory().await.expect("client");
    let seen = client
        .get_directory(authorized(GetDirectoryRequest {}, &penghubung))
        .await
        .expect("any officer reads")
        .into_inner();
    assert_eq!(seen.version, 5);
    assert!(seen.officers.iter().any(|o| o.id == "dispora-penghubung"));
    assert!(seen.officers.iter().all(|o| o.email.is_empty() && o.phone.is_empty()));

    // Intake learns the category without a restart.
    eventually("intake offers the new category", WAIT, || async {
        open311_codes(&stack)
            .await
            .filter(|codes| codes.iter().any(|c| c == "pemuda-olahraga"))
    })
    .await;
    let mut intake = stack.intake().await.expect("intake");
    let submitted = intake
        .submit_complaint(SubmitComplaintRequest {
            title: "Lapangan futsal GOR rusak".into(),
            body: "Lantai lapangan futsal di GOR Hasanuddin berlubang, berbahaya bagi pemain.".into(),
            category_code: "pemuda-olahraga".into(),
            kabupaten_code: "6371".into(),
            reporter: Some(Reporter {
                email: "warga.gor@example.id".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("submitted")
        .into_inner();
    let tracking_id = submitted.tracking_id;

    // Routing disposes it by the new rule; notification consumes the new queue and mails
    // the new officer.
    let case = stack.case_in_state(&tracking_id, "assigned").await;
    assert_eq!(case.skpd_code, "dispora");
    eventually("the new penghubung is mailed", WAIT, || async {
        stack
            .smtp
            .messages()
            .into_iter()
            .find(|m| m.rcpt_to.iter().any(|r| r == OFFICER_EMAIL) && m.raw.contains(&tracking_id))
    })
    .await;

    // The koordinator disposes to a sub-unit the directory lists, in any letter case.
    let koordinator = token(OfficerRole::Koordinator, Some("dispora"));
    let mut routing = stack.routing().await.expect("routing");
    let unknown = routing
        .dispose_to_sub_unit(authorized(
            DisposeToSubUnitRequest {
                case: Some(CaseRef {
                    tracking_id: tracking_id.clone(),
                    expected_version: case.version,
                }),
                sub_unit: "Bidang Pariwisata".into(),
            },
            &koordinator,
        ))
        .await
        .expect_err("not a sub-unit of dispora");
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(
        unknown.message().contains("Bidang Keolahragaan"),
        "{}",
        unknown.message()
    );
    let disposed = routing
        .dispose_to_sub_unit(authorized(
            DisposeToSubUnitRequest {
                case: Some(CaseRef {
                    tracking_id: tracking_id.clone(),
                    expected_version: case.version,
                }),
                sub_unit: "bidang keolahragaan".into(),
            },
            &koordinator,
        ))
        .await
        .expect("disposed")
        .into_inner();
    assert_eq!(disposed.sub_unit, "Bidang Keolahragaan");

    // A rename keeps the sub-units (laporctl fills what was left out) and its audit entry
    // shows what was there before.
    let out = laporctl(
        &stack,
        &admin,
        &[
            "directory",
            "skpd",
            "dispora",
            "--name",
            "Dinas Kepemudaan dan Olahraga",
        ],
    );
    assert_eq!(out.trim(), "directory version 6");
    let changes: Value =
        serde_json::from_str(&laporctl(&stack, &admin, &["--json", "directory", "changes"])).expect("json");
    let changes = changes.as_array().expect("array");
    let summary: Vec<(u64, &str, &str)> = changes
        .iter()
        .map(|c| {
            (
                c["version"].as_u64().unwrap_or(0),
                c["actor"].as_str().unwrap_or(""),
                c["action"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let by_admin = "officer:test-admin-prov";
    assert_eq!(
        summary,
        [
            (6, by_admin, "put_skpd"),
            (5, by_admin, "put_rule"),
            (4, by_admin, "put_category"),
            (3, by_admin, "put_officer"),
            (2, by_admin, "put_skpd"),
            (1, "seed", "seed"),
        ]
    );
    let before: Value = serde_json::from_str(changes[0]["before"].as_str().expect("before")).expect("json");
    let after: Value = serde_json::from_str(changes[0]["after"].as_str().expect("after")).expect("json");
    assert_eq!(before["name"], "Dinas Pemuda dan Olahraga");
    assert_eq!(after["name"], "Dinas Kepemudaan dan Olahraga");
    assert_eq!(
        after["sub_units"],
        serde_json::json!(["Bidang Keolahragaan", "Bidang Kepemudaan"])
    );
    assert_eq!(changes[1]["before"], "", "a new rule had nothing before");
    let mut client = stack.directory().await.expect("client");
    let status = client
        .list_directory_changes(authorized(ListDirectoryChangesRequest::default(), &penghubung))
        .await
        .expect_err("only an admin reads the log");
    assert_eq!(status.code(), Code::PermissionDenied);

    // Removing the officer reaches notification's recipients.
    assert_eq!(
        edit(&stack, &admin, 6, Edit::RemoveOfficer("dispora-penghubung".into()))
            .await
            .expect("removed"),
        7
    );
    let notification_db = stack.db("notification").await.expect("db");
    eventually("the removed officer is no recipient", WAIT, || async {
        let left = lapor_e2e::process::scalar(
            &notification_db,
            "SELECT count(*) FROM recipients WHERE id = 'dispora-penghubung'",
        )
        .await;
        (left == 0).then_some(())
    })
    .await;

    // A restarted intake starts from its stored copy: the category is there at once.
    eventually("intake stored version 7", WAIT, || async {
        let db = stack.db("intake").await.ok()?;
        let stored = lapor_e2e::process::scalar(&db, "SELECT coalesce(max(version), 0) FROM directory_copies").await;
        (stored == 7).then_some(())
    })
    .await;
    stack.stop_service("intake").await.expect("stopped");
    stack.start_service("intake", 4).await.expect("restarted");
    stack.wait_ready(WAIT).await.expect("ready");
    let codes = open311_codes(&stack).await.expect("services");
    assert!(codes.iter().any(|c| c == "pemuda-olahraga"), "{codes:?}");

    stack.stop().await.expect("stop");
}
