pub mod delivery;
pub mod recipient;
