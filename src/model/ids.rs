use std::fmt;
use std::num::{NonZeroU64, NonZeroU128};

/// Why bytes or text could not become an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("expected {expected} bytes, got {got}")]
    Length { expected: usize, got: usize },
    #[error("id is all zeros")]
    Zero,
    #[error("id is not hex: {0:?}")]
    NotHex(String),
}

/// A 16-byte W3C trace id. Never all zeros, so `Option<TraceId>` costs nothing extra.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(NonZeroU128);

/// An 8-byte span id. Never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

impl TraceId {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        let arr: [u8; 16] = bytes.try_into().map_err(|_| IdError::Length {
            expected: 16,
            got: bytes.len(),
        })?;
        NonZeroU128::new(u128::from_be_bytes(arr))
            .map(TraceId)
            .ok_or(IdError::Zero)
    }

    /// Parses 32 hex digits; 16 digits (64-bit Zipkin/Jaeger ids) are left-padded with zeros,
    /// as Zipkin and Jaeger do when they meet 128-bit systems.
    pub fn from_hex(hex: &str) -> Result<Self, IdError> {
        let hex = hex.trim();
        if hex.is_empty() || hex.len() > 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IdError::NotHex(hex.chars().take(40).collect()));
        }
        let v = u128::from_str_radix(hex, 16).map_err(|_| IdError::NotHex(hex.to_owned()))?;
        NonZeroU128::new(v).map(TraceId).ok_or(IdError::Zero)
    }

    pub fn from_u128(v: u128) -> Option<Self> {
        NonZeroU128::new(v).map(TraceId)
    }

    pub fn to_bytes(self) -> [u8; 16] {
        self.0.get().to_be_bytes()
    }

    pub fn as_u128(self) -> u128 {
        self.0.get()
    }

    /// Which of `shards` instances this trace goes to when traces are split by id, as the
    /// Collector's load-balancing exporter splits them: any stable hash keeps whole traces
    /// together (FNV-1a over the 16 bytes here). For tests and examples of a cluster.
    pub fn shard(self, shards: usize) -> usize {
        let h = self
            .to_bytes()
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
        (h % shards.max(1) as u64) as usize
    }
}

impl SpanId {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        let arr: [u8; 8] = bytes.try_into().map_err(|_| IdError::Length {
            expected: 8,
            got: bytes.len(),
        })?;
        NonZeroU64::new(u64::from_be_bytes(arr))
            .map(SpanId)
            .ok_or(IdError::Zero)
    }

    pub fn from_hex(hex: &str) -> Result<Self, IdError> {
        let hex = hex.trim();
        if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IdError::NotHex(hex.chars().take(40).collect()));
        }
        let v = u64::from_str_radix(hex, 16).map_err(|_| IdError::NotHex(hex.to_owned()))?;
        NonZeroU64::new(v).map(SpanId).ok_or(IdError::Zero)
    }

    pub fn from_u64(v: u64) -> Option<Self> {
        NonZeroU64::new(v).map(SpanId)
    }

    pub fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_be_bytes()
    }

    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0.get())
    }
}
impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}
impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0.get())
    }
}
impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

impl serde::Serialize for TraceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl serde::Serialize for SpanId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_padding() {
        let t = TraceId::from_hex("5B8EFFF798038103D269B633813FC60C").expect("valid");
        assert_eq!(t.to_string(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(TraceId::from_bytes(&t.to_bytes()), Ok(t));
        let short = TraceId::from_hex("d269b633813fc60c").expect("64-bit id");
        assert_eq!(short.to_string(), "0000000000000000d269b633813fc60c");
        assert_eq!(
            SpanId::from_hex("EEE19B7EC3C1B174")
                .expect("valid")
                .to_string(),
            "eee19b7ec3c1b174"
        );
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(TraceId::from_bytes(&[0; 16]), Err(IdError::Zero));
        assert_eq!(
            SpanId::from_bytes(&[1; 7]),
            Err(IdError::Length {
                expected: 8,
                got: 7
            })
        );
        assert!(SpanId::from_hex("xyz").is_err());
        assert!(SpanId::from_hex("00000000000000000").is_err());
        assert_eq!(SpanId::from_hex("0000000000000000"), Err(IdError::Zero));
    }
}

/// Where a finding points: one span of one trace. Every finding's evidence is one of these,
/// so a view can open the trace at the span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct SpanRef {
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

impl SpanRef {
    pub fn new(trace_id: TraceId, span_id: SpanId) -> Self {
        SpanRef { trace_id, span_id }
    }
}
