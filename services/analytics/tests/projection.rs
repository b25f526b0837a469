//! The read models against a real PostgreSQL: one story per figure, applied in several
//! orders and with duplicates, must give the same figures every time (the consumer's inbox
//! and order-insensitive updates are what make replays and replica races safe).

use chrono::{DateTime, Duration, Utc};
use lapor_analytics::figures::{self, Period};
use lapor_analytics::projection::{Announce, Projection, QUEUE};
use lapor_messaging::envelope::{new_envelope, new_typed_envelope, to_timestamp};
use lapor_messaging::inbox::record_first_delivery;
use lapor_platform::config::DatabaseSettings;
use lapor_proto::events::v1::event_envelope::Payload;
use lapor_proto::events::v1::{
    CaseUpdated, Channel, ComplaintAssigned, ComplaintEscalated, ComplaintSubmitted, EventEnvelope,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use uuid::Uuid;

const SKPD: &str = "dinkes";

fn submitted(id: Uuid, tracking: &str, at: DateTime<Utc>, rahasia: bool) -> EventEnvelope {
    new_envelope(
        "intake",
        id,
        tracking,
        Payload::ComplaintSubmitted(ComplaintSubmitted {
            category_code: "kesehatan.puskesmas".into(),
            kabupaten_code: "6371".into(),
            channel: Channel::Sms as i32,
            rahasia,
            submitted_at: Some(to_timestamp(at)),
            ..Default::default()
        }),
    )
}

fn assigned(id: Uuid, tracking: &str, version: i64, at: DateTime<Utc>, due: DateTime<Utc>) -> EventEnvelope {
    new_envelope(
        "routing",
        id,
        tracking,
        Payload::ComplaintAssigned(ComplaintAssigned {
            skpd_code: SKPD.into(),
            skpd_name: "Dinas Kesehatan".into(),
            category_code: "kesehatan.puskesmas".into(),
            kabupaten_code: "6371".into(),
            assigned_at: Some(to_timestamp(at)),
            sla_due_at: Some(to_timestamp(due)),
            version,
            ..Default::default()
        }),
    )
}

fn step(id: Uuid, tracking: &str, event_type: &str, state: &str, version: i64, at: DateTime<Utc>) -> EventEnvelope {
    new_typed_envelope(
        "routing",
        event_type,
        id,
        tracking,
        Payload::CaseUpdated(CaseUpdated {
            state: state.into(),
            version,
            skpd_code: if state == "archived" {
                String::new()
            } else {
                SKPD.into()
            },
            category_code: "kesehatan.puskesmas".into(),
            objection: event_type == "complaint.reopened",
            stars: if event_type == "complaint.rated" { 4 } else { 0 },
            at: Some(to_timestamp(at)),
            ..Default::default()
        }),
    )
}

fn verification_breach(id: Uuid, tracking: &str, deadline: DateTime<Utc>) -> EventEnvelope {
    new_typed_envelope(
        "routing",
        "complaint.escalated",
        id,
        tracking,
        Payload::ComplaintEscalated(ComplaintEscalated {
            level: "breach".into(),
            stage: "verification".into(),
            skpd_code: "diskominfo".into(),
            skpd_name: "Diskominfo".into(),
            due_at: Some(to_timestamp(deadline)),
            deadline_at: Some(to_timestamp(deadline)),
            ..Default::default()
        }),
    )
}

/// Five complaints whose stories touch every figure.
fn story(t0: DateTime<Utc>, now: DateTime<Utc>) -> Vec<EventEnvelope> {
    let day = Duration::days(1);
    let (x, y, z, w, v) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    vec![
        // X: disposed at once, followed up a day late, reopened, followed up, rated, closed.
        submitted(x, "XXXXXXXXX1", t0, false),
        assigned(x, "XXXXXXXXX1", 2, t0 + Duration::hours(1), t0 + day * 5),
        step(x, "XXXXXXXXX1", "complaint.followed_up", "followed_up", 4, t0 + day * 6),
        step(
            x,
            "XXXXXXXXX1",
            "complaint.reopened",
            "in_progress",
            5,
            t0 + day * 6 + Duration::hours(2),
        ),
        step(x, "XXXXXXXXX1", "complaint.followed_up", "followed_up", 6, t0 + day * 7),
        step(
            x,
            "XXXXXXXXX1",
            "complaint.rated",
            "followed_up",
            7,
            t0 + day * 7 + Duration::hours(1),
        ),
        step(x, "XXXXXXXXX1", "complaint.closed", "closed", 8, t0 + day * 8),
        // Y: verified after the verification deadline fired.
        submitted(y, "YYYYYYYYY1", t0, false),
        verification_breach(y, "YYYYYYYYY1", t0 + day * 3),
        assigned(y, "YYYYYYYYY1", 2, t0 + day * 4, now + day * 2),
        // Z: disposed, deadline passed a day ago, no follow-up yet.
        submitted(z, "ZZZZZZZZZ1", t0, false),
        assigned(z, "ZZZZZZZZZ1", 2, t0 + Duration::hours(2), now - day),
        // W: rahasia, archived at verification.
        submitted(w, "WWWWWWWWW1", t0, true),
        step(
            w,
            "WWWWWWWWW1",
            "complaint.archived",
            "archived",
            2,
            t0 + Duration::hours(3),
        ),
        // V: disposed, then returned by the SKPD as not its authority: waits for the admin.
        submitted(v, "VVVVVVVVV1", t0, false),
        assigned(v, "VVVVVVVVV1", 2, t0 + Duration::hours(1), now + day * 2),
        step(
            v,
            "VVVVVVVVV1",
            "complaint.returned_to_admin",
            "rejected_not_authority",
            3,
            t0 + day,
        ),
    ]
}

fn database_name() -> String {
    format!("lapor_test_projection_{}", std::process::id())
}

async fn database() -> DatabaseConnection {
    let settings = DatabaseSettings {
        url: format!("postgres://postgres@127.0.0.1:5432/{}", database_name()),
        max_connections: 2,
    };
    lapor_platform::database::connect_and_migrate::<lapor_analytics::migration::Migrator>(&settings)
        .await
        .expect("test database")
}

/// What the live consumer does per event: inbox row and effect in one transaction.
async fn apply(db: &DatabaseConnection, events: &[EventEnvelope]) {
    for event in events {
        let txn = db.begin().await.expect("txn");
        let id = Uuid::parse_str(&event.event_id).expect("uuid");
        if record_first_delivery(&txn, QUEUE, id).await.expect("inbox") {
            Projection::apply(&txn, event, Announce::Quietly)
                .await
                .expect("applied");
        }
        txn.commit().await.expect("commit");
    }
}

async fn wipe(db: &DatabaseConnection) {
    db.execute_unprepared("TRUNCATE complaint_facts, counters, escalation_facts, skpd_names, inbox")
        .await
        .expect("wipe");
}

#[tokio::test]
async fn every_order_and_duplicate_gives_the_same_figures() {
    let db = database().await;
    let now = Utc::now();
    let t0 = now - Duration::days(10);
    let events = story(t0, now);
    let all = Period::default();

    wipe(&db).await;
    apply(&db, &events).await;
    let summary = figures::summary(&db, &all, now).await.expect("summary");
    let scorecard = figures::scorecard(&db, &all, now).await.expect("scorecard");

    assert_eq!(summary.complaints_total, 5);
    let verification = summary.verification.expect("verification");
    assert_eq!(
        (verification.on_time, verification.late, verification.overdue_open),
        (4, 1, 0),
        "X, Z, W and V verified in time, Y late"
    );
    assert_eq!(verification.percent, Some(80.0));
    let follow_up = summary.follow_up.expect("follow-up");
    assert_eq!(
        (follow_up.on_time, follow_up.late, follow_up.overdue_open),
        (0, 1, 1),
        "X's first follow-up was late; Z is overdue; Y's deadline is still ahead"
    );
    assert_eq!(follow_up.percent, Some(0.0));
    assert_eq!((summary.followed_up, summary.reopened), (1, 1));
    assert_eq!(summary.reopen_rate, Some(1.0));
    let ratings = summary.ratings.clone().expect("ratings");
    assert_eq!((ratings.count, ratings.average), (1, Some(4.0)));
    assert_eq!(ratings.by_stars, [0, 0, 0, 1, 0]);
    let to_close = summary.time_to_close.expect("time to close");
    assert_eq!((to_close.count, to_close.median_hours), (1, Some(8.0 * 24.0)));
    assert_eq!(summary.escalations_by_level.get("breach"), Some(&1));
    assert_eq!(summary.open_backlog, 3, "Y, Z and V, which waits for the admin");
    assert_eq!(summary.backlog_by_age[3].count, 3, "submitted 10 days ago: 7-14d");
    let dinkes = &scorecard.skpds[0];
    assert_eq!(
        (dinkes.skpd_code.as_str(), dinkes.skpd_name.as_str()),
        (SKPD, "Dinas Kesehatan")
    );
    assert_eq!(
        (dinkes.received, dinkes.overdue_open, dinkes.closed),
        (3, 1, 1),
        "V no longer counts against the SKPD that returned it"
    );
    assert_eq!(scorecard.skpds.len(), 1);

    // Reversed, then every event twice in an interleaved order: the same figures.
    let reversed: Vec<EventEnvelope> = events.iter().rev().cloned().collect();
    let twice: Vec<EventEnvelope> = events.iter().chain(events.iter()).cloned().collect();
    let interleaved: Vec<EventEnvelope> = twice
        .iter()
        .skip(1)
        .step_by(2)
        .chain(twice.iter().step_by(2))
        .cloned()
        .collect();
    for order in [reversed, interleaved] {
        wipe(&db).await;
        apply(&db, &order).await;
        let again = figures::summary(&db, &all, now).await.expect("summary");
        assert_eq!(again, summary);
        assert_eq!(again.events_consumed, events.len() as u64, "duplicates not counted");
        assert_eq!(figures::scorecard(&db, &all, now).await.expect("scorecard"), scorecard);
    }

    // A period filter: nothing was submitted in the last day.
    let last_day = Period::new(Some(now - Duration::days(1)), Some(now)).expect("period");
    let none = figures::summary(&db, &last_day, now).await.expect("summary");
    assert_eq!((none.complaints_total, none.open_backlog), (0, 0));

    db.close().await.ok();
    let admin = sea_orm::Database::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .expect("admin");
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", database_name()))
        .await
        .ok();
}
