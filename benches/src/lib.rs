//! Inputs for the criterion benchmarks: rule packs and records. The corpus
//! helpers are the tests' (`sigmaline-tests`), so benches and tests read the
//! same data the same way.

use sigmaline_core::{Engine, EngineBuilder, RuleSet};
pub use sigmaline_tests::{corpus, root};

pub mod alloc;
pub mod synthetic;

/// The two seed rules bundled in `examples/rules`.
pub fn seed_engine() -> Engine {
    let set = RuleSet::load_paths(&[root().join("examples/rules")]).unwrap();
    EngineBuilder::new().build(&set).unwrap().0
}

/// Every `product: windows` rule of the SigmaHQ snapshot.
pub fn windows_pack_engine(corpus: &std::path::Path) -> Engine {
    EngineBuilder::new()
        .build(&sigmaline_tests::windows_pack(corpus))
        .unwrap()
        .0
}

/// The Windows pack itself (rules loaded, not compiled).
pub fn windows_pack(corpus: &std::path::Path) -> RuleSet {
    sigmaline_tests::windows_pack(corpus)
}

/// `n` rules spread evenly over `set` (in file order), with the filters:
/// a stable, reproducible subset for the 100- and 1,000-rule benches.
pub fn subset(set: &RuleSet, n: usize) -> RuleSet {
    let mut rules = set.rules.clone();
    rules.sort_by(|a, b| a.source.path.cmp(&b.source.path));
    let step = rules.len() as f64 / n as f64;
    let rules = (0..n.min(rules.len()))
        .map(|i| rules[(i as f64 * step) as usize].clone())
        .collect();
    RuleSet {
        rules,
        filters: set.filters.clone(),
        ..RuleSet::default()
    }
}

/// Compiles a rule set with the default settings.
pub fn engine(set: &RuleSet) -> Engine {
    EngineBuilder::new().build(set).unwrap().0
}

/// Records back to back in one buffer, as a host holds them: a line
/// reader's buffer, a Fluent Bit chunk. (Each in its own allocation, they
/// land wherever the allocator puts them, and every record starts a new
/// stream for the hardware prefetcher: no host hands records over so.)
#[derive(Debug, Default)]
pub struct Records {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Records {
    pub fn new<R: AsRef<[u8]>>(records: impl IntoIterator<Item = R>) -> Records {
        let mut all = Records::default();
        for r in records {
            all.bytes.extend_from_slice(r.as_ref());
            all.ends.push(all.bytes.len());
        }
        all
    }

    /// The records in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, &z)| &self.bytes[a..z])
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// All records' bytes.
    pub fn total_bytes(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// Where the benches write what the filter emits: a 64 KiB buffer handed
/// on (emptied) once full, as the CLI's writer on stdout is (a
/// `BufWriter` of 64 KiB) and as a Fluent Bit filter's output chunk is
/// per chunk. The emitted bytes are all written; a host that kept a whole
/// pass's output (110 MB for OTRF) in one buffer would write every record
/// to memory no cache holds, and no host does.
#[derive(Debug)]
pub struct Output {
    buf: Vec<u8>,
}

impl Output {
    /// Bytes held before the buffer is handed on.
    pub const FLUSH: usize = 64 << 10;

    pub fn new() -> Output {
        // Room for a largest record (and its tags) past the mark: a warm
        // buffer never grows.
        let room = Self::FLUSH + sigmaline_core::Settings::default().max_record_bytes + (64 << 10);
        Output {
            buf: Vec::with_capacity(room),
        }
    }

    /// The buffer for the next record, handed on first if full.
    #[inline]
    pub fn buf(&mut self) -> &mut Vec<u8> {
        if self.buf.len() >= Self::FLUSH {
            self.buf.clear();
        }
        &mut self.buf
    }
}

impl Default for Output {
    fn default() -> Self {
        Output::new()
    }
}

/// The first `n` records of the OTRF sample as JSON lines.
pub fn otrf_lines(corpus: &std::path::Path, n: usize) -> Vec<Vec<u8>> {
    let mut lines =
        sigmaline_tests::gz_lines(&corpus.join("events/otrf-windows-host-sample.ndjson.gz"));
    lines.truncate(n);
    lines
}

/// The bundled seed events (valid lines only).
pub fn seed_lines() -> Vec<Vec<u8>> {
    std::fs::read(root().join("examples/data/seed-events.ndjson"))
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| serde_json::from_slice::<serde_json::Value>(l).is_ok())
        .map(<[u8]>::to_vec)
        .collect()
}

/// A JSON record re-encoded as a msgpack map, as Fluent Bit carries records.
pub fn to_msgpack(json: &[u8]) -> Vec<u8> {
    fn conv(v: &serde_json::Value) -> rmpv::Value {
        match v {
            serde_json::Value::Null => rmpv::Value::Nil,
            serde_json::Value::Bool(b) => rmpv::Value::Boolean(*b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => rmpv::Value::from(i),
                (_, Some(u)) => rmpv::Value::from(u),
                _ => rmpv::Value::F64(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => rmpv::Value::from(s.as_str()),
            serde_json::Value::Array(a) => rmpv::Value::Array(a.iter().map(conv).collect()),
            serde_json::Value::Object(o) => rmpv::Value::Map(
                o.iter()
                    .map(|(k, v)| (rmpv::Value::from(k.as_str()), conv(v)))
                    .collect(),
            ),
        }
    }
    let v: serde_json::Value = serde_json::from_slice(json).unwrap();
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &conv(&v)).unwrap();
    out
}

/// Records as one Fluent Bit chunk of v2 events `[[ts, {}], body]`.
pub fn to_chunk<R: AsRef<[u8]>>(records: &[R]) -> Vec<u8> {
    let mut chunk = Vec::new();
    for (i, r) in records.iter().enumerate() {
        chunk.extend_from_slice(&[0x92, 0x92, 0xd7, 0x00]);
        chunk.extend_from_slice(&(1_700_000_000u32 + i as u32).to_be_bytes());
        chunk.extend_from_slice(&0u32.to_be_bytes());
        chunk.push(0x80);
        chunk.extend_from_slice(&to_msgpack(r.as_ref()));
    }
    chunk
}
