//! `sigmaline filter`: records on stdin, the same records (tagged, kept or
//! dropped by mode) on stdout in the same order. A line that is not a valid
//! record passes through unchanged and is counted.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::time::Instant;

use sigmaline_core::{Engine, Mode, Scratch};

use crate::engine_args::RuleArgs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// One JSON object per line.
    Json,
    /// A stream of msgpack maps, written back as msgpack.
    Msgpack,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    rules: RuleArgs,
    /// tag: every record passes, matches tagged; keep: only matches pass; drop: matches are removed.
    #[arg(long, default_value = "tag", value_parser = parse_mode)]
    mode: Mode,
    /// Name of the field that receives the list of fired rules.
    #[arg(long, default_value = "sigma", value_name = "NAME")]
    tag_field: String,
    #[arg(long, value_enum, default_value = "json")]
    input_format: InputFormat,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

#[derive(Default)]
struct Counts {
    records_in: u64,
    records_out: u64,
    matched: u64,
    malformed: u64,
    bytes: u64,
}

pub fn run(a: Args) -> Result<i32, String> {
    let (engine, _) = a.rules.build_nonempty(a.mode, &a.tag_field)?;
    let start = Instant::now();
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut c = Counts::default();
    let res = match a.input_format {
        InputFormat::Json => filter_lines(
            &engine,
            BufReader::with_capacity(1 << 16, stdin),
            &mut out,
            &mut c,
        ),
        InputFormat::Msgpack => filter_msgpack(&engine, stdin, &mut out, &mut c),
    };
    let flushed = out.flush();
    // A closed pipe downstream (`| head`) is a normal end, not an error.
    for r in [res, flushed] {
        if let Err(e) = r {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(format!("I/O error: {e}"));
            }
        }
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "sigmaline filter: records in {}, out {}, matched {}, malformed {}, rules {}, {:.0} rec/s ({:.1} MB/s)",
        c.records_in,
        c.records_out,
        c.matched,
        c.malformed,
        engine.rule_count(),
        c.records_in as f64 / secs,
        c.bytes as f64 / secs / 1e6
    );
    Ok(0)
}

fn filter_lines(
    engine: &Engine,
    mut input: impl BufRead,
    out: &mut impl Write,
    c: &mut Counts,
) -> std::io::Result<()> {
    let mut s = engine.scratch();
    let mut line = Vec::with_capacity(1 << 12);
    let mut buf = Vec::with_capacity(1 << 12);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        c.records_in += 1;
        c.bytes += line.len() as u64;
        let body_len = line.len() - line.ends_with(b"\n") as usize;
        let body = &line[..body_len];
        buf.clear();
        match engine.filter_json(&mut s, body, &mut buf) {
            Ok(o) => {
                c.matched += (o.matched > 0) as u64;
                if o.emitted {
                    c.records_out += 1;
                    out.write_all(&buf)?;
                    out.write_all(b"\n")?;
                }
            }
            Err(_) => {
                c.malformed += 1;
                c.records_out += 1;
                out.write_all(&line)?;
                if body_len == line.len() {
                    out.write_all(b"\n")?;
                }
            }
        }
    }
}

fn filter_msgpack(
    engine: &Engine,
    mut input: impl Read,
    out: &mut impl Write,
    c: &mut Counts,
) -> std::io::Result<()> {
    let mut s: Scratch = engine.scratch();
    let mut data = Vec::new();
    let mut pos = 0;
    let mut eof = false;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        if pos == data.len() && eof {
            return Ok(());
        }
        let value = sigmaline_core::msgpack::value_len(&data[pos..]);
        let complete = pos < data.len() && value.is_some();
        if !complete {
            if !eof {
                data.drain(..pos);
                pos = 0;
                let n = input.read(&mut chunk)?;
                if n == 0 {
                    eof = true;
                } else {
                    data.extend_from_slice(&chunk[..n]);
                }
                continue;
            }
            // Undecodable tail: pass it through untouched.
            c.records_in += 1;
            c.malformed += 1;
            c.records_out += 1;
            out.write_all(&data[pos..])?;
            return Ok(());
        }
        let len = value.unwrap_or(0);
        let rec = &data[pos..pos + len];
        c.records_in += 1;
        c.bytes += len as u64;
        buf.clear();
        match engine.filter_msgpack(&mut s, rec, &mut buf) {
            Ok(o) => {
                c.matched += (o.matched > 0) as u64;
                if o.emitted {
                    c.records_out += 1;
                    out.write_all(&buf)?;
                }
            }
            Err(_) => {
                c.malformed += 1;
                c.records_out += 1;
                out.write_all(rec)?;
            }
        }
        pos += len;
    }
}

/// Properties of the streaming filter over any input: what a shipper relies
/// on when it pipes its only copy of the logs through `sigmaline filter`.
#[cfg(test)]
mod props {
    use std::sync::OnceLock;

    use proptest::prelude::*;
    use sigmaline_core::{Engine, EngineBuilder, Mode, RuleSet};

    use super::{filter_lines, filter_msgpack, Counts};

