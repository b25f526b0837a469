//! Scratch state the bench leaves when it is interrupted or a measurement fails midway:
//! databases and vhosts named after this process (the stacks' `lapor_test_bench*_<pid>`
//! and the floor's `lapor_bench_floor_<pid>`). `deploy/scripts/clean-test-state.sh` knows
//! only `lapor_test_*`, so floors of runs that were killed outright are swept here.

use crate::db;
use lapor_e2e::rabbit;

pub fn floor_name() -> String {
    format!("lapor_bench_floor_{}", std::process::id())
}

/// Whether `name` belongs to this run.
fn ours(name: &str) -> bool {
    let pid = std::process::id();
    name == floor_name()
        || (name.starts_with("lapor_test_bench")
            && (name.contains(&format!("_{pid}_")) || name.ends_with(&format!("_{pid}"))))
}

/// Floors of earlier runs whose process is gone.
fn stale_floor(name: &str) -> bool {
    name.strip_prefix("lapor_bench_floor_")
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(|pid| pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists())
}

pub async fn stale_floors() {
    sweep(stale_floor).await;
}

pub async fn own_leftovers() {
    sweep(ours).await;
}

/// Best effort: a clean-up that fails says so and carries on.
async fn sweep(matches: fn(&str) -> bool) {
    match db::admin().await {
        Ok(admin) => {
            let names = db::strings(&admin, "SELECT datname FROM pg_database WHERE datname LIKE 'lapor\\_%'")
                .await
                .unwrap_or_default();
            for name in names.into_iter().filter(|n| matches(n)) {
                if let Err(error) = db::exec(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await {
                    eprintln!("bench: could not drop database {name}: {error}");
                }
            }
            let _ = admin.close().await;
        }
        Err(error) => eprintln!("bench: no PostgreSQL for the clean-up: {error}"),
    }
    let vhosts = rabbit::rabbitmqctl_output(&["list_vhosts", "--no-table-headers"])
        .await
        .unwrap_or_default();
    for vhost in vhosts.lines().map(str::trim).filter(|v| matches(v)) {
        if let Err(error) = rabbit::delete_vhost(vhost).await {
            eprintln!("bench: could not delete vhost {vhost}: {error}");
        }
    }
}
