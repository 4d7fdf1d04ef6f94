//! The C ABI and shipper bindings for sigmaline.
//!
//! Placeholder until the Fluent Bit issue lands: the exported C functions,
//! the generated header and the Fluent Bit filter will live here, over
//! [`sigmaline_core`]. Nothing is exported yet.

/// The engine version this plugin crate is built against.
pub fn engine_version() -> &'static str {
    sigmaline_core::VERSION
}
