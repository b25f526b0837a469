use lapor_platform::{Listeners, lifecycle::shutdown_on_signal, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("lapor-routing")?;
    let settings = lapor_routing::load_settings()?;
    let listeners = Listeners::bind(settings.grpc.addr, settings.http.addr).await?;
    tracing::info!(grpc = %settings.grpc.addr, http = %settings.http.addr, "routing listening");
    lapor_routing::run(settings, listeners, shutdown_on_signal()).await
}
