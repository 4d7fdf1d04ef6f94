//! sigmaline: compile a whole Sigma rule pack into one matcher for log records.
//!
//! ```text
//! RuleSet::load_paths ──> EngineBuilder::build ──> Engine (immutable, Sync)
//!                                                   │
//!   record bytes ──> shape walk ──> field matchers ──> atom hits ──> candidate rules ──> tags
//! ```
//!
//! See `DESIGN.md` at the repository root for how and why.

// Records are hostile input: the engine that reads them has no unsafe code
// but one prefetch hint (`prefetch`), which reads nothing.
#![deny(unsafe_code)]

pub mod compiler;
pub mod condition;
pub mod engine;
pub mod error;
mod family;
mod groups;
pub mod json_flat;
pub mod keywords;
pub mod loader;
pub mod logsource;
pub mod matcher;
mod memo;
pub mod modifier;
pub mod msgpack;
mod on_hit;
pub mod output;
pub mod pattern;
pub mod prefetch;
pub mod profile;
mod program;
pub mod record;
pub mod rule;
mod scope_cache;
pub mod settings;
pub mod shape;
pub mod timeparts;
mod yamlutil;

pub use engine::{
    BuildReport, Engine, EngineBuilder, LoadedRule, Mode, Outcome, Scratch, Unmapped,
};
pub use error::{Error, RecordError};
pub use loader::RuleSet;
pub use logsource::LogsourceMap;
pub use profile::ProfileSet;
pub use rule::{Meta, Rejection, Source};
pub use settings::Settings;

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
