//! Request body decompression for OTLP/HTTP: every `Content-Encoding` the Collector's
//! confighttp accepts (gzip, zstd, zlib/deflate, snappy block or framed, lz4 frame), each
//! stopped at a size limit while it expands, so a small bomb is refused, not inflated.
//!
//! OTLP/gRPC bodies are decompressed by tonic (gzip, zstd, deflate), under the same limit.

use std::io::Read;

/// What a `Content-Encoding` header names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ContentEncoding {
    Identity,
    Gzip,
    Zstd,
    /// `deflate` or `zlib`: HTTP's deflate is zlib-wrapped (RFC 9110), but raw deflate is
    /// sent too, so both are read.
    Deflate,
    /// `snappy`: the block format, or the framed format when the stream starts with the
    /// framing header (as the Collector decides).
    Snappy,
    /// `x-snappy-framed`.
    SnappyFramed,
    /// The LZ4 frame format.
    Lz4,
}

/// The encodings accepted, for error messages.
pub const ACCEPTED: &str = "gzip, zstd, deflate, zlib, snappy, x-snappy-framed, lz4 or identity";

impl ContentEncoding {
    /// Parses a header value; `None` for an encoding spantop cannot read.
    pub fn parse(value: &str) -> Option<ContentEncoding> {
        let v = value.trim();
        let is = |name: &str| v.eq_ignore_ascii_case(name);
        Some(if v.is_empty() || is("identity") || is("none") {
            ContentEncoding::Identity
        } else if is("gzip") || is("x-gzip") {
            ContentEncoding::Gzip
        } else if is("zstd") {
            ContentEncoding::Zstd
        } else if is("deflate") || is("zlib") {
            ContentEncoding::Deflate
        } else if is("snappy") {
            ContentEncoding::Snappy
        } else if is("x-snappy-framed") {
            ContentEncoding::SnappyFramed
        } else if is("lz4") {
            ContentEncoding::Lz4
        } else {
            return None;
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    #[error("decompressed body exceeds the limit of {0} bytes")]
    TooLarge(usize),
    #[error("invalid {encoding} body: {message}")]
    Corrupt {
        encoding: &'static str,
        message: String,
    },
}

/// The snappy framing format's stream identifier chunk.
const SNAPPY_FRAME_HEADER: &[u8] = b"\xff\x06\x00\x00sNaPpY";

/// Decompresses `body`, refusing output larger than `limit`. `Identity` is the caller's fast
/// path and is copied here only for completeness.
pub fn decompress(
    encoding: ContentEncoding,
    body: &[u8],
    limit: usize,
) -> Result<Vec<u8>, DecompressError> {
    match encoding {
        ContentEncoding::Identity => read_limited(body, limit, "identity"),
        ContentEncoding::Gzip => {
            read_limited(flate2::read::MultiGzDecoder::new(body), limit, "gzip")
        }
        ContentEncoding::Deflate if is_zlib_header(body) => {
            read_limited(flate2::read::ZlibDecoder::new(body), limit, "zlib")
        }
        ContentEncoding::Deflate => {
            read_limited(flate2::read::DeflateDecoder::new(body), limit, "deflate")
        }
        ContentEncoding::Zstd => {
            let mut decoder =
                zstd::stream::read::Decoder::new(body).map_err(|e| corrupt("zstd", e))?;
            // The window is memory the decoder allocates up front; a frame asking for more
            // than the body may expand to is refused rather than honoured.
            decoder
                .window_log_max(window_log_for(limit))
                .map_err(|e| corrupt("zstd", e))?;
            read_limited(decoder, limit, "zstd")
        }
        ContentEncoding::Snappy if !body.starts_with(SNAPPY_FRAME_HEADER) => {
            // The block format states its decompressed length first: refuse before expanding.
            let len = snap::raw::decompress_len(body).map_err(|e| corrupt("snappy", e))?;
            if len > limit {
                return Err(DecompressError::TooLarge(limit));
            }
            snap::raw::Decoder::new()
                .decompress_vec(body)
                .map_err(|e| corrupt("snappy", e))
        }
        ContentEncoding::Snappy | ContentEncoding::SnappyFramed => {
            read_limited(snap::read::FrameDecoder::new(body), limit, "snappy")
        }
        ContentEncoding::Lz4 => {
            read_limited(lz4_flex::frame::FrameDecoder::new(body), limit, "lz4")
        }
    }
}

fn corrupt(encoding: &'static str, e: impl std::fmt::Display) -> DecompressError {
    DecompressError::Corrupt {
        encoding,
        message: e.to_string(),
    }
}

/// A zlib stream starts with CMF/FLG: method 8 (deflate) and a header checksum.
fn is_zlib_header(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Enough window for any stream whose output fits `limit`, and at least zstd's default for
/// streams without a known size (level 19 uses 2^23), at most its library maximum default.
fn window_log_for(limit: usize) -> u32 {
    let bits = usize::BITS - limit.max(1).leading_zeros();
    bits.clamp(23, 27)
}

fn read_limited(
    reader: impl Read,
    limit: usize,
    encoding: &'static str,
) -> Result<Vec<u8>, DecompressError> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(encoding, e))?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge(limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn sample() -> Vec<u8> {
        (0..50_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    fn compress(encoding: ContentEncoding, data: &[u8]) -> Vec<u8> {
        match encoding {
            ContentEncoding::Identity => data.to_vec(),
            ContentEncoding::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), Default::default());
                e.write_all(data).expect("gzip");
                e.finish().expect("gzip")
            }
            ContentEncoding::Deflate => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Default::default());
                e.write_all(data).expect("zlib");
                e.finish().expect("zlib")
            }
            ContentEncoding::Zstd => zstd::encode_all(data, 3).expect("zstd"),
            ContentEncoding::Snappy => snap::raw::Encoder::new()
                .compress_vec(data)
                .expect("snappy"),
            ContentEncoding::SnappyFramed => {
                let mut e = snap::write::FrameEncoder::new(Vec::new());
                e.write_all(data).expect("snappy");
                e.into_inner().expect("snappy")
            }
            ContentEncoding::Lz4 => {
                let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
                e.write_all(data).expect("lz4");
                e.finish().expect("lz4")
            }
        }
    }