    fn engine(mode: Mode) -> &'static Engine {
        static E: OnceLock<[Engine; 3]> = OnceLock::new();
        let all = E.get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules");
            let set = RuleSet::load_paths(&[dir]).unwrap();
            [Mode::Tag, Mode::Keep, Mode::Drop]
                .map(|m| EngineBuilder::new().mode(m).build(&set).unwrap().0)
        });
        &all[mode as usize]
    }

    /// The bundled seed events (some match the seed rules, most do not).
    fn seeds() -> Vec<Vec<u8>> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/data/seed-events.ndjson");
        std::fs::read(p)
            .unwrap()
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// A line: a seed event, a seed event with a byte flipped, or any bytes
    /// (never a newline: lines are what the filter counts).
    fn line() -> impl Strategy<Value = Vec<u8>> {
        let s = seeds();
        let n = s.len();
        let s2 = s.clone();
        prop_oneof![
            (0..n).prop_map(move |i| s[i].clone()),
            (0..n, any::<prop::sample::Index>(), any::<u8>()).prop_map(move |(i, at, b)| {
                let mut l = s2[i].clone();
                let at = at.index(l.len());
                l[at] = if b == b'\n' { b' ' } else { b };
                l
            }),
            prop::collection::vec(
                any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
                0..200
            ),
        ]
    }

    /// Does the engine match this line (None: not a record)?
    fn verdict(line: &[u8]) -> Option<bool> {
        let e = engine(Mode::Tag);
        let mut s = e.scratch();
        e.match_json(&mut s, line).ok().map(|m| !m.is_empty())
    }

    fn run(mode: Mode, lines: &[Vec<u8>], final_newline: bool) -> (Vec<u8>, Counts) {
        let mut input = lines.join(&b'\n');
        if final_newline && !lines.is_empty() {
            input.push(b'\n');
        }
        let mut out = Vec::new();
        let mut c = Counts::default();
        filter_lines(engine(mode), &input[..], &mut out, &mut c).unwrap();
        (out, c)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Tag mode: one line out per line in, in order; a line that matches
        /// nothing (or is not a record) comes out byte for byte.
        #[test]
        fn tag_mode_keeps_every_line(lines in prop::collection::vec(line(), 0..40), nl in any::<bool>()) {
            let (out, c) = run(Mode::Tag, &lines, nl);
            prop_assert_eq!(c.records_in, lines.len() as u64 - (lines.last().is_some_and(|l| l.is_empty()) && !nl) as u64);
            prop_assert_eq!(c.records_out, c.records_in);
            let outs: Vec<&[u8]> = out.strip_suffix(b"\n").unwrap_or(&out).split(|&b| b == b'\n').collect();
            if c.records_in > 0 {
                prop_assert_eq!(outs.len() as u64, c.records_in);
            }
            for (i, o) in outs.iter().enumerate().take(c.records_in as usize) {
                if verdict(&lines[i]) != Some(true) {
                    prop_assert_eq!(*o, &lines[i][..], "line {} changed", i);
                }
            }
        }

        /// Keep and drop: every line is either written or dropped, exactly
        /// as the verdicts say; lines that are not records always pass.
        #[test]
        fn keep_and_drop_account_for_every_line(lines in prop::collection::vec(line(), 1..40)) {
            for mode in [Mode::Keep, Mode::Drop] {
                let (out, c) = run(mode, &lines, true);
                let expected = lines.iter().filter(|l| match verdict(l) {
                    None => true,
                    Some(m) => m == (mode == Mode::Keep),
                }).count() as u64;
                let dropped = c.records_in - c.records_out;
                prop_assert_eq!(c.records_in, lines.len() as u64);
                prop_assert_eq!(c.records_out, expected);
                prop_assert_eq!(c.records_out + dropped, c.records_in);
                prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count() as u64, c.records_out);
            }
        }

        /// A msgpack stream of records and garbage: in tag mode every byte
        /// of an unmatched record comes out unchanged, nothing is lost.
        #[test]
        fn msgpack_stream_loses_nothing(picks in prop::collection::vec(0usize..1000, 0..30), tail in prop::collection::vec(any::<u8>(), 0..20)) {
            let recs: Vec<Vec<u8>> = seeds().iter().filter_map(|l| {
                let v: serde_json::Value = serde_json::from_slice(l).ok()?;
                let mut b = Vec::new();
                rmpv::encode::write_value(&mut b, &to_rmpv(&v)).unwrap();
                Some(b)
            }).collect();
            let mut input = Vec::new();
            let mut matched_any = false;
            for p in &picks {
                let r = &recs[p % recs.len()];
                let e = engine(Mode::Tag);
                let mut s = e.scratch();
                matched_any |= !e.match_msgpack(&mut s, r).unwrap().is_empty();
                input.extend_from_slice(r);
            }
            input.extend_from_slice(&tail);
            let mut out = Vec::new();
            let mut c = Counts::default();
            filter_msgpack(engine(Mode::Tag), &input[..], &mut out, &mut c).unwrap();
            prop_assert_eq!(c.records_out, c.records_in);
            prop_assert!(c.records_in >= picks.len() as u64);
            if !matched_any {
                prop_assert_eq!(out, input);
            } else {
                prop_assert!(out.len() > input.len());
            }
        }
    }

    fn to_rmpv(v: &serde_json::Value) -> rmpv::Value {
        match v {
            serde_json::Value::Null => rmpv::Value::Nil,
            serde_json::Value::Bool(b) => rmpv::Value::Boolean(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => rmpv::Value::from(i),
                None => rmpv::Value::F64(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => rmpv::Value::from(s.as_str()),
            serde_json::Value::Array(a) => rmpv::Value::Array(a.iter().map(to_rmpv).collect()),
            serde_json::Value::Object(o) => rmpv::Value::Map(
                o.iter()
                    .map(|(k, v)| (rmpv::Value::from(k.as_str()), to_rmpv(v)))
                    .collect(),
            ),
        }
    }
}
