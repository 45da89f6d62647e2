//! The `/` filter language. Space-separated terms, all of which must match:
//! `error`, `coldstart`, `nplus1`, `fanout`, `orphan` (flags), `duration>250ms` / `duration<1s`,
//! `service=NAME`, `KEY=VALUE` (any span attribute or resource attribute, traces only), and
//! plain words, matched as substrings of the row's names.

use crate::units::parse_duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Error,
    ColdStart,
    NPlus1,
    Fanout,
    Orphan,
    LongerThan(u64),
    ShorterThan(u64),
    Service(String),
    Attr(String, String),
    Text(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    text: String,
    pub terms: Vec<Term>,
}

impl Filter {
    pub fn parse(text: &str) -> Filter {
        let terms = text.split_whitespace().map(parse_term).collect();
        Filter {
            text: text.trim().to_owned(),
            terms,
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

fn parse_term(word: &str) -> Term {
    let lower = word.to_ascii_lowercase();
    match lower.as_str() {
        "error" | "errors" => return Term::Error,
        "coldstart" | "cold" => return Term::ColdStart,
        "nplus1" | "n+1" => return Term::NPlus1,
        "fanout" | "fan-out" => return Term::Fanout,
        "orphan" | "orphans" => return Term::Orphan,
        _ => {}
    }
    for (op, longer) in [(">", true), ("<", false)] {
        if let Some(v) = lower.strip_prefix(&format!("duration{op}"))
            && let Ok(d) = parse_duration(v)
        {
            let ns = d.as_nanos() as u64;
            return if longer {
                Term::LongerThan(ns)
            } else {
                Term::ShorterThan(ns)
            };
        }
    }
    match word.split_once('=') {
        Some(("service", v)) => Term::Service(v.to_owned()),
        Some((k, v)) if !k.is_empty() => Term::Attr(k.to_owned(), v.to_owned()),
        _ => Term::Text(lower),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_of_term() {
        let f = Filter::parse(
            "error coldstart duration>250ms service=checkout-fn http.route=/orders pay",
        );
        assert_eq!(
            f.terms,
            vec![
                Term::Error,
                Term::ColdStart,
                Term::LongerThan(250_000_000),
                Term::Service("checkout-fn".into()),
                Term::Attr("http.route".into(), "/orders".into()),
                Term::Text("pay".into()),
            ]
        );
        assert_eq!(Filter::parse(" nplus1 ").text(), "nplus1");
        assert_eq!(
            Filter::parse("duration<1s").terms,
            vec![Term::ShorterThan(1_000_000_000)]
        );
    }
}
