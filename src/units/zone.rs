//! The local time zone, read from the system's TZif data (`TZ`, else `/etc/localtime`), for
//! showing absolute times in local time beside UTC. No zone crate: the TZif transitions are
//! all that is read. Debian's tzdata files are "fat" (transitions listed to 2037); a time past
//! the last transition keeps its offset (the POSIX rule in the file's footer is not read).

use std::path::Path;

use super::civil_date;

/// A time zone: its UTC offsets and abbreviations, and when each starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// Shown with the offset when the abbreviation says nothing more (`Europe/Berlin`).
    pub name: String,
    /// Unix seconds at which `kinds[which[i]]` starts, ascending.
    starts: Vec<i64>,
    which: Vec<usize>,
    /// (UTC offset in seconds, abbreviation).
    kinds: Vec<(i32, String)>,
}

impl Zone {
    pub fn utc() -> Zone {
        Zone::fixed("UTC", 0, "UTC")
    }

    /// One offset at all times.
    pub fn fixed(name: &str, offset_s: i32, abbr: &str) -> Zone {
        Zone {
            name: name.to_owned(),
            starts: Vec::new(),
            which: Vec::new(),
            kinds: vec![(offset_s, abbr.to_owned())],
        }
    }

    /// The system's zone: `TZ` (a zone name, `:name` or a file path), else `/etc/localtime`;
    /// UTC when neither can be read.
    pub fn system() -> Zone {
        let tz = std::env::var("TZ").ok().filter(|v| !v.is_empty());
        let (name, path) = match tz.as_deref().map(|v| v.strip_prefix(':').unwrap_or(v)) {
            Some(v) if v.starts_with('/') => (v.to_owned(), v.to_owned()),
            Some(v) => (v.to_owned(), format!("/usr/share/zoneinfo/{v}")),
            None => {
                let link = std::fs::read_link("/etc/localtime").ok();
                let name = link
                    .as_deref()
                    .and_then(Path::to_str)
                    .and_then(|p| p.split_once("zoneinfo/").map(|(_, n)| n.to_owned()))
                    .unwrap_or_else(|| "localtime".to_owned());
                (name, "/etc/localtime".to_owned())
            }
        };
        std::fs::read(&path)
            .ok()
            .and_then(|bytes| Zone::from_tzif(&name, &bytes))
            .unwrap_or_else(Zone::utc)
    }

    /// Parses TZif data (RFC 8536, versions 1 to 4): the 64-bit block when there is one.
    pub fn from_tzif(name: &str, bytes: &[u8]) -> Option<Zone> {
        let mut r = Reader { b: bytes, at: 0 };
        let (version, counts) = r.header()?;
        if version == 0 || version == b'1' {
            return r.block(name, &counts, 4);
        }
        // Version 2 and up: skip the 32-bit block; the 64-bit one follows with its own header.
        r.skip_block(&counts, 4)?;
        let (_, counts) = r.header()?;
        r.block(name, &counts, 8)
    }

    /// (offset in seconds, abbreviation) at Unix second `t`.
    pub fn at(&self, t: i64) -> (i32, &str) {
        let i = self.starts.partition_point(|&s| s <= t);
        // Before the first transition: the first kind (RFC 8536 §3.2).
        let kind = match i {
            0 => 0,
            i => self.which.get(i - 1).copied().unwrap_or(0),
        };
        self.kinds
            .get(kind)
            .map_or((0, "UTC"), |(o, a)| (*o, a.as_str()))
    }

    /// A Unix time in ns as local time to the millisecond: `2026-01-01 01:00:00.123 CET`
    /// (0 is no timestamp).
    pub fn local(&self, t_ns: u64) -> String {
        if t_ns == 0 {
            return "no timestamp".into();
        }
        let secs = (t_ns / 1_000_000_000) as i64;
        let (offset, abbr) = self.at(secs);
        let local_ns = t_ns.saturating_add_signed(i64::from(offset) * 1_000_000_000);
        let (y, m, d) = civil_date(local_ns);
        let s = local_ns / 1_000_000_000 % 86_400;
        let sign = if offset < 0 { '-' } else { '+' };
        let off = offset.unsigned_abs();
        // Abbreviations like "+03" are the offset already.
        let zone = if abbr.starts_with(['+', '-']) || abbr.is_empty() {
            format!("{sign}{:02}:{:02}", off / 3600, off / 60 % 60)
        } else {
            abbr.to_owned()
        };
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03} {zone}",
            s / 3600,
            s / 60 % 60,
            s % 60,
            local_ns % 1_000_000_000 / 1_000_000
        )
    }
}

