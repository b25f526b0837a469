//! The analytics service's HTTP pages as pure rendering: maud HTML ([`pages`]) with SVG charts
//! ([`svg`]), words and number formats in Bahasa Indonesia and English ([`labels`]), and
//! CSV/JSON export bodies ([`export`]). Handlers, queries and authentication live elsewhere;
//! everything here turns `lapor.analytics.v1` figures into bytes and has no I/O.

pub mod export;
pub mod labels;
pub mod pages;
pub mod svg;

pub use labels::Lang;
pub use pages::FilterForm;
