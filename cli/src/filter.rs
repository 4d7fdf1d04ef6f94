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
