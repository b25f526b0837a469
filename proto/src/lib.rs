//! Generated protobuf types and gRPC stubs for every LAPOR contract (`package lapor.<area>.v1`).

pub mod events {
    pub mod v1 {
        tonic::include_proto!("lapor.events.v1");
    }
}
pub mod intake {
    pub mod v1 {
        tonic::include_proto!("lapor.intake.v1");
    }
}
pub mod routing {
    pub mod v1 {
        tonic::include_proto!("lapor.routing.v1");
    }
}
pub mod notification {
    pub mod v1 {
        tonic::include_proto!("lapor.notification.v1");
    }
}
pub mod analytics {
    pub mod v1 {
        tonic::include_proto!("lapor.analytics.v1");
    }
}

/// Encoded `FileDescriptorSet` of every LAPOR proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lapor_descriptor.bin"));

pub use prost_types::Timestamp;
