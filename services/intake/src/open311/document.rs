//! One response shape, two renderings: GeoReport v2 defines XML and a JSON mapping of it,
//! so every response is built once as a [`Node`] tree and written as either. Lists name
//! their items, as the XML needs (`<services><service>…`); the JSON drops those names.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The format chosen by the resource's suffix (`services.json`, `services.xml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// Splits `requests.json` into `("requests", Json)`; `None` for a missing or other suffix.
    /// Service codes hold dots themselves, so only the last one separates the format.
    pub fn split(resource: &str) -> Option<(&str, Format)> {
        let (stem, suffix) = resource.rsplit_once('.')?;
        let format = match suffix {
            "json" => Format::Json,
            "xml" => Format::Xml,
            _ => return None,
        };
        (!stem.is_empty()).then_some((stem, format))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Number(f64),
    Integer(i64),
    Bool(bool),
    /// Absent value: JSON `null`, an empty XML element.
    Null,
    Object(Vec<(&'static str, Node)>),
    /// Items, each an XML element named by the first field.
    List(&'static str, Vec<Node>),
}

impl Node {
    pub fn text(value: impl Into<String>) -> Node {
        Node::Text(value.into())
    }

    pub fn optional_text(value: Option<impl Into<String>>) -> Node {
        value.map_or(Node::Null, |v| Node::Text(v.into()))
    }

    fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Text(text) => Value::String(text.clone()),
            Node::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
            Node::Integer(n) => Value::from(*n),
            Node::Bool(b) => Value::Bool(*b),
            Node::Null => Value::Null,
            Node::Object(fields) => Value::Object(fields.iter().map(|(k, v)| ((*k).to_owned(), v.to_json())).collect()),
            Node::List(_, items) => Value::Array(items.iter().map(Node::to_json).collect()),
        }
    }

    fn write_xml(&self, name: &str, out: &mut String) {
        match self {
            Node::Null => {
                out.push('<');
                out.push_str(name);
                out.push_str("/>");
            }
            Node::Object(fields) => {
                open(name, out);
                for (key, value) in fields {
                    value.write_xml(key, out);
                }
                close(name, out);
            }
            Node::List(item, items) => {
                open(name, out);
                for value in items {
                    value.write_xml(item, out);
                }
                close(name, out);
            }
            Node::Text(text) => element(name, &escape(text), out),
            Node::Number(n) => element(name, &n.to_string(), out),
            Node::Integer(n) => element(name, &n.to_string(), out),
            Node::Bool(b) => element(name, if *b { "true" } else { "false" }, out),
        }
    }

    /// The document in `format`, `root` naming the outermost XML element.
    pub fn render(&self, root: &str, format: Format) -> (&'static str, String) {
        match format {
            Format::Json => ("application/json; charset=utf-8", self.to_json().to_string()),
            Format::Xml => {
                let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
                self.write_xml(root, &mut out);
                ("text/xml; charset=utf-8", out)
            }
        }
    }

    pub fn respond(&self, status: StatusCode, root: &str, format: Format) -> Response {
        let (content_type, body) = self.render(root, format);
        (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
    }
}

fn open(name: &str, out: &mut String) {
    out.push('<');
    out.push_str(name);
    out.push('>');
}

fn close(name: &str, out: &mut String) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn element(name: &str, escaped: &str, out: &mut String) {
    open(name, out);
    out.push_str(escaped);
    close(name, out);
}

/// Text content made inert: markup characters become entities, and characters XML 1.0
/// cannot carry at all (most control characters) are dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// A GeoReport error: the HTTP status, and the body `[{code, description}]` the spec
/// defines (`<errors><error>…`), whose code may be more specific than the status.
#[derive(Debug)]
pub struct Open311Error {
    pub status: StatusCode,
    pub code: u16,
    pub description: String,
    pub format: Format,
    pub retry_after: Option<u64>,
}

impl Open311Error {
    pub fn new(status: StatusCode, description: impl Into<String>, format: Format) -> Self {
        Self {
            status,
            code: status.as_u16(),
            description: description.into(),
            format,
            retry_after: None,
        }
    }

    pub fn bad_request(description: impl Into<String>, format: Format) -> Self {
        Self::new(StatusCode::BAD_REQUEST, description, format)
    }

    pub fn not_found(description: impl Into<String>, format: Format) -> Self {
        Self::new(StatusCode::NOT_FOUND, description, format)
    }
}

impl IntoResponse for Open311Error {
    fn into_response(self) -> Response {
        let body = Node::List(
            "error",
            vec![Node::Object(vec![
                ("code", Node::Integer(i64::from(self.code))),
                ("description", Node::Text(self.description)),
            ])],
        );
        let mut response = body.respond(self.status, "errors", self.format);
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_format_from_the_last_dot() {
        assert_eq!(
            Format::split("infrastruktur.jalan-jembatan.xml"),
            Some(("infrastruktur.jalan-jembatan", Format::Xml))
        );
        assert_eq!(Format::split("services.json"), Some(("services", Format::Json)));
        assert_eq!(Format::split("services"), None);
        assert_eq!(Format::split("services.html"), None);
        assert_eq!(Format::split(".json"), None);
    }

    #[test]
    fn one_tree_renders_as_json_and_as_xml() {
        let tree = Node::List(
            "request",
            vec![Node::Object(vec![
                ("service_request_id", Node::text("LPR7K2M9QX")),
                ("description", Node::text("<script>alert(1)</script> & \u{1} done")),
                ("lat", Node::Number(-3.3194)),
                ("media_url", Node::Null),
            ])],
        );
        let (_, json) = tree.render("service_requests", Format::Json);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&json).expect("json"),
            serde_json::json!([{
                "service_request_id": "LPR7K2M9QX",
                "description": "<script>alert(1)</script> & \u{1} done",
                "lat": -3.3194,
                "media_url": null,
            }])
        );
        let (_, xml) = tree.render("service_requests", Format::Xml);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><service_requests><request>\
             <service_request_id>LPR7K2M9QX</service_request_id>\
             <description>&lt;script&gt;alert(1)&lt;/script&gt; &amp;  done</description>\
             <lat>-3.3194</lat><media_url/></request></service_requests>"
        );
    }
}
