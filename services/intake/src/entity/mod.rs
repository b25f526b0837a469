pub mod complaint;
pub mod reporter;
