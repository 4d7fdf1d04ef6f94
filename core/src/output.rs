//! Tagging: adding the list of fired rules to a record.
//!
//! The record is not re-serialised: the tag is spliced in before the JSON
//! object's closing brace, or appended to the msgpack map (its header's
//! count raised by one), so every byte the shipper sent is kept. Each rule's
//! tag object is rendered once, at build time.

use crate::error::RecordError;
use crate::rule::Meta;

/// A rule's tag as JSON: `{"id","title","level","tags","author"}`.
pub fn tag_json(m: &Meta) -> String {
    serde_json::json!({
        "id": m.id,
        "title": m.title,
        "level": m.level,
        "tags": m.tags,
        "author": m.author,
    })
    .to_string()
}

/// The same tag as a msgpack map.
pub fn tag_msgpack(m: &Meta) -> Vec<u8> {
    let mut out = Vec::new();
    let w = &mut out;
    rmp::encode::write_map_len(w, 5).unwrap();
    let s = |w: &mut Vec<u8>, v: &str| rmp::encode::write_str(w, v).unwrap();
    let opt = |w: &mut Vec<u8>, v: &Option<String>| match v {
        Some(v) => rmp::encode::write_str(w, v).unwrap(),
        None => rmp::encode::write_nil(w).unwrap(),
    };
    s(w, "id");
    s(w, &m.id);
    s(w, "title");
    s(w, &m.title);
    s(w, "level");
    opt(w, &m.level);
    s(w, "tags");
    rmp::encode::write_array_len(w, m.tags.len() as u32).unwrap();
    for t in &m.tags {
        s(w, t);
    }
    s(w, "author");
    opt(w, &m.author);
    out
}

/// Writes `record` with `"field": [tags...]` added. `replace` says the
/// record already has that field: then it is rewritten (rare; keeps one key).
pub fn insert_json(
    record: &[u8],
    field: &str,
    tags: &[&str],
    replace: bool,
    out: &mut Vec<u8>,
) -> Result<(), RecordError> {
    if replace {
        let list = format!("[{}]", tags.join(","));
        let mut v: serde_json::Value =
            serde_json::from_slice(record).map_err(|e| RecordError::Json(e.to_string()))?;
        let tagged: serde_json::Value = serde_json::from_str(&list).expect("tags are valid JSON");
        v.as_object_mut()
            .ok_or(RecordError::NotAnObject)?
            .insert(field.to_string(), tagged);
        serde_json::to_writer(&mut *out, &v).map_err(|e| RecordError::Json(e.to_string()))?;
        return Ok(());
    }
    let end = record
        .iter()
        .rposition(|&b| b == b'}')
        .ok_or(RecordError::NotAnObject)?;
    let body_end = record[..end]
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .ok_or(RecordError::NotAnObject)?;
    let empty = record[body_end] == b'{';
    out.extend_from_slice(&record[..body_end + 1]);
    if !empty {
        out.push(b',');
    }
    serde_json::to_writer(&mut *out, field).expect("string serialises");
    out.push(b':');
    out.push(b'[');
    for (i, t) in tags.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(t.as_bytes());
    }
    out.push(b']');
    out.extend_from_slice(&record[body_end + 1..]);
    Ok(())
}

/// Writes a msgpack map record with `field: [tags...]` appended; an
/// existing `field` key is replaced (a map keeps one value per key).
pub fn insert_msgpack(
    record: &[u8],
    field: &str,
    tags: &[&[u8]],
    out: &mut Vec<u8>,
) -> Result<(), RecordError> {
    let bad = || RecordError::Msgpack("truncated or invalid msgpack map".into());
    let mut rd = record;
    let n = rmp::decode::read_map_len(&mut rd).map_err(|_| bad())? as usize;
    let mut pos = record.len() - rd.len();
    let body_start = pos;
    // (pair length, is it `field`?) for each pair, in order.
    let pair = |pos: usize| -> Result<(usize, bool), RecordError> {
        let kl = crate::msgpack::value_len(&record[pos..]).ok_or_else(bad)?;
        let vl = crate::msgpack::value_len(&record[pos + kl..]).ok_or_else(bad)?;
        let mut kr = &record[pos..pos + kl];
        let is_field = rmp::decode::read_str_len(&mut kr)
            .is_ok_and(|l| l as usize == field.len() && kr == field.as_bytes());
        Ok((kl + vl, is_field))
    };
    let mut replaced = 0;
    for _ in 0..n {
        let (len, is_field) = pair(pos)?;
        replaced += is_field as usize;
        pos += len;
    }
    rmp::encode::write_map_len(out, (n - replaced + 1) as u32).unwrap();
    if replaced > 0 {
        // Rare: copy every other pair (a second walk, no allocation).
        let mut p = body_start;
        for _ in 0..n {
            let (len, is_field) = pair(p)?;
            if !is_field {
                out.extend_from_slice(&record[p..p + len]);
            }
            p += len;
        }
    } else {
        out.extend_from_slice(&record[body_start..pos]);
    }
    rmp::encode::write_str(out, field).unwrap();
    rmp::encode::write_array_len(out, tags.len() as u32).unwrap();
    for t in tags {
        out.extend_from_slice(t);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_splice_keeps_bytes() {
        let mut out = Vec::new();
        insert_json(
            br#"{"a": 1 }  "#,
            "sigma",
            &[r#"{"id":"x"}"#],
            false,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, br#"{"a": 1,"sigma":[{"id":"x"}] }  "#);
        out.clear();
        insert_json(b"{ }", "sigma", &["1", "2"], false, &mut out).unwrap();
        assert_eq!(out, br#"{"sigma":[1,2] }"#);
        out.clear();
        insert_json(br#"{"sigma":"old","b":2}"#, "sigma", &["1"], true, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["sigma"], serde_json::json!([1]));
        assert_eq!(v["b"], 2);
    }

    #[test]
    fn msgpack_append_grows_header() {
        // A fixmap with 15 entries becomes a map16 with 16.
        let mut rec = Vec::new();
        rmp::encode::write_map_len(&mut rec, 15).unwrap();
        for i in 0..15 {
            rmp::encode::write_str(&mut rec, &format!("k{i}")).unwrap();
            rmp::encode::write_uint(&mut rec, i).unwrap();
        }
        let meta = Meta {
            id: "i".into(),
            title: "t".into(),
            ..Default::default()
        };
        let tag = tag_msgpack(&meta);
        let mut out = Vec::new();
        insert_msgpack(&rec, "sigma", &[&tag], &mut out).unwrap();
        let v = rmpv::decode::read_value(&mut out.as_slice()).unwrap();
        let m = v.as_map().unwrap();
        assert_eq!(m.len(), 16);
        assert_eq!(m[15].0.as_str(), Some("sigma"));
        assert_eq!(m[15].1[0]["title"].as_str(), Some("t"));
        // An existing tag field is replaced, not duplicated.
        let mut again = Vec::new();
        insert_msgpack(&out, "sigma", &[&tag, &tag], &mut again).unwrap();
        let v = rmpv::decode::read_value(&mut again.as_slice()).unwrap();
        assert_eq!(v.as_map().unwrap().len(), 16);
        assert_eq!(v["sigma"].as_array().unwrap().len(), 2);
    }
}
