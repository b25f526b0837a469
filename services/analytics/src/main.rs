use lapor_platform::{Listeners, lifecycle::shutdown_on_signal, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("lapor-analytics")?;
    let settings = lapor_analytics::load_settings()?;
    let listeners = Listeners::bind(settings.grpc.addr, settings.http.addr).await?;
    tracing::info!(grpc = %settings.grpc.addr, http = %settings.http.addr, "analytics listening");
    lapor_analytics::run(settings, listeners, shutdown_on_signal()).await
}
