//! `sigmaline bench`: size a deployment on your own data. Compiles the
//! rules, loads the records into memory, then filters them repeatedly as
//! JSON and as msgpack (tag mode, output written) and prints records/s and
//! MB/s on one core. For regression-grade numbers use the criterion benches.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sigmaline_core::{Engine, Mode, Outcome, RecordError, Scratch};

use crate::engine_args::RuleArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    rules: RuleArgs,
    /// NDJSON files (optionally .gz) with sample records.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Seconds to run each format.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
}

pub fn run(a: Args) -> Result<i32, String> {
    let start = Instant::now();
    let (engine, _) = a.rules.build_nonempty(Mode::Tag, "sigma")?;
    let compile = start.elapsed();
    let mut lines = Vec::new();
    for f in &a.files {
        let reader = crate::scan::open(f).map_err(|e| format!("{}: {e}", f.display()))?;
        for l in reader.split(b'\n') {
            let l = l.map_err(|e| format!("{}: {e}", f.display()))?;
            if !l.trim_ascii().is_empty() {
                lines.push(l);
            }
        }
    }
    if lines.is_empty() {
        return Err("no records in the given files".into());
    }
    let msgpack = Records::new(lines.iter().filter_map(|l| json_to_msgpack(l)));
    let lines = Records::new(lines);
    println!(
        "{} rules compiled in {:.2} s ({} atoms over {} fields); {} records",
        engine.rule_count(),
        compile.as_secs_f64(),
        engine.atom_count(),
        engine.field_count(),
        lines.len()
    );
    let budget = Duration::from_secs_f64(a.seconds.max(0.1));
    let json = measure(&engine, &lines, budget, Engine::filter_json);
    report("json:   ", &json);
    if !msgpack.is_empty() {
        let mp = measure(&engine, &msgpack, budget, Engine::filter_msgpack);
        report("msgpack:", &mp);
    }
    Ok(0)
}

/// Records back to back in one buffer, as a shipper's read buffer or a
/// Fluent Bit chunk holds them (not each in an allocation of its own).
struct Records {
    bytes: Vec<u8>,
    spans: Vec<std::ops::Range<usize>>,
}

impl Records {
    fn new(records: impl IntoIterator<Item = Vec<u8>>) -> Records {
        let (mut bytes, mut spans) = (Vec::new(), Vec::new());
        for r in records {
            spans.push(bytes.len()..bytes.len() + r.len());
            bytes.extend_from_slice(&r);
        }
        Records { bytes, spans }
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.spans.iter().map(|s| &self.bytes[s.clone()])
    }

    fn len(&self) -> usize {
        self.spans.len()
    }

    fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// What one format measured.
struct Measured {
    records_per_s: f64,
    mb_per_s: f64,
    matched: usize,
    /// Records/s of the first pass, on a fresh scratch space.
    first_pass: f64,
}

fn report(format: &str, m: &Measured) {
    println!(
        "{format} {:>10.0} records/s  {:>8.1} MB/s  ({} matched per pass; first pass {:.0} records/s)",
        m.records_per_s, m.mb_per_s, m.matched, m.first_pass
    );
}

type Filter = fn(&Engine, &mut Scratch, &[u8], &mut Vec<u8>) -> Result<Outcome, RecordError>;

/// Records/s, MB/s and matches per pass, over whole passes within `budget`
/// after a first pass. The repeated passes replay values the scratch space
/// memoised from earlier passes (up to 16,384 of them), as a live stream
/// replays values that recur; the first pass, on a fresh scratch space,
/// memoises only what recurs within it (and creates each regex's cache):
/// the two bracket a stream of these records.
fn measure(engine: &Engine, records: &Records, budget: Duration, f: Filter) -> Measured {
    let mut s = engine.scratch();
    let mut out = Vec::with_capacity(1 << 16);
    let bytes = records.bytes.len();
    let start = Instant::now();
    let matched = records
        .iter()
        .filter(|r| {
            out.clear();
            f(engine, &mut s, r, &mut out).is_ok_and(|o| o.matched > 0)
        })
        .count();
    let first_pass = records.len() as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut passes = 0u64;
    while passes == 0 || start.elapsed() < budget {
        for r in records.iter() {
            out.clear();
            let _ = f(engine, &mut s, r, &mut out);
        }
        passes += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let n = passes as f64 * records.len() as f64;
    Measured {
        records_per_s: n / secs,
        mb_per_s: passes as f64 * bytes as f64 / secs / 1e6,
        matched,
        first_pass,
    }
}

/// A JSON object re-encoded as a msgpack map (how Fluent Bit carries it).
fn json_to_msgpack(line: &[u8]) -> Option<Vec<u8>> {
    fn write(v: &serde_json::Value, out: &mut Vec<u8>) {
        use serde_json::Value as V;
        match v {
            V::Null => rmp::encode::write_nil(out).unwrap(),
            V::Bool(b) => rmp::encode::write_bool(out, *b).unwrap(),
            V::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => rmp::encode::write_sint(out, i).map(|_| ()).unwrap(),
                (_, Some(u)) => rmp::encode::write_uint(out, u).map(|_| ()).unwrap(),
                _ => rmp::encode::write_f64(out, n.as_f64().unwrap_or(0.0)).unwrap(),
            },
            V::String(s) => rmp::encode::write_str(out, s).unwrap(),
            V::Array(a) => {
                rmp::encode::write_array_len(out, a.len() as u32).unwrap();
                a.iter().for_each(|x| write(x, out));
            }
            V::Object(o) => {
                rmp::encode::write_map_len(out, o.len() as u32).unwrap();
                for (k, x) in o {
                    rmp::encode::write_str(out, k).unwrap();
                    write(x, out);
                }
            }
        }
    }
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    v.is_object().then(|| {
        let mut out = Vec::new();
        write(&v, &mut out);
        out
    })
}
