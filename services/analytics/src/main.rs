//! `lapor-analytics` serves; `lapor-analytics replay` catches the configured database up
//! from the event history stream (all of it, for an empty database) and exits;
//! `lapor-analytics rebuild [--force]` empties the read models first and replays everything
//! (refused when the history does not reach back to the oldest complaint, unless forced).

use anyhow::Context;
use lapor_messaging::Broker;
use lapor_platform::{Listeners, lifecycle::shutdown_on_signal, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("lapor-analytics")?;
    let settings = lapor_analytics::load_settings()?;
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => {
            let listeners = Listeners::bind(settings.grpc.addr, settings.http.addr).await?;
            tracing::info!(grpc = %settings.grpc.addr, http = %settings.http.addr, "analytics listening");
            lapor_analytics::run(settings, listeners, shutdown_on_signal()).await
        }
        Some(command @ ("replay" | "rebuild")) => {
            let db = lapor_platform::database::connect_and_migrate::<lapor_analytics::migration::Migrator>(
                &settings.database,
            )
            .await
            .context("failed to prepare analytics database")?;
            let broker = Broker::new(settings.amqp.url.clone(), "analytics-replay");
            let report = if command == "replay" {
                lapor_analytics::history::replay(&db, &broker).await
            } else {
                let force = std::env::args().nth(2).as_deref() == Some("--force");
                lapor_analytics::history::rebuild(&db, &broker, force).await
            }
            .context("history replay failed")?;
            println!(
                "{command}: read {} entries, applied {} events, {} already counted, {} skipped",
                report.read, report.applied, report.duplicates, report.skipped
            );
            broker.close().await;
            Ok(())
        }
        Some(other) => anyhow::bail!("unknown command {other:?}; use serve, replay or rebuild"),
    }
}