    const ALL: [ContentEncoding; 7] = [
        ContentEncoding::Identity,
        ContentEncoding::Gzip,
        ContentEncoding::Deflate,
        ContentEncoding::Zstd,
        ContentEncoding::Snappy,
        ContentEncoding::SnappyFramed,
        ContentEncoding::Lz4,
    ];

    #[test]
    fn every_encoding_round_trips() {
        let data = sample();
        for enc in ALL {
            let body = compress(enc, &data);
            let out = decompress(enc, &body, data.len()).expect("decompress");
            assert_eq!(out, data, "{enc:?}");
        }
    }

    #[test]
    fn every_encoding_stops_at_the_limit() {
        let data = sample();
        for enc in ALL {
            let body = compress(enc, &data);
            let err = decompress(enc, &body, data.len() - 1).expect_err("over the limit");
            assert!(
                matches!(err, DecompressError::TooLarge(_)),
                "{enc:?}: {err}"
            );
        }
    }

    #[test]
    fn raw_deflate_and_framed_snappy_under_their_short_names() {
        let data = sample();
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
        e.write_all(&data).expect("deflate");
        let raw = e.finish().expect("deflate");
        assert_eq!(
            decompress(ContentEncoding::Deflate, &raw, data.len()).expect("raw deflate"),
            data
        );
        let framed = compress(ContentEncoding::SnappyFramed, &data);
        assert_eq!(
            decompress(ContentEncoding::Snappy, &framed, data.len()).expect("framed snappy"),
            data
        );
    }

    #[test]
    fn a_gzip_bomb_is_refused_without_expanding() {
        // 64 MiB of zeros compress to about 64 KiB.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            e.write_all(&zeros).expect("gzip");
        }
        let bomb = e.finish().expect("gzip");
        let err = decompress(ContentEncoding::Gzip, &bomb, 1 << 20).expect_err("bomb");
        assert!(matches!(err, DecompressError::TooLarge(_)));
    }

    #[test]
    fn corrupt_bodies_and_unknown_names_are_errors() {
        for enc in ALL.into_iter().skip(1) {
            let err = decompress(enc, b"\x01\x02definitely not compressed", 1 << 20);
            assert!(
                matches!(err, Err(DecompressError::Corrupt { .. })),
                "{enc:?}"
            );
        }
        assert_eq!(ContentEncoding::parse("br"), None);
        assert_eq!(
            ContentEncoding::parse(" GZip "),
            Some(ContentEncoding::Gzip)
        );
        assert_eq!(ContentEncoding::parse(""), Some(ContentEncoding::Identity));
    }
}
