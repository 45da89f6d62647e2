use compact_str::CompactString;

use super::Sym;

/// An attribute value, as OTLP `AnyValue` defines it.
///
/// Strings up to 24 bytes (most attribute values: methods, status words, hosts, ids) are
/// stored inline, with no allocation of their own; the enum stays 24 bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyValue {
    Str(CompactString),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Box<[u8]>),
    Array(Box<[AnyValue]>),
    KvList(Box<[KeyValue]>),
    /// An attribute present without a value (OTLP `AnyValue` with no field set).
    Empty,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: Sym,
    pub value: AnyValue,
}

impl KeyValue {
    pub fn new(key: &str, value: AnyValue) -> Self {
        KeyValue {
            key: Sym::new(key),
            value,
        }
    }
}

impl AnyValue {
    /// A string value that owns no more memory than it needs: short ones inline, long ones
    /// in an exactly sized allocation (decoders' `String`s often carry spare capacity).
    pub fn string(s: String) -> AnyValue {
        if s.len() <= size_of::<CompactString>() {
            AnyValue::Str(CompactString::from(s.as_str()))
        } else {
            AnyValue::Str(CompactString::from(s.into_boxed_str()))
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            AnyValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AnyValue::Int(i) => Some(*i),
            AnyValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Booleans as telemetry really sends them: a bool, or the strings "true"/"false".
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AnyValue::Bool(b) => Some(*b),
            AnyValue::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
            AnyValue::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// Bytes held on the heap, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            // Inline strings hold nothing on the heap.
            AnyValue::Str(s) if s.is_heap_allocated() => s.capacity(),
            AnyValue::Str(_) => 0,
            AnyValue::Bytes(b) => b.len(),
            AnyValue::Array(a) => {
                a.len() * size_of::<AnyValue>() + a.iter().map(AnyValue::heap_size).sum::<usize>()
            }
            AnyValue::KvList(kv) => {
                kv.len() * size_of::<KeyValue>()
                    + kv.iter().map(|k| k.value.heap_size()).sum::<usize>()
            }
            AnyValue::Bool(_) | AnyValue::Int(_) | AnyValue::Double(_) | AnyValue::Empty => 0,
        }
    }
}

impl std::fmt::Display for AnyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnyValue::Str(s) => f.write_str(s),
            AnyValue::Bool(b) => write!(f, "{b}"),
            AnyValue::Int(i) => write!(f, "{i}"),
            AnyValue::Double(d) => write!(f, "{d}"),
            AnyValue::Bytes(b) => {
                for byte in b.iter() {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            AnyValue::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            AnyValue::KvList(kvs) => {
                f.write_str("{")?;
                for (i, kv) in kvs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {}", kv.key, kv.value)?;
                }
                f.write_str("}")
            }
            AnyValue::Empty => Ok(()),
        }
    }
}

/// Looks up `key` among `attrs` without interning it (an absent key never grows the table).
pub fn find_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    // No interner lookup (a string hash and a shard lock) for a span without attributes.
    if attrs.is_empty() {
        return None;
    }
    let sym = Sym::get(key)?;
    attrs.iter().find(|kv| kv.key == sym).map(|kv| &kv.value)
}
