//! Numbers as a reader expects them: Bahasa Indonesia groups thousands with "." and writes
//! the decimal comma ("1.234,5"); English the other way round ("1,234.5"). Every page and
//! message that prints a figure goes through here.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notation {
    Indonesian,
    English,
}

impl Notation {
    /// (thousands separator, decimal point)
    fn separators(self) -> (char, char) {
        match self {
            Notation::Indonesian => ('.', ','),
            Notation::English => (',', '.'),
        }
    }
}

fn group(digits: &str, thousands: char) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(thousands);
        }
        out.push(digit);
    }
    out
}

/// A count: "1.234.567" / "1,234,567".
pub fn count(notation: Notation, n: u64) -> String {
    group(&n.to_string(), notation.separators().0)
}

/// A finite number with `places` digits after the point: "1.234,5" / "1,234.5"; `None`
/// for not-a-number or infinity (callers print their own placeholder).
pub fn decimal(notation: Notation, value: f64, places: usize) -> Option<String> {
    if !value.is_finite() {
        return None;
    }
    let (thousands, point) = notation.separators();
    let text = format!("{:.places$}", value.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let negative = value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0');
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&group(whole, thousands));
    if !fraction.is_empty() {
        out.push(point);
        out.push_str(fraction);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_notations() {
        assert_eq!(count(Notation::Indonesian, 1_234_567), "1.234.567");
        assert_eq!(count(Notation::English, 1_234_567), "1,234,567");
        assert_eq!(count(Notation::Indonesian, 999), "999");
        assert_eq!(decimal(Notation::Indonesian, 1234.56, 1).as_deref(), Some("1.234,6"));
        assert_eq!(decimal(Notation::English, 87.5, 1).as_deref(), Some("87.5"));
        assert_eq!(decimal(Notation::English, -0.01, 1).as_deref(), Some("0.0"));
        assert_eq!(decimal(Notation::English, -2.5, 1).as_deref(), Some("-2.5"));
        assert_eq!(decimal(Notation::Indonesian, f64::NAN, 1), None);
    }
}
