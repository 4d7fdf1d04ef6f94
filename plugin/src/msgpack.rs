//! Measuring msgpack values without decoding them: the chunk filter only
//! needs to know where each event, timestamp and body starts and ends.

/// The length in bytes of the msgpack value at the start of `b`, or `None`
/// if it is truncated or invalid. Nesting is bounded by `depth`.
pub fn value_len(b: &[u8]) -> Option<usize> {
    value_len_depth(b, 0)
}

const MAX_DEPTH: usize = 128;

fn be(b: &[u8], at: usize, n: usize) -> Option<usize> {
    let s = b.get(at..at + n)?;
    Some(s.iter().fold(0usize, |acc, &x| (acc << 8) | x as usize))
}

fn value_len_depth(b: &[u8], depth: usize) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    let m = *b.first()?;
    let fixed = |n: usize| (b.len() > n).then_some(n + 1);
    let total = match m {
        0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Some(1),
        0x80..=0x8f => return seq(b, 1, (m & 0x0f) as usize * 2, depth),
        0x90..=0x9f => return seq(b, 1, (m & 0x0f) as usize, depth),
        0xa0..=0xbf => Some(1 + (m & 0x1f) as usize),
        0xc4 | 0xd9 => Some(2 + be(b, 1, 1)?),
        0xc5 | 0xda => Some(3 + be(b, 1, 2)?),
        0xc6 | 0xdb => Some(5 + be(b, 1, 4)?),
        0xc7 => Some(3 + be(b, 1, 1)?),
        0xc8 => Some(4 + be(b, 1, 2)?),
        0xc9 => Some(6 + be(b, 1, 4)?),
        0xca => fixed(4),
        0xcb => fixed(8),
        0xcc | 0xd0 => fixed(1),
        0xcd | 0xd1 => fixed(2),
        0xce | 0xd2 => fixed(4),
        0xcf | 0xd3 => fixed(8),
        0xd4 => fixed(2),
        0xd5 => fixed(3),
        0xd6 => fixed(5),
        0xd7 => fixed(9),
        0xd8 => fixed(17),
        0xdc => return seq(b, 3, be(b, 1, 2)?, depth),
        0xdd => return seq(b, 5, be(b, 1, 4)?, depth),
        0xde => return seq(b, 3, be(b, 1, 2)? * 2, depth),
        0xdf => return seq(b, 5, be(b, 1, 4)? * 2, depth),
        0xc1 => None,
    }?;
    (total <= b.len()).then_some(total)
}

fn seq(b: &[u8], header: usize, items: usize, depth: usize) -> Option<usize> {
    let mut pos = header;
    if pos > b.len() {
        return None;
    }
    for _ in 0..items {
        pos += value_len_depth(&b[pos..], depth + 1)?;
    }
    Some(pos)
}

/// The element count of the array at the start of `b` and its header size.
pub fn array_header(b: &[u8]) -> Option<(usize, usize)> {
    match *b.first()? {
        m @ 0x90..=0x9f => Some(((m & 0x0f) as usize, 1)),
        0xdc => Some((be(b, 1, 2)?, 3)),
        0xdd => Some((be(b, 1, 4)?, 5)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_of_every_kind() {
        let mut v = Vec::new();
        rmp::encode::write_map_len(&mut v, 2).unwrap();
        rmp::encode::write_str(&mut v, "a").unwrap();
        rmp::encode::write_array_len(&mut v, 3).unwrap();
        rmp::encode::write_u64(&mut v, u64::MAX).unwrap();
        rmp::encode::write_f64(&mut v, 1.5).unwrap();
        rmp::encode::write_nil(&mut v).unwrap();
        rmp::encode::write_str(&mut v, &"x".repeat(300)).unwrap();
        rmp::encode::write_bin(&mut v, &[1, 2, 3]).unwrap();
        let n = v.len();
        v.extend_from_slice(b"\xc3trailing");
        assert_eq!(value_len(&v), Some(n));
        for cut in 0..n {
            assert_eq!(value_len(&v[..cut]), None, "truncated at {cut}");
        }
        assert_eq!(value_len(b"\xc1"), None);
        // Deep nesting is refused, not a stack overflow.
        assert_eq!(value_len(&[0x91; 100_000]), None);
    }
}
