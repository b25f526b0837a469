//! Form and query parameters (Open311, the web form), decoded strictly: percent-escapes that do not decode to
//! UTF-8 are refused by name instead of being replaced (the usual lossy decoding would
//! store U+FFFD in a complaint), and a parameter given twice is an error unless it is a
//! multi-value attribute (`attribute[code][]`).

use percent_encoding::percent_decode;

/// Decoded pairs in their order.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

fn decode(raw: &str, what: &str) -> Result<String, String> {
    let spaced = raw.replace('+', " ");
    percent_decode(spaced.as_bytes())
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| format!("{what} is not valid UTF-8"))
}

impl Params {
    pub fn parse(raw: &str) -> Result<Params, String> {
        let mut params = Params::default();
        for piece in raw.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            let key = decode(key, "a parameter name")?;
            let value = decode(value, &format!("parameter {key}"))?;
            params.push(key, value)?;
        }
        Ok(params)
    }

    /// Adds a decoded pair (a multipart form's text field), refusing a repeated name.
    pub fn push(&mut self, key: String, value: String) -> Result<(), String> {
        if !key.ends_with("[]") && self.0.iter().any(|(k, _)| *k == key) {
            return Err(format!("parameter {key} is given more than once"));
        }
        self.0.push((key, value));
        Ok(())
    }

    /// A parameter's value; sent empty counts as absent (GeoReport v2 conventions).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Comma-separated values of a parameter, trimmed, empty ones dropped.
    pub fn list(&self, key: &str) -> Vec<&str> {
        self.get(key)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    /// `attribute[code]=v` and `attribute[code][]=v` pairs as (code, value).
    pub fn attributes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().filter_map(|(key, value)| {
            let code = key.strip_prefix("attribute[")?;
            let code = code.strip_suffix("][]").or_else(|| code.strip_suffix(']'))?;
            Some((code, value.trim()))
        })
    }

    /// Names of parameters that look like attributes but are not well formed.
    pub fn malformed_attribute(&self) -> Option<&str> {
        self.0
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| k.starts_with("attribute") && !(k.starts_with("attribute[") && (k.ends_with(']'))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_escapes_and_reads_attributes() {
        let params = Params::parse(
            "service_code=infrastruktur.jalan-jembatan&description=Jalan+berlubang%2C+dalam&\
             attribute%5Bkabupaten%5D=6371&attribute[x][]=a&attribute[x][]=b&email=",
        )
        .expect("parses");
        assert_eq!(params.get("description"), Some("Jalan berlubang, dalam"));
        assert_eq!(params.get("email"), None);
        let attributes: Vec<_> = params.attributes().collect();
        assert_eq!(attributes, [("kabupaten", "6371"), ("x", "a"), ("x", "b")]);
    }

    #[test]
    fn refuses_invalid_utf8_and_repeats() {
        assert_eq!(
            Params::parse("description=%FF%FE").expect_err("refused"),
            "parameter description is not valid UTF-8"
        );
        assert_eq!(
            Params::parse("status=open&status=closed").expect_err("refused"),
            "parameter status is given more than once"
        );
    }

    #[test]
    fn lists_split_on_commas() {
        let params = Params::parse("service_request_id=A,%20B,,C").expect("parses");
        assert_eq!(params.list("service_request_id"), ["A", "B", "C"]);
    }

    #[test]
    fn spots_malformed_attribute_names() {
        let params = Params::parse("attribute=6371&attributes[a]=1").expect("parses");
        assert_eq!(params.malformed_attribute(), Some("attribute"));
    }
}
