use lapor_platform::{Listeners, lifecycle::shutdown_on_signal, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("lapor-notification")?;
    let settings = lapor_notification::load_settings()?;
    let listeners = Listeners::bind(settings.grpc.addr, settings.http.addr).await?;
    tracing::info!(grpc = %settings.grpc.addr, http = %settings.http.addr, "notification listening");
    lapor_notification::run(settings, listeners, shutdown_on_signal()).await
}
