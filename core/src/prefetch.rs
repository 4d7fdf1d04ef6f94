//! Asking for a record's cache lines before reading it.
//!
//! Records reach the engine cold: a host reads a stream far larger than the
//! caches, and each record is matched once. Parsing reads a record front to
//! back, and the msgpack walk hops from value to value, each address known
//! only once the previous length is read: over bytes not in cache every new
//! line is a wait for memory, one after the other. Asking for all of a
//! record's lines first lets them arrive together.
//!
//! A prefetch, unlike a load, holds up nothing behind it. Measured on OTRF
//! records cycled from memory (the Windows pack, `benches/examples/profile`,
//! alternated three times, Intel Xeon): reading one byte of every line
//! (the earlier `touch`) vs prefetching them, msgpack 517k/570k/559k vs
//! 555k/589k/585k records/s; JSON without either vs with the prefetch
//! 371k/365k/374k vs 423k/405k/421k. On an AMD EPYC earlier the touch and
//! the prefetch measured the same for single records. A Fluent Bit chunk
//! prefetches further ahead (`plugin/src/chunk.rs`).

// The one unsafe call in the engine: a hint that cannot fault.
#![allow(unsafe_code)]

/// Asks for every cache line of `b` without waiting for any.
#[inline]
pub fn lines(b: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in b.chunks(64) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has; and
        // a prefetch is a hint: it reads nothing into the program and cannot
        // fault, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) }
    }
    // Elsewhere, real loads of one byte a line: independent of each other,
    // so the CPU still issues them together.
    #[cfg(not(target_arch = "x86_64"))]
    std::hint::black_box(b.chunks(64).fold(0u8, |x, line| x ^ line[0]));
}
