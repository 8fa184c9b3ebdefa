//! Human-readable quantities as written in specs ("250ms", "10%", "100ms..500ms") and their
//! display form in reports. Parsing returns plain `String` errors; the spec module adds file,
//! line and key.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// The JSON Schema of a quantity written as text, for editors completing specs.
macro_rules! text_schema {
    ($type:ty, $name:literal, $description:literal, $pattern:literal, $example:literal) => {
        impl schemars::JsonSchema for $type {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "description": $description,
                    "pattern": $pattern,
                    "examples": [$example],
                })
            }
        }
    };
}

/// Parses "250ms", "1.5s", "2m", or "0".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if let Some(number) = text
        .strip_suffix("ms")
        .and_then(|n| n.trim().parse::<f64>().ok())
    {
        return non_negative_secs(number / 1e3, text);
    }
    if let Some(number) = text
        .strip_suffix('s')
        .and_then(|n| n.trim().parse::<f64>().ok())
    {
        return non_negative_secs(number, text);
    }
    humantime::parse_duration(text).map_err(|_| {
        format!("invalid duration `{text}`: expected a number with a unit, like \"250ms\", \"1.5s\" or \"2m\"")
    })
}

fn non_negative_secs(secs: f64, text: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("invalid duration `{text}`: must be a non-negative, finite amount"))
}

/// Parses "10%" or "0.5%" into a fraction (0.10, 0.005).
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text
        .trim()
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("invalid percentage `{text}`: expected a non-negative number followed by %, like \"10%\""))?;
    Ok(number / 100.0)
}

/// `Deserialize` for a type a spec writes as text: its parser's message is the error, which
/// the spec error then places at the key.
macro_rules! deserialize_from_text {
    ($ty:ty, $parse:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                let parse: fn(&str) -> Result<$ty, String> = $parse;
                parse(&text).map_err(de::Error::custom)
            }
        }
    };
}

/// A duration as written in a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

text_schema!(
    HumanDuration,
    "Duration",
    "A duration with a unit: \"250ms\", \"1.5s\", \"2m\", \"1m 30s\"",
    r"^\s*(0|[0-9.]+\s*[a-zµ]+(\s*[0-9.]+\s*[a-zµ]+)*)\s*$",
    "250ms"
);

deserialize_from_text!(HumanDuration, |text| parse_duration(text)
    .map(HumanDuration));

/// A relative amount as written in a spec ("10%"), held as a fraction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percent(pub f64);

text_schema!(
    Percent,
    "Percent",
    "A percentage: \"10%\", \"0.5%\"",
    r"^\s*[0-9.]+\s*%\s*$",
    "10%"
);

deserialize_from_text!(Percent, |text| parse_percent(text).map(Percent));

/// A think time: a fixed "200ms" or a uniform range "100ms..500ms".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    pub min: Duration,
    pub max: Duration,
}

text_schema!(
    DurationRange,
    "DurationRange",
    "A fixed duration (\"200ms\") or a uniform range (\"100ms..500ms\")",
    r"^[^.]+(\.\.[^.]+)?$",
    "100ms..500ms"
);

impl DurationRange {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (min, max) = match text.split_once("..") {
            Some((min, max)) => (parse_duration(min)?, parse_duration(max)?),
            None => {
                let fixed = parse_duration(text)?;
                (fixed, fixed)
            }
        };
        if min > max {
            return Err(format!(
                "invalid range `{text}`: the minimum is larger than the maximum"
            ));
        }
        Ok(DurationRange { min, max })
    }
}

deserialize_from_text!(DurationRange, DurationRange::parse);

/// A threshold value whose meaning depends on the metric it limits: a duration for latency,
/// a percentage for the error rate, a plain number for requests/second. It is read as written
/// and interpreted while planning, where the metric is known.
#[derive(Debug, Clone, PartialEq)]
pub enum Quantity {
    Text(String),
    Number(f64),
}

impl schemars::JsonSchema for Quantity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A threshold in the metric's unit: a duration for latency (\"20ms\"), a percentage for the error rate (\"1%\"), a size for memory (\"64MiB\"), a number for requests/second",
            "type": ["string", "number"],
        })
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QuantityVisitor;
        impl Visitor<'_> for QuantityVisitor {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a string such as \"20ms\" or \"1%\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Ok(Quantity::Text(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                Ok(Quantity::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                Ok(Quantity::Number(v))
            }
        }
        deserializer.deserialize_any(QuantityVisitor)
    }
}

/// Formats microseconds the way people read latency: "850µs", "12.4ms", "2.35s".
pub fn format_micros(micros: f64) -> String {
    if micros < 1_000.0 {
        format!("{micros:.0}µs")
    } else if micros < 1_000_000.0 {
        format!("{:.2}ms", micros / 1e3)
    } else {
        format!("{:.2}s", micros / 1e6)
    }
}

/// Formats a fraction as a percentage with two decimals: 0.0213 -> "2.13%".
pub fn format_percent(fraction: f64) -> String {
    format!("{:.2}%", fraction * 100.0)
}

/// Rounds to a fixed number of decimals so stored numbers diff cleanly.
pub fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// A duration kept in summaries as seconds with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Seconds(pub f64);

impl From<Duration> for Seconds {
    fn from(duration: Duration) -> Self {
        Seconds(round_to(duration.as_secs_f64(), 3))
    }
}

/// "12.3 MiB".
pub fn format_bytes(bytes: f64) -> String {
    let sign = if bytes < 0.0 { "-" } else { "" };
    format!(
        "{sign}{}",
        bytesize::ByteSize(bytes.abs() as u64).display().iec()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_the_forms_users_write() {
        let cases = [
            ("250ms", Duration::from_millis(250)),
            ("1.5s", Duration::from_millis(1500)),
            ("30s", Duration::from_secs(30)),
            ("2m", Duration::from_secs(120)),
            ("0", Duration::ZERO),
            ("0.5ms", Duration::from_micros(500)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
        for bad in ["", "fast", "10", "-1s", "1x"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("invalid duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn percentages_are_fractions() {
        assert_eq!(parse_percent("10%"), Ok(0.10));
        assert_eq!(parse_percent(" 0.5% "), Ok(0.005));
        assert!(parse_percent("10").is_err());
        assert!(parse_percent("-3%").is_err());
    }

    #[test]
    fn think_time_is_a_fixed_value_or_an_ordered_range() {
        let range = DurationRange::parse("100ms..500ms").unwrap();
        assert_eq!(
            (range.min, range.max),
            (Duration::from_millis(100), Duration::from_millis(500))
        );
        let fixed = DurationRange::parse("200ms").unwrap();
        assert_eq!(fixed.min, fixed.max);
        assert!(
            DurationRange::parse("500ms..100ms")
                .unwrap_err()
                .contains("minimum is larger")
        );
    }

    #[test]
    fn latency_reads_in_the_right_unit() {
        assert_eq!(format_micros(850.0), "850µs");
        assert_eq!(format_micros(12_400.0), "12.40ms");
        assert_eq!(format_micros(2_350_000.0), "2.35s");
        assert_eq!(format_percent(0.0213), "2.13%");
    }
}