/// The six counts of a TZif header.
struct Counts {
    isut: usize,
    isstd: usize,
    leap: usize,
    time: usize,
    kind: usize,
    chars: usize,
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.b.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn header(&mut self) -> Option<(u8, Counts)> {
        if self.take(4)? != b"TZif" {
            return None;
        }
        let version = *self.take(1)?.first()?;
        self.take(15)?;
        let mut n = || self.u32().map(|v| v as usize);
        Some((
            version,
            Counts {
                isut: n()?,
                isstd: n()?,
                leap: n()?,
                time: n()?,
                kind: n()?,
                chars: n()?,
            },
        ))
    }

    fn skip_block(&mut self, c: &Counts, time_size: usize) -> Option<()> {
        let len = c.time * (time_size + 1)
            + c.kind * 6
            + c.chars
            + c.leap * (time_size + 4)
            + c.isstd
            + c.isut;
        self.take(len).map(|_| ())
    }

    fn block(&mut self, name: &str, c: &Counts, time_size: usize) -> Option<Zone> {
        let mut starts = Vec::with_capacity(c.time);
        for _ in 0..c.time {
            let raw = self.take(time_size)?;
            starts.push(match time_size {
                8 => i64::from_be_bytes(raw.try_into().ok()?),
                _ => i64::from(i32::from_be_bytes(raw.try_into().ok()?)),
            });
        }
        let which: Vec<usize> = self.take(c.time)?.iter().map(|&i| usize::from(i)).collect();
        let mut raw_kinds = Vec::with_capacity(c.kind);
        for _ in 0..c.kind {
            let k = self.take(6)?;
            let offset = i32::from_be_bytes(k.get(..4)?.try_into().ok()?);
            raw_kinds.push((offset, usize::from(*k.get(5)?)));
        }
        let chars = self.take(c.chars)?;
        let kinds = raw_kinds
            .into_iter()
            .map(|(offset, at)| {
                let abbr = chars.get(at..).unwrap_or_default();
                let end = abbr.iter().position(|&b| b == 0).unwrap_or(abbr.len());
                (offset, String::from_utf8_lossy(&abbr[..end]).into_owned())
            })
            .collect::<Vec<_>>();
        if kinds.is_empty() || which.iter().any(|&i| i >= kinds.len()) {
            return None;
        }
        Some(Zone {
            name: name.to_owned(),
            starts,
            which,
            kinds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-2 TZif with one transition: CET until 2026-03-29T01:00Z, then CEST.
    fn berlin_2026() -> Vec<u8> {
        let header = |time: u32, kind: u32, chars: u32| {
            let mut h = b"TZif2".to_vec();
            h.extend([0u8; 15]);
            for n in [0, 0, 0, time, kind, chars] {
                h.extend(u32::to_be_bytes(n));
            }
            h
        };
        let chars = b"CET\0CEST\0";
        let kinds = |out: &mut Vec<u8>| {
            out.extend(3600i32.to_be_bytes());
            out.extend([0, 0]);
            out.extend(7200i32.to_be_bytes());
            out.extend([1, 4]);
        };
        let spring: i64 = 1_774_746_000; // 2026-03-29T01:00:00Z
        let mut b = header(1, 2, chars.len() as u32);
        b.extend((spring as i32).to_be_bytes());
        b.push(1);
        kinds(&mut b);
        b.extend(chars);
        b.extend(header(1, 2, chars.len() as u32));
        b.extend(spring.to_be_bytes());
        b.push(1);
        kinds(&mut b);
        b.extend(chars);
        b.extend(b"\nCET-1CEST,M3.5.0,M10.5.0/3\n");
        b
    }

    #[test]
    fn tzif_transitions_give_the_local_time_either_side() {
        let z = Zone::from_tzif("Europe/Berlin", &berlin_2026()).expect("parses");
        // 2026-01-01T00:00:00.123Z: before the transition, the first kind (CET).
        assert_eq!(
            z.local(1_767_225_600_123_000_000),
            "2026-01-01 01:00:00.123 CET"
        );
        // 2026-07-01T12:00Z is 14:00 CEST.
        assert_eq!(
            z.local(1_782_907_200_000_000_000),
            "2026-07-01 14:00:00.000 CEST"
        );
        assert_eq!(z.local(0), "no timestamp");
    }

    #[test]
    fn numeric_abbreviations_show_as_offsets_and_bad_data_is_refused() {
        let z = Zone::fixed("America/Sao_Paulo", -3 * 3600, "-03");
        assert_eq!(
            z.local(1_767_225_600_000_000_000),
            "2025-12-31 21:00:00.000 -03:00"
        );
        assert_eq!(Zone::from_tzif("x", b"TZif2 not really"), None);
        assert_eq!(Zone::from_tzif("x", b""), None);
        let mut cut = berlin_2026();
        cut.truncate(60);
        assert_eq!(Zone::from_tzif("x", &cut), None);
    }
}
