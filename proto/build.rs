//! Compiles `lapor/**/*.proto` with protox, a pure-Rust protobuf compiler, so a fresh
//! machine needs no `protoc` binary. The descriptor set is also written to OUT_DIR for
//! gRPC reflection.

use prost::Message;
use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "lapor/events/v1/events.proto",
    "lapor/intake/v1/intake.proto",
    "lapor/routing/v1/routing.proto",
    "lapor/notification/v1/notification.proto",
    "lapor/analytics/v1/analytics.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // tonic-prost-build does not emit rerun-if-changed itself.
    println!("cargo:rerun-if-changed=lapor");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("lapor_descriptor.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
