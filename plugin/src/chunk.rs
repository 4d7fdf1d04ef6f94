//! Filtering a Fluent Bit chunk: a run of msgpack events, each
//! `[[timestamp, metadata], body]` (v2) or `[timestamp, body]` (v1).
//!
//! Only bodies are evaluated; the event header (timestamp and metadata) is
//! copied byte for byte. Group markers (timestamps with seconds 0xFFFFFFFF or
//! 0xFFFFFFFE) pass through. An event that cannot be decoded passes through
//! unchanged and is counted; so does the rest of a truncated chunk.

use std::sync::atomic::Ordering::Relaxed;

use sigmaline_core::{Engine, Scratch};

use crate::handle::Stats;
use sigmaline_core::msgpack::{array_header, value_len};

/// What became of a chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkResult {
    /// No event changed: the host keeps its buffer (no copy).
    Unchanged,
    /// The new chunk (possibly empty: every event dropped).
    Modified(Vec<u8>),
}

/// Filters one chunk with the engine's mode and tag field.
///
/// One pass per event: the engine indexes the body and so learns where it
/// ends (`match_msgpack_prefix`); only an event it cannot read is measured
/// separately. Unchanged events are not copied until an event changes, and
/// then as one run.
pub fn filter_chunk(
    engine: &Engine,
    scratch: &mut Scratch,
    data: &[u8],
    stats: &Stats,
) -> ChunkResult {
    let mut n = Counts::default();
    let mut out = Vec::new();
    // A matched body with its tags (reused: no allocation per record).
    let mut tagged = Vec::new();
    let mut modified = false;
    // `out` holds `data[..flushed]` as filtered; the rest is unchanged so far.
    let mut flushed = 0;
    let (mut pos, mut touched) = (0, 0);
    while pos < data.len() {
        // Each line once, a few events ahead of the walk (see `AHEAD`).
        let ahead = (pos + AHEAD).min(data.len());
        if touched < ahead {
            sigmaline_core::prefetch::lines(&data[touched.max(pos)..ahead]);
            touched = ahead;
        }
        let start = pos;
        let rest = &data[pos..];
        let (h, body_at) = match event_header(rest) {
            Some((h, body_at)) if !is_group_marker(&rest[h..body_at]) => (h, body_at),
            // A group marker, or not `[header, body]`: measured and kept.
            header => {
                let len = value_len(rest);
                if header.is_none() || len.is_none() {
                    n.undecodable();
                }
                // Undecodable from here on: the rest is kept as it is.
                let Some(len) = len else { break };
                pos += len;
                continue;
            }
        };
        let (len, matched) = match engine.match_msgpack_prefix(scratch, &rest[body_at..], 1) {
            Ok((len, m)) => (len, m.len()),
            // Not a map the engine reads: kept as it is, counted.
            Err(_) => {
                n.undecodable();
                let Some(len) = value_len(rest) else { break };
                pos += len;
                continue;
            }
        };
        n.records_in += 1;
        pos += body_at + len;
        n.matched += (matched > 0) as u64;
        stats.rule_hits.add(engine, engine.last_matches(scratch));
        if !engine.emits(matched) {
            n.dropped += 1;
            flush(&mut out, data, &mut flushed, start);
            flushed = pos;
            modified = true;
            continue;
        }
        n.records_out += 1;
        if engine.tags(matched) {
            let body = &rest[body_at..body_at + len];
            tagged.clear();
            match engine.write_tagged_msgpack(scratch, body, &mut tagged) {
                Ok(()) if tagged != body => {
                    flush(&mut out, data, &mut flushed, start);
                    out.push(0x92);
                    out.extend_from_slice(&rest[h..body_at]);
                    out.extend_from_slice(&tagged);
                    flushed = pos;
                    modified = true;
                }
                Ok(()) => {}
                // Kept as it is, counted (it did match).
                Err(_) => n.malformed += 1,
            }
        }
    }
    n.publish(stats);
    if modified {
        flush(&mut out, data, &mut flushed, data.len());
        ChunkResult::Modified(out)
    } else {
        ChunkResult::Unchanged
    }
}

/// How far ahead of the event being matched the chunk is prefetched
/// (`sigmaline_core::prefetch`): a few events (OTRF Windows events are
/// 1-8 KB). A chunk's events follow each other, so while one is matched the
/// next ones can arrive from memory. criterion, Windows pack, OTRF chunks
/// of 256 events (110 MB, cold), touching each line (real loads) vs
/// prefetching 16 KB ahead, alternated three times: 524k/553k, 520k/551k,
/// 509k/559k events/s (4 KB ahead: 546k, 543k, 525k).
const AHEAD: usize = 16 * 1024;

