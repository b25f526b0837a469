pub mod attachment;
pub mod complaint;
pub mod reporter;
