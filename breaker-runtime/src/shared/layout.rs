//! Where a fleet lives in Redis. Breakers are spread over [`BUCKETS`] buckets per
//! namespace by a stable hash of their names; a bucket's records, its version counter and
//! its event channel share one hash tag, `{<namespace>:<bucket>}`, so they share one hash
//! slot (one shard of a Redis Cluster, where a script may touch them together):
//!
//! | what | key or channel |
//! |---|---|
//! | a breaker's record (a hash) | `brk:v2:{<namespace>:<bucket>}:r:<name>` |
//! | a bucket's version, bumped by every transition of its breakers | `brk:v2:{<namespace>:<bucket>}:v` |
//! | a bucket's events | `brk:v2:{<namespace>:<bucket>}:ev` |
//!
//! A replica idle for a while reads only the versions (one `MGET` per poll), and reads
//! again only the records of a bucket whose version moved: its cost does not grow with
//! its breakers. The name stands after the tag, so a `{` or `}` in it leaves the tag
//! alone.

/// Buckets per namespace.
pub(crate) const BUCKETS: u16 = 64;

/// The bucket of the breaker `name`: FNV-1a over its bytes, the same in every process
/// and version.
pub(crate) fn bucket(name: &str) -> u16 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(BUCKETS)) as u16
}

/// The record of the breaker `name`.
pub(crate) fn record_key(namespace: &str, name: &str) -> String {
    format!("brk:v2:{{{namespace}:{}}}:r:{name}", bucket(name))
}

/// The version counter of `bucket`.
pub(crate) fn version_key(namespace: &str, bucket: u16) -> String {
    format!("brk:v2:{{{namespace}:{bucket}}}:v")
}

/// The event channel of `bucket`.
pub(crate) fn channel(namespace: &str, bucket: u16) -> String {
    format!("brk:v2:{{{namespace}:{bucket}}}:ev")
}

/// The Redis Cluster hash slot of `bucket`'s keys and channel: CRC16 (XMODEM) of its
/// hash tag, modulo 16384.
#[cfg(feature = "redis-cluster")]
pub(crate) fn slot(namespace: &str, bucket: u16) -> u16 {
    let tag = format!("{namespace}:{bucket}");
    crc16::State::<crc16::XMODEM>::calculate(tag.as_bytes()) % 16384
}

/// The bucket whose event channel in `namespace` is `channel`, if it is one.
#[cfg_attr(not(feature = "redis-cluster"), allow(dead_code))]
pub(crate) fn bucket_of_channel(namespace: &str, channel: &str) -> Option<u16> {
    let bucket = channel
        .strip_prefix("brk:v2:{")?
        .strip_prefix(namespace)?
        .strip_prefix(':')?
        .strip_suffix("}:ev")?
        .parse()
        .ok()?;
    (bucket < BUCKETS).then_some(bucket)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_breakers_keys_and_channel_share_its_buckets_tag() {
        let b = bucket("payments");
        assert!(b < BUCKETS);
        let tag = format!("{{checkout:{b}}}");
        assert_eq!(
            record_key("checkout", "payments"),
            format!("brk:v2:{tag}:r:payments")
        );
        assert!(version_key("checkout", b).contains(&tag));
        assert!(channel("checkout", b).contains(&tag));
        assert_eq!(
            bucket_of_channel("checkout", &channel("checkout", b)),
            Some(b)
        );
        assert_eq!(bucket_of_channel("other", &channel("checkout", b)), None);
        assert_eq!(
            bucket_of_channel("checkout", "brk:v2:{checkout:64}:ev"),
            None
        );
        // Braces in a name come after the tag: Redis hashes the first `{...}` only.
        assert!(record_key("checkout", "odd{name}")
            .starts_with(&format!("brk:v2:{{checkout:{}}}", bucket("odd{name}"))));
        // Stable: the same bucket in every process (pinned values of FNV-1a).
        assert_eq!(bucket(""), (0xcbf2_9ce4_8422_2325u64 % 64) as u16);
        let spread: std::collections::HashSet<u16> =
            (0..1000).map(|i| bucket(&format!("host-{i}"))).collect();
        assert_eq!(
            spread.len(),
            usize::from(BUCKETS),
            "a thousand names fill every bucket"
        );
    }
}
