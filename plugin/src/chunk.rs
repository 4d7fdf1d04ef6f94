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
use sigmaline_core::msgpack::{array_header, touch, value_len};

/// What became of a chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkResult {
    /// No event changed: the host keeps its buffer (no copy).
    Unchanged,
    /// The new chunk (possibly empty: every event dropped).
    Modified(Vec<u8>),
}

/// Filters one chunk with the engine's mode and tag field.
pub fn filter_chunk(
    engine: &Engine,
    scratch: &mut Scratch,
    data: &[u8],
    stats: &Stats,
) -> ChunkResult {
    let mut out = Vec::new();
    let mut modified = false;
    let mut body_out = Vec::new();
    let (mut pos, mut touched) = (0, 0);
    while pos < data.len() {
        // Each line once, a few events ahead of the walk (see `touch`).
        let ahead = (pos + 16 * 1024).min(data.len());
        if touched < ahead {
            touch(&data[touched.max(pos)..ahead]);
            touched = ahead;
        }
        let rest = &data[pos..];
        let Some(len) = value_len(rest) else {
            // Undecodable from here on: keep the bytes, count one malformed record.
            stats.records_in.fetch_add(1, Relaxed);
            stats.malformed.fetch_add(1, Relaxed);
            stats.records_out.fetch_add(1, Relaxed);
            out.extend_from_slice(rest);
            break;
        };
        let event = &rest[..len];
        pos += len;
        let Some((header, body)) = split_event(event) else {
            stats.records_in.fetch_add(1, Relaxed);
            stats.malformed.fetch_add(1, Relaxed);
            stats.records_out.fetch_add(1, Relaxed);
            out.extend_from_slice(event);
            continue;
        };
        if is_group_marker(header) {
            out.extend_from_slice(event);
            continue;
        }
        stats.records_in.fetch_add(1, Relaxed);
        body_out.clear();
        match engine.filter_msgpack(scratch, body, &mut body_out) {
            Ok(o) => {
                stats.matched.fetch_add((o.matched > 0) as u64, Relaxed);
                stats.rule_hits.add(engine, engine.last_matches(scratch));
                if !o.emitted {
                    stats.dropped.fetch_add(1, Relaxed);
                    modified = true;
                } else if o.matched > 0 && body_out.as_slice() != body {
                    stats.records_out.fetch_add(1, Relaxed);
                    out.push(0x92);
                    out.extend_from_slice(header);
                    out.extend_from_slice(&body_out);
                    modified = true;
                } else {
                    stats.records_out.fetch_add(1, Relaxed);
                    out.extend_from_slice(event);
                }
            }
            Err(_) => {
                stats.malformed.fetch_add(1, Relaxed);
                stats.records_out.fetch_add(1, Relaxed);
                out.extend_from_slice(event);
            }
        }
    }
    if modified {
        ChunkResult::Modified(out)
    } else {
        ChunkResult::Unchanged
    }
}

/// The raw header (timestamp, or `[timestamp, metadata]`) and body of an
/// event `[header, body]`. `event` is one whole msgpack value (measured by
/// `value_len`), so after the header the body is the rest, exactly: it is
/// not measured a second time.
fn split_event(event: &[u8]) -> Option<(&[u8], &[u8])> {
    let (n, h) = array_header(event)?;
    if n != 2 {
        return None;
    }
    let hl = value_len(event.get(h..)?)?;
    let header = &event[h..h + hl];
    let body = &event[h + hl..];
    (!body.is_empty()).then_some((header, body))
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
