pub mod case;
pub mod case_attachment;
pub mod case_text;
pub mod skpd;
