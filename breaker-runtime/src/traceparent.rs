//! A W3C `traceparent`: where a fleet's transition began, carried through Redis so that
//! the replicas that follow it can link their traces to it. Validated on the way in and
//! on the way out: the record is shared with whatever else writes to Redis.

use std::fmt;

/// The trace and span a fleet transition began in (W3C Trace Context, version `00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceParent {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) flags: u8,
}

// Read back from Redis only by the fleet's backend.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl TraceParent {
    /// The length of a version-00 `traceparent`: `00-` 32 hex `-` 16 hex `-` 2 hex.
    pub(crate) const LEN: usize = 55;

    /// A version-00 `traceparent` in lowercase hex, with ids that are not all zero;
    /// `None` for anything else (longer, shorter, another version, not hex).
    pub(crate) fn parse(text: &str) -> Option<TraceParent> {
        let bytes = text.as_bytes();
        if bytes.len() != Self::LEN
            || !text.starts_with("00-")
            || bytes[35] != b'-'
            || bytes[52] != b'-'
        {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        let mut flags = [0u8; 1];
        hex(&bytes[3..35], &mut trace_id)?;
        hex(&bytes[36..52], &mut span_id)?;
        hex(&bytes[53..55], &mut flags)?;
        let valid = trace_id != [0; 16] && span_id != [0; 8];
        valid.then_some(TraceParent {
            trace_id,
            span_id,
            flags: flags[0],
        })
    }
}

/// Lowercase hex pairs into `out`, which they must fill exactly.
fn hex(text: &[u8], out: &mut [u8]) -> Option<()> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    for (pair, byte) in text.chunks_exact(2).zip(out.iter_mut()) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(())
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("00-")?;
        for b in self.trace_id {
            write!(f, "{b:02x}")?;
        }
        f.write_str("-")?;
        for b in self.span_id {
            write!(f, "{b:02x}")?;
        }
        write!(f, "-{:02x}", self.flags)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::TraceParent;

    #[test]
    fn parses_what_it_writes_and_nothing_else() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(text).unwrap();
        assert_eq!(parsed.to_string(), text);
        assert_eq!(parsed.flags, 1);
        for garbage in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",
        ] {
            assert_eq!(TraceParent::parse(garbage), None, "{garbage:?}");
        }
    }
}
