//! The HTTP aggregator channel against a real HTTP server on loopback: the configured body
//! template, authorization and idempotency headers arrive as configured; 429 and 5xx are
//! transient, other refusals permanent; the aggregator's message id is kept.

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use lapor_notification::channels::http_sms::{HttpSms, HttpSmsSettings};
use lapor_notification::channels::{Channel, Outgoing, SendError};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Seen {
    authorization: String,
    idempotency_key: String,
    body: serde_json::Value,
}

/// Answers each request with the next status in `answers`.
async fn aggregator(answers: Vec<u16>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let answers = Arc::new(Mutex::new(answers.into_iter()));
    let app = axum::Router::new().route(
        "/v1/sms",
        post({
            let seen = seen.clone();
            move |headers: HeaderMap, body: String| {
                let seen = seen.clone();
                let answers = answers.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    seen.lock().expect("lock").push(Seen {
                        authorization: header("authorization"),
                        idempotency_key: header("idempotency-key"),
                        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
                    });
                    let status = answers.lock().expect("lock").next().unwrap_or(200);
                    let status = StatusCode::from_u16(status).expect("status");
                    let answer = if status.is_success() {
                        r#"{"data": {"id": "agg-42"}}"#.to_owned()
                    } else {
                        r#"{"error": "nope"}"#.to_owned()
                    };
                    (status, answer)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/v1/sms", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn channel(url: String) -> HttpSms {
    HttpSms::new(HttpSmsSettings {
        url,
        authorization: "Bearer aggregator-secret".into(),
        body_template: r#"{"to": {{ to|tojson }}, "from": {{ sender|tojson }}, "message": {{ text|tojson }}}"#.into(),
        content_type: "application/json".into(),
        idempotency_header: "Idempotency-Key".into(),
        message_id_pointer: "/data/id".into(),
        sender: "LAPOR1708".into(),
        timeout_ms: 2_000,
    })
    .expect("settings")
}

fn message<'a>(id: uuid::Uuid, to: &'a str) -> Outgoing<'a> {
    Outgoing {
        delivery_id: id,
        address: to,
        subject: "",
        text: "LAPOR! Aduan baru AB3DEF7H9K untuk Dinas Kesehatan.",
        html: None,
        list_unsubscribe: None,
    }
}

#[tokio::test]
async fn sends_as_configured_and_classifies_answers() {
    let (url, seen) = aggregator(vec![429, 503, 200, 400]).await;
    let sms = channel(url);
    let id = uuid::Uuid::now_v7();
    let to = "+6281200000005";

    for expected in ["429", "503"] {
        match sms.send(&message(id, to)).await {
            Err(SendError::Transient(reason)) => assert!(reason.contains(expected), "{reason}"),
            other => panic!("{expected} should be transient: {other:?}"),
        }
    }
    let accepted = sms.send(&message(id, to)).await.expect("accepted");
    assert_eq!(accepted.provider_ids, ["agg-42"]);
    match sms.send(&message(uuid::Uuid::now_v7(), to)).await {
        Err(SendError::Permanent(reason)) => assert!(reason.contains("400") && reason.contains("nope"), "{reason}"),
        other => panic!("400 should be permanent: {other:?}"),
    }
    // A malformed number never reaches the aggregator.
    assert!(matches!(
        sms.send(&message(id, "0812-abc")).await,
        Err(SendError::Permanent(_))
    ));

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 4);
    for request in &seen[..3] {
        assert_eq!(request.authorization, "Bearer aggregator-secret");
        assert_eq!(request.idempotency_key, id.to_string(), "the same key on every retry");
        assert_eq!(request.body["to"], to);
        assert_eq!(request.body["from"], "LAPOR1708");
        assert_eq!(
            request.body["message"],
            "LAPOR! Aduan baru AB3DEF7H9K untuk Dinas Kesehatan."
        );
    }
}

#[tokio::test]
async fn an_unreachable_aggregator_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let sms = channel(format!("http://127.0.0.1:{port}/v1/sms"));
    match sms.send(&message(uuid::Uuid::now_v7(), "+6281200000005")).await {
        Err(SendError::Transient(reason)) => assert!(reason.contains("unreachable"), "{reason}"),
        other => panic!("{other:?}"),
    }
}
