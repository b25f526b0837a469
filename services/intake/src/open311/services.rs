//! Service discovery, the service list and the service definitions: LAPOR!'s categories
//! are the services, and what routing needs beyond the spec's fields (the kabupaten/kota,
//! the kind of report, anonim and rahasia) are the definitions' attributes.

use super::document::Node;
use lapor_domain::Directory;
use lapor_domain::reference::Category;

/// When the service list or the definitions last changed in a way clients should notice.
pub const CHANGESET: &str = "2026-11-28T00:00:00+08:00";

/// The attributes every service defines, by code.
pub const KABUPATEN: &str = "kabupaten";
pub const KIND: &str = "jenis";
pub const ANONIM: &str = "anonim";
pub const RAHASIA: &str = "rahasia";
pub const ATTRIBUTES: [&str; 4] = [KABUPATEN, KIND, ANONIM, RAHASIA];

/// `jenis` values: LAPOR!'s three kinds of report.
pub const KINDS: [(&str, &str); 3] = [
    ("aduan", "Pengaduan"),
    ("aspirasi", "Aspirasi"),
    ("permintaan_informasi", "Permintaan informasi"),
];

pub fn discovery(base_url: &str, contact: &str) -> Node {
    Node::Object(vec![
        ("changeset", Node::text(CHANGESET)),
        ("contact", Node::text(contact)),
        (
            "key_service",
            Node::text("API keys for POST requests are issued by Diskominfo Provinsi Kalimantan Selatan."),
        ),
        (
            "endpoints",
            Node::List(
                "endpoint",
                vec![Node::Object(vec![
                    ("specification", Node::text("http://wiki.open311.org/GeoReport_v2")),
                    ("url", Node::text(base_url)),
                    ("changeset", Node::text(CHANGESET)),
                    ("type", Node::text("production")),
                    (
                        "formats",
                        Node::List("format", vec![Node::text("text/xml"), Node::text("application/json")]),
                    ),
                ])],
            ),
        ),
    ])
}

/// The group of a category: its top-level parent's name (its own at the top).
fn group<'a>(directory: &'a Directory, category: &'a Category) -> &'a str {
    let top = category.code.split('.').next().unwrap_or(&category.code);
    directory
        .categories
        .iter()
        .find(|c| c.code == top)
        .map_or(category.name.as_str(), |c| c.name.as_str())
}

pub fn service_list(directory: &Directory) -> Node {
    Node::List(
        "service",
        directory
            .categories
            .iter()
            .map(|category| {
                Node::Object(vec![
                    ("service_code", Node::text(&category.code)),
                    ("service_name", Node::text(&category.name)),
                    (
                        "description",
                        Node::text(format!(
                            "Pengaduan, aspirasi atau permintaan informasi: {}",
                            category.name
                        )),
                    ),
                    // Every service has attributes: the kabupaten/kota is required.
                    ("metadata", Node::Bool(true)),
                    ("type", Node::text("realtime")),
                    ("keywords", Node::text(category.code.replace(['.', '-'], ", "))),
                    ("group", Node::text(group(directory, category))),
                ])
            })
            .collect(),
    )
}

fn values(pairs: impl Iterator<Item = (String, String)>) -> Node {
    Node::List(
        "value",
        pairs
            .map(|(key, name)| Node::Object(vec![("key", Node::Text(key)), ("name", Node::Text(name))]))
            .collect(),
    )
}

fn attribute(code: &'static str, order: u8, required: bool, description: &str, options: Node) -> Node {
    Node::Object(vec![
        ("variable", Node::Bool(true)),
        ("code", Node::text(code)),
        ("datatype", Node::text("singlevaluelist")),
        ("required", Node::Bool(required)),
        (
            "datatype_description",
            Node::text("Pilih salah satu kunci (key) dari daftar."),
        ),
        ("order", Node::Integer(i64::from(order))),
        ("description", Node::text(description)),
        ("values", options),
    ])
}

fn yes_no() -> Node {
    values(
        [("true", "Ya"), ("false", "Tidak")]
            .into_iter()
            .map(|(k, n)| (k.to_owned(), n.to_owned())),
    )
}

pub fn definition(directory: &Directory, category: &Category) -> Node {
    Node::Object(vec![
        ("service_code", Node::text(&category.code)),
        (
            "attributes",
            Node::List(
                "attribute",
                vec![
                    attribute(
                        KABUPATEN,
                        1,
                        true,
                        "Kabupaten/kota tempat masalah terjadi.",
                        values(directory.kabupaten.iter().map(|k| (k.code.clone(), k.name.clone()))),
                    ),
                    attribute(
                        KIND,
                        2,
                        false,
                        "Jenis laporan (bawaan: aduan).",
                        values(KINDS.iter().map(|(k, n)| ((*k).to_owned(), (*n).to_owned()))),
                    ),
                    attribute(
                        ANONIM,
                        3,
                        false,
                        "Sembunyikan identitas pelapor dari semua petugas.",
                        yes_no(),
                    ),
                    attribute(
                        RAHASIA,
                        4,
                        false,
                        "Laporan tidak tampil di daftar publik mana pun.",
                        yes_no(),
                    ),
                ],
            ),
        ),
    ])
}
