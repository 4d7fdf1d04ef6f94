//! The Sigma document model: detection rules, filters and correlations, as
//! parsed from one YAML document.
//!
//! Parsing keeps the `detection` section as YAML: its meaning depends on the
//! logsource and the field mapping, which the compiler applies. What is
//! checked here is the document's shape, so an invalid rule is reported with
//! its file, line, id and title before anything is compiled.

use std::path::{Path, PathBuf};

use yaml_rust2::Yaml;

/// Where a document came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    /// 1-based line of the document's first line in the file.
    pub line: usize,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// A rule's `logsource`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Logsource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

impl std::fmt::Display for Logsource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            ("product", &self.product),
            ("category", &self.category),
            ("service", &self.service),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
        .collect();
        if parts.is_empty() {
            f.write_str("(none)")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// The `detection` section: named selections and the condition(s).
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// Selections in document order.
    pub selections: Vec<(String, Yaml)>,
    /// One or more conditions; a list of conditions is their OR.
    pub conditions: Vec<String>,
}

/// Descriptive fields that go into every tag, as the DRL requires.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub id: String,
    /// The document had no `id`: `id` was derived from the title and file name.
    pub id_derived: bool,
    pub name: Option<String>,
    pub title: String,
    pub level: Option<String>,
    pub status: Option<String>,
    pub tags: Vec<String>,
    pub author: Option<String>,
    /// `YYYY-MM-DD`, from either `YYYY-MM-DD` or the older `YYYY/MM/DD`.
    pub date: Option<String>,
    pub modified: Option<String>,
}

/// A detection rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub meta: Meta,
    pub logsource: Logsource,
    pub detection: Detection,
    pub source: Source,
}

/// A filter document: an extra condition ANDed as `not` into named rules.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub meta: Meta,
    pub logsource: Logsource,
    /// Ids or names of the rules the filter applies to.
    pub rules: Vec<String>,
    pub detection: Detection,
    pub source: Source,
}

/// One YAML document of a rule file.
#[derive(Clone, Debug, PartialEq)]
pub enum Document {
    Rule(Rule),
    Filter(Filter),
    /// A correlation rule: recognised, not supported yet.
    Correlation {
        meta: Meta,
        source: Source,
    },
}

/// Why a document was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub source: Source,
    pub id: Option<String>,
    pub title: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.source)?;
        match (&self.id, &self.title) {
            (Some(id), Some(t)) => write!(f, "{id} ({t}): ")?,
            (Some(id), None) => write!(f, "{id}: ")?,
            (None, Some(t)) => write!(f, "({t}): ")?,
            (None, None) => {}
        }
        f.write_str(&self.reason)
    }
}

fn get<'a>(doc: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    match doc {
        Yaml::Hash(h) => h.get(&Yaml::String(key.to_string())),
        _ => None,
    }
}

/// A scalar as text (numbers and booleans included).
pub fn scalar_text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text_field(doc: &Yaml, key: &str) -> Result<Option<String>, String> {
    match get(doc, key) {
        None | Some(Yaml::Null) => Ok(None),
        Some(y) => scalar_text(y)
            .map(Some)
            .ok_or_else(|| format!("`{key}` must be a string")),
    }
}

fn normalize_date(s: String) -> String {
    let b = s.as_bytes();
    if b.len() == 10 && b[4] == b'/' && b[7] == b'/' {
        s.replace('/', "-")
    } else {
        s
    }
}

