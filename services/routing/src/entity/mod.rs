pub mod case;
pub mod skpd;
