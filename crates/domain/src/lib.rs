//! Pure rules of LAPOR: reference data (SKPDs, kabupaten/kota, categories, routing rules,
//! officers), submission validation, case states and tracking ids. No I/O besides reading
//! the seed files; every service shares these definitions so each concept lives once.

pub mod calendar;
pub mod directory_edit;
pub mod local_time;
pub mod numbers;
pub mod reference;
pub mod routing_rules;
pub mod sla;
pub mod sms_text;
pub mod state;
pub mod submission;
pub mod tracking_id;
pub mod workflow;

pub use reference::{Directory, ReferenceError};
pub use state::CaseState;
pub use submission::{FieldError, SubmissionDraft, ValidSubmission};