/// A stable id for a rule without one: a UUID-shaped hash of its file name,
/// title and position in the file, so it survives moving the rule directory.
pub fn derive_id(path: &Path, title: &str, index: usize) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let key = format!("{name}\0{title}\0{index}");
    let h1 = fnv1a(0xcbf2_9ce4_8422_2325, key.as_bytes());
    let h2 = fnv1a(h1 ^ 0x9e37_79b9_7f4a_7c15, key.as_bytes());
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        h1 >> 32,
        (h1 >> 16) & 0xffff,
        h1 & 0xffff,
        h2 >> 48,
        h2 & 0xffff_ffff_ffff
    )
}

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(seed, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

fn parse_meta(doc: &Yaml, source: &Source, index: usize) -> Result<Meta, String> {
    let title = text_field(doc, "title")?.ok_or("missing `title`")?;
    let (id, id_derived) = match text_field(doc, "id")? {
        Some(id) => (id, false),
        None => (derive_id(&source.path, &title, index), true),
    };
    let tags = match get(doc, "tags") {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::Array(a)) => a
            .iter()
            .map(|t| scalar_text(t).ok_or("`tags` must be a list of strings"))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`tags` must be a list".into()),
    };
    let author = match get(doc, "author") {
        Some(Yaml::Array(a)) => Some(
            a.iter()
                .filter_map(scalar_text)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => text_field(doc, "author")?,
    };
    Ok(Meta {
        id,
        id_derived,
        name: text_field(doc, "name")?,
        title,
        level: text_field(doc, "level")?,
        status: text_field(doc, "status")?,
        tags,
        author,
        date: text_field(doc, "date")?.map(normalize_date),
        modified: text_field(doc, "modified")?.map(normalize_date),
    })
}

fn parse_logsource(doc: &Yaml) -> Result<Logsource, String> {
    match get(doc, "logsource") {
        None => Err("missing `logsource`".into()),
        Some(ls @ Yaml::Hash(_)) => Ok(Logsource {
            product: text_field(ls, "product")?.map(|s| s.to_lowercase()),
            category: text_field(ls, "category")?.map(|s| s.to_lowercase()),
            service: text_field(ls, "service")?.map(|s| s.to_lowercase()),
        }),
        Some(_) => Err("`logsource` must be a mapping".into()),
    }
}

fn parse_detection(section: Option<&Yaml>, what: &str) -> Result<Detection, String> {
    let Some(Yaml::Hash(h)) = section else {
        return Err(format!("missing or invalid `{what}` section"));
    };
    let mut selections = Vec::new();
    let mut conditions = Vec::new();
    for (k, v) in h {
        let name = scalar_text(k).ok_or_else(|| format!("`{what}` keys must be strings"))?;
        match name.as_str() {
            "condition" => match v {
                Yaml::Array(a) => {
                    for c in a {
                        conditions.push(scalar_text(c).ok_or("`condition` items must be strings")?)
                    }
                }
                v => conditions.push(scalar_text(v).ok_or("`condition` must be a string")?),
            },
            // Legacy metadata some rules still carry inside `detection`.
            "timeframe" => {}
            _ => selections.push((name, v.clone())),
        }
    }
    if conditions.is_empty() {
        return Err(format!("`{what}` has no `condition`"));
    }
    Ok(Detection {
        selections,
        conditions,
    })
}

/// Parses one YAML document. `index` is the document's position in its file.
pub fn parse_document(doc: &Yaml, source: Source, index: usize) -> Result<Document, Rejection> {
    let reject = |reason: String| Rejection {
        source: source.clone(),
        id: get(doc, "id").and_then(scalar_text),
        title: get(doc, "title").and_then(scalar_text),
        reason,
    };
    if !matches!(doc, Yaml::Hash(_)) {
        return Err(reject("a Sigma document must be a YAML mapping".into()));
    }
    let meta = parse_meta(doc, &source, index).map_err(reject)?;
    if get(doc, "correlation").is_some() {
        return Ok(Document::Correlation { meta, source });
    }
    if let Some(filter) = get(doc, "filter") {
        let rules = match get(filter, "rules") {
            None | Some(Yaml::Null) => Vec::new(),
            Some(Yaml::Array(a)) => a.iter().filter_map(scalar_text).collect(),
            Some(y) => scalar_text(y).into_iter().collect(),
        };
        let detection = parse_detection(Some(filter), "filter").map_err(reject)?;
        let detection = Detection {
            selections: detection
                .selections
                .into_iter()
                .filter(|(k, _)| k != "rules")
                .collect(),
            ..detection
        };
        let logsource = parse_logsource(doc).unwrap_or_default();
        return Ok(Document::Filter(Filter {
            meta,
            logsource,
            rules,
            detection,
            source,
        }));
    }
    let logsource = parse_logsource(doc).map_err(reject)?;
    let detection = parse_detection(get(doc, "detection"), "detection").map_err(reject)?;
    Ok(Document::Rule(Rule {
        meta,
        logsource,
        detection,
        source,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use yaml_rust2::YamlLoader;

    fn doc(s: &str) -> Result<Document, Rejection> {
        let y = YamlLoader::load_from_str(s).unwrap().remove(0);
        parse_document(
            &y,
            Source {
                path: "x/r.yml".into(),
                line: 1,
            },
            0,
        )
    }

    #[test]
    fn derived_id_is_stable_and_uuid_shaped() {
        let d =
            doc("title: T\nlogsource: {product: windows}\ndetection: {s: {a: 1}, condition: s}\n")
                .unwrap();
        let Document::Rule(r) = d else { panic!() };
        assert!(r.meta.id_derived);
        assert_eq!(r.meta.id, derive_id(Path::new("other/dir/r.yml"), "T", 0));
        assert_eq!(r.meta.id.len(), 36);
        assert_ne!(r.meta.id, derive_id(Path::new("r.yml"), "T2", 0));
    }

    #[test]
    fn old_and_new_dates() {
        let d = doc("title: T\nid: x\ndate: 2019/01/02\nmodified: 2020-03-04\nauthor: [A, B]\nlogsource: {product: windows}\ndetection: {s: {a: 1}, condition: [s, s]}\n").unwrap();
        let Document::Rule(r) = d else { panic!() };
        assert_eq!(r.meta.date.as_deref(), Some("2019-01-02"));
        assert_eq!(r.meta.modified.as_deref(), Some("2020-03-04"));
        assert_eq!(r.meta.author.as_deref(), Some("A, B"));
        assert_eq!(r.detection.conditions.len(), 2);
    }

    #[test]
    fn shape_errors() {
        assert!(doc("id: x\nlogsource: {}\ndetection: {condition: s}")
            .unwrap_err()
            .reason
            .contains("title"));
        assert!(doc("title: t\ndetection: {s: {a: 1}, condition: s}")
            .unwrap_err()
            .reason
            .contains("logsource"));
        let e =
            doc("title: t\nid: i\nlogsource: {product: x}\ndetection: {s: {a: 1}}").unwrap_err();
        assert!(e.reason.contains("condition"));
        assert_eq!(e.id.as_deref(), Some("i"));
        assert!(matches!(
            doc("title: t\ncorrelation: {type: event_count}").unwrap(),
            Document::Correlation { .. }
        ));
    }
}
