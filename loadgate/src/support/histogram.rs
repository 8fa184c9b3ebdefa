//! HDR histograms as text: HdrHistogram's V2 encoding, DEFLATE-compressed, in base64. The one
//! encoding of the histograms in summaries, baselines and shard files, so any of them can be
//! decoded and added to another exactly.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{
    DeserializeError, Deserializer, Serializer as _, V2DeflateSerializer,
};
use serde::{Deserialize, Serialize};

/// Why a histogram's text does not decode.
#[derive(Debug, thiserror::Error)]
pub enum HistogramTextError {
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("not an HdrHistogram (V2 + DEFLATE): {0}")]
    Histogram(#[from] DeserializeError),
}

/// An HDR histogram as summaries, baselines and shard files hold it, in its one encoding. It
/// stays encoded (a decoded one is ~160 KB, and a run keeps one per request name, per round and
/// per second) and is decoded only where it is added or drawn; it serializes as its text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EncodedHistogram(String);

/// In the JSON schemas, the string it is, inline, as before it had a type of its own.
impl schemars::JsonSchema for EncodedHistogram {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        String::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

impl EncodedHistogram {
    pub fn encode(histogram: &Histogram<u64>) -> EncodedHistogram {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(histogram, &mut bytes)
            .expect("serializing into memory cannot fail");
        EncodedHistogram(BASE64.encode(bytes))
    }

    pub fn decode(&self) -> Result<Histogram<u64>, HistogramTextError> {
        let bytes = BASE64.decode(&self.0)?;
        Ok(Deserializer::new().deserialize(&mut bytes.as_slice())?)
    }

    /// Whether there is no text at all (a summary's placeholder, never an encoding).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Text that is not an encoding, as hand-made fixtures hold it: decoding it fails.
#[cfg(test)]
impl From<&str> for EncodedHistogram {
    fn from(text: &str) -> EncodedHistogram {
        EncodedHistogram(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_a_round_trip_through_text() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
        for us in [120, 450, 900, 15_000] {
            histogram.record(us).unwrap();
        }
        let encoded = EncodedHistogram::encode(&histogram);
        let decoded = encoded.decode().unwrap();
        assert_eq!(decoded, histogram);
        assert_eq!(
            (decoded.low(), decoded.high(), decoded.sigfig()),
            (1, 600_000_000, 3)
        );
        assert!(matches!(
            EncodedHistogram::from("not base64!").decode(),
            Err(HistogramTextError::Base64(_))
        ));
        assert!(matches!(
            EncodedHistogram::from("SElTVEZBQUFB").decode(),
            Err(HistogramTextError::Histogram(_))
        ));
        // Serialized as its text alone, as summaries and shard files have always held it.
        let json = serde_json::to_string(&encoded).unwrap();
        assert_eq!(json, format!("\"{}\"", encoded.0));
        assert_eq!(
            serde_json::from_str::<EncodedHistogram>(&json).unwrap(),
            encoded
        );
    }
}
