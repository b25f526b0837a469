//! A citizen's app under failures: a submission is retried on another intake replica, with
//! the same idempotency key, for as long as the failure is one a client should retry.

use lapor_proto::intake::v1::intake_service_client::IntakeServiceClient;
use lapor_proto::intake::v1::{Reporter, SubmitComplaintRequest};
use std::sync::Mutex;
use std::time::Duration;

/// What a client retries: the replica is draining, gone, or the connection broke mid-call.
pub fn retryable(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown
    ) || status.message().contains("transport error")
}

/// Submits `request` to the intake replicas in `ports` (read afresh before every attempt,
/// as replicas restart on new ports), starting at `first`, until it is accepted. Returns
/// the tracking id, or the first failure a client must not retry (or the last one after
/// `max_attempts`).
pub async fn submit_until_accepted(
    ports: &Mutex<Vec<u16>>,
    request: &SubmitComplaintRequest,
    first: usize,
    max_attempts: usize,
    pause: Duration,
) -> Result<String, tonic::Status> {
    let mut attempt = 0usize;
    loop {
        attempt += 1;
        let port = {
            let ports = ports.lock().map_err(|_| tonic::Status::internal("ports poisoned"))?;
            ports[(first + attempt) % ports.len()]
        };
        let outcome = match IntakeServiceClient::connect(format!("http://127.0.0.1:{port}")).await {
            Ok(mut client) => client.submit_complaint(request.clone()).await,
            Err(error) => Err(tonic::Status::unavailable(format!("transport error: {error}"))),
        };
        match outcome {
            Ok(response) => return Ok(response.into_inner().tracking_id),
            Err(status) if retryable(&status) && attempt < max_attempts => tokio::time::sleep(pause).await,
            Err(status) => return Err(status),
        }
    }
}

/// Complaint number `n` of a load run named `run`: a damaged bridge in Banjarmasin, which
/// routing disposes to PUPR at once; its idempotency key is `<run>-<n>`.
pub fn bridge_complaint(run: &str, n: usize) -> SubmitComplaintRequest {
    SubmitComplaintRequest {
        title: format!("Jembatan rusak nomor {n}"),
        body: "Papan jembatan patah, anak sekolah melintas setiap pagi.".into(),
        category_code: "infrastruktur.jalan-jembatan".into(),
        kabupaten_code: "6371".into(),
        location: "Sungai Andai".into(),
        reporter: Some(Reporter {
            name: "Warga Uji".into(),
            phone: String::new(),
            email: format!("warga{n}@example.id"),
            ..Default::default()
        }),
        idempotency_key: format!("{run}-{n}"),
        ..Default::default()
    }
}
