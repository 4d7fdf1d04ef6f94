//! Error types. Rule problems are not errors of the whole load: they are
//! [`Rejection`](crate::rule::Rejection)s collected per document.

use std::path::PathBuf;

/// A failure that stops building an engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("no rule could be compiled ({rejected} rejected)")]
    NoRules { rejected: usize },
    #[error("{0}")]
    Invalid(String),
}

/// A record that could not be read. The caller passes such a record through
/// unchanged and counts it.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("invalid JSON record: {0}")]
    Json(String),
    #[error("invalid msgpack record: {0}")]
    Msgpack(String),
    #[error("record is not a map/object")]
    NotAnObject,
    /// Larger than the engine's `max_record_bytes`: passed on unread.
    #[error("record is {len} bytes, over the {max}-byte limit (max_record_bytes)")]
    TooLarge { len: usize, max: usize },
}