/// Copies the unchanged events before `to` into `out`.
fn flush(out: &mut Vec<u8>, data: &[u8], flushed: &mut usize, to: usize) {
    if out.capacity() == 0 {
        out.reserve(data.len() + 1024);
    }
    out.extend_from_slice(&data[*flushed..to]);
    *flushed = to;
}

/// A chunk's counters, added to the shared [`Stats`] once per chunk: an
/// atomic add per counter and event is a locked instruction each, three or
/// more per event.
#[derive(Default)]
struct Counts {
    records_in: u64,
    records_out: u64,
    matched: u64,
    dropped: u64,
    malformed: u64,
}

impl Counts {
    /// One record that cannot be read, passed on as it is.
    fn undecodable(&mut self) {
        self.records_in += 1;
        self.malformed += 1;
        self.records_out += 1;
    }

    fn publish(&self, stats: &Stats) {
        for (c, n) in [
            (&stats.records_in, self.records_in),
            (&stats.records_out, self.records_out),
            (&stats.matched, self.matched),
            (&stats.dropped, self.dropped),
            (&stats.malformed, self.malformed),
        ] {
            if n > 0 {
                c.fetch_add(n, Relaxed);
            }
        }
    }
}

/// For an event `[header, body]` at the start of `event`: where its raw
/// header (timestamp, or `[timestamp, metadata]`) and its body start.
fn event_header(event: &[u8]) -> Option<(usize, usize)> {
    let (n, h) = array_header(event)?;
    if n != 2 {
        return None;
    }
    let hl = value_len(event.get(h..)?)?;
    (h + hl < event.len()).then_some((h, h + hl))
}

