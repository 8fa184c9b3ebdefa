//! HDR histograms as text: HdrHistogram's V2 encoding, DEFLATE-compressed, in base64. The one
//! encoding of the histograms in summaries, baselines and shard files, so any of them can be
//! decoded and added to another exactly.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{
    DeserializeError, Deserializer, Serializer as _, V2DeflateSerializer,
};

/// Why a histogram's text does not decode.
#[derive(Debug, thiserror::Error)]
pub enum HistogramTextError {
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("not an HdrHistogram (V2 + DEFLATE): {0}")]
    Histogram(#[from] DeserializeError),
}

pub fn encode_histogram(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .expect("serializing into memory cannot fail");
    BASE64.encode(bytes)
}

pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, HistogramTextError> {
    let bytes = BASE64.decode(text)?;
    Ok(Deserializer::new().deserialize(&mut bytes.as_slice())?)
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
        let decoded = decode_histogram(&encode_histogram(&histogram)).unwrap();
        assert_eq!(decoded, histogram);
        assert_eq!(
            (decoded.low(), decoded.high(), decoded.sigfig()),
            (1, 600_000_000, 3)
        );
        assert!(matches!(
            decode_histogram("not base64!"),
            Err(HistogramTextError::Base64(_))
        ));
        assert!(matches!(
            decode_histogram("SElTVEZBQUFB"),
            Err(HistogramTextError::Histogram(_))
        ));
    }
}