/// A v2 header `[ext-timestamp, metadata]` or v1 timestamp whose seconds are
/// 0xFFFFFFFF (group start) or 0xFFFFFFFE (group end).
fn is_group_marker(header: &[u8]) -> bool {
    let ts = match array_header(header) {
        Some((_, h)) => &header[h..],
        None => header,
    };
    // fixext8 (0xd7), type 0, u32 seconds, u32 nanoseconds.
    ts.len() >= 10
        && ts[0] == 0xd7
        && ts[1] == 0
        && matches!(
            ts[2..6],
            [0xff, 0xff, 0xff, 0xff] | [0xff, 0xff, 0xff, 0xfe]
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::Handle;
    use sigmaline_core::Settings as Config;

    fn handle(mode: &str) -> Handle {
        let mut c = Config::default();
        c.set(
            "rules",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/rules"),
        )
        .unwrap();
        c.set("mode", mode).unwrap();
        Handle::new(c).unwrap()
    }

    fn msgpack(v: &rmpv::Value) -> Vec<u8> {
        let mut b = Vec::new();
        rmpv::encode::write_value(&mut b, v).unwrap();
        b
    }

    fn body(json: &str) -> Vec<u8> {
        fn conv(v: &serde_json::Value) -> rmpv::Value {
            use serde_json::Value as J;
            match v {
                J::Null => rmpv::Value::Nil,
                J::Bool(b) => (*b).into(),
                J::Number(n) => n.as_i64().map_or(rmpv::Value::Nil, Into::into),
                J::String(s) => s.as_str().into(),
                J::Array(a) => rmpv::Value::Array(a.iter().map(conv).collect()),
                J::Object(o) => rmpv::Value::Map(
                    o.iter()
                        .map(|(k, v)| (k.as_str().into(), conv(v)))
                        .collect(),
                ),
            }
        }
        msgpack(&conv(&serde_json::from_str(json).unwrap()))
    }

    /// `[[fixext8 ts, {}], body]`, the array header as given.
    fn event(array: &[u8], seconds: u32, body: &[u8]) -> Vec<u8> {
        let mut e = array.to_vec();
        e.extend_from_slice(&[0x92, 0xd7, 0x00]);
        e.extend_from_slice(&seconds.to_be_bytes());
        e.extend_from_slice(&[0, 0, 0, 0, 0x80]);
        e.extend_from_slice(body);
        e
    }

    /// The chunk filter as first written: every event measured, then its
    /// body filtered into a buffer of its own, every event copied.
    fn reference(engine: &Engine, s: &mut Scratch, data: &[u8], stats: &Stats) -> ChunkResult {
        let (mut out, mut modified, mut pos) = (Vec::new(), false, 0);
        let bad = |out: &mut Vec<u8>, b: &[u8]| {
            for c in [&stats.records_in, &stats.malformed, &stats.records_out] {
                c.fetch_add(1, Relaxed);
            }
            out.extend_from_slice(b);
        };
        while pos < data.len() {
            let rest = &data[pos..];
            let Some(len) = value_len(rest) else {
                bad(&mut out, rest);
                break;
            };
            let ev = &rest[..len];
            pos += len;
            let Some((h, body_at)) = event_header(ev) else {
                bad(&mut out, ev);
                continue;
            };
            if is_group_marker(&ev[h..body_at]) {
                out.extend_from_slice(ev);
                continue;
            }
            stats.records_in.fetch_add(1, Relaxed);
            let mut b = Vec::new();
            match engine.filter_msgpack(s, &ev[body_at..], &mut b) {
                Ok(o) => {
                    stats.matched.fetch_add((o.matched > 0) as u64, Relaxed);
                    if !o.emitted {
                        stats.dropped.fetch_add(1, Relaxed);
                        modified = true;
                        continue;
                    }
                    stats.records_out.fetch_add(1, Relaxed);
                    if o.matched > 0 && b != ev[body_at..] {
                        out.push(0x92);
                        out.extend_from_slice(&ev[h..body_at]);
                        out.extend_from_slice(&b);
                        modified = true;
                    } else {
                        out.extend_from_slice(ev);
                    }
                }
                Err(_) => {
                    stats.malformed.fetch_add(1, Relaxed);
                    stats.records_out.fetch_add(1, Relaxed);
                    out.extend_from_slice(ev);
                }
            }
        }
        match modified {
            true => ChunkResult::Modified(out),
            false => ChunkResult::Unchanged,
        }
    }

    fn counts(s: &Stats) -> [u64; 5] {
        [
            &s.records_in,
            &s.records_out,
            &s.matched,
            &s.dropped,
            &s.malformed,
        ]
        .map(|c| c.load(Relaxed))
    }

    #[test]
    fn chunks_filter_as_event_by_event() {
        let lines = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/data/seed-events.ndjson"
        ))
        .unwrap();
        let bodies: Vec<Vec<u8>> = lines
            .lines()
            .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
            .map(body)
            .collect();
        let hit = body(
            r#"{"EventID":13,"Channel":"Microsoft-Windows-Sysmon/Operational","TargetObject":"HKLM\\Services\\DHCPServer\\Parameters\\CalloutDlls"}"#,
        );
        let mut events: Vec<Vec<u8>> = bodies.iter().map(|b| event(&[0x92], 7, b)).collect();
        // A matching event whose array header is array16, not fixarray.
        events.insert(3, event(&[0xdc, 0x00, 0x02], 8, &hit));
        // A group start and end, a body that is no map, an event of three.
        events.insert(5, event(&[0x92], 0xffff_ffff, &[0x80]));
        events.push(event(&[0x92], 9, &msgpack(&"text".into())));
        events.push(msgpack(&rmpv::Value::Array(vec![
            1.into(),
            2.into(),
            3.into(),
        ])));
        events.push(event(&[0x92], 0xffff_fffe, &[0x80]));
        let whole: Vec<u8> = events.concat();
        // Bodies nested to the limit: alone a valid value, but one level
        // too deep inside its event, and one level less (valid both ways).
        let deep = |arrays: usize| {
            let mut b = vec![0x81, 0xa1, b'k'];
            b.extend(std::iter::repeat_n(0x91, arrays));
            b.push(1);
            event(&[0x92], 10, &b)
        };
        let too_deep = deep(127);
        let (_, body_at) = event_header(&too_deep).unwrap();
        assert!(value_len(&too_deep[body_at..]).is_some() && value_len(&too_deep).is_none());
        assert!(value_len(&deep(126)).is_some());
        let cases = [
            whole.clone(),
            // A truncated last event.
            whole[..whole.len() - 3].to_vec(),
            // No match at all.
            events[..2].concat(),
            // Only the hit.
            events[3].clone(),
            // A hit, then an event too deep: it and the rest are kept.
            [&events[3][..], &too_deep, &events[0], &events[3]].concat(),
            [&events[3][..], &deep(126), &events[0], &events[3]].concat(),
        ];
        for mode in ["tag", "keep", "drop"] {
            let h = handle(mode);
            for (i, data) in cases.iter().enumerate() {
                let (ours, theirs) = (Stats::default(), Stats::default());
                let got = h.with_engine(|e, s| filter_chunk(e, s, data, &ours));
                let want = h.with_engine(|e, s| reference(e, s, data, &theirs));
                assert_eq!(got, want, "{mode}, case {i}");
                assert_eq!(counts(&ours), counts(&theirs), "{mode}, case {i}");
            }
        }
        // The array16 event is tagged with its header intact.
        let h = handle("tag");
        let stats = Stats::default();
        let ChunkResult::Modified(out) =
            h.with_engine(|e, s| filter_chunk(e, s, &cases[3], &stats))
        else {
            panic!("the hit is tagged");
        };
        let v = rmpv::decode::read_value(&mut &out[..]).unwrap();
        assert_eq!(
            v[0][0],
            rmpv::Value::Ext(0, [0, 0, 0, 8, 0, 0, 0, 0].to_vec())
        );
        assert!(v[1]
            .as_map()
            .unwrap()
            .iter()
            .any(|(k, _)| k.as_str() == Some("sigma")));
    }
}
