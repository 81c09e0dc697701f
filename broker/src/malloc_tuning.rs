//! Keeps large request buffers inside the process instead of returning them to the
//! kernel after every frame.
//!
//! Each Produce frame is read into a fresh buffer of the frame's size (~1 MiB for a
//! batch of 1000 × 1 KiB). With glibc's defaults those buffers are `mmap`ed or trimmed
//! back on free, so every frame paid page faults and page zeroing on its buffer: ~14% of
//! the broker's CPU in `do_anonymous_page`/`clear_page` under `rill bench produce`
//! (perf, cpu-clock). Raising the mmap and trim thresholds keeps freed buffers for the
//! next frame. Memory stays bounded: what is kept is at most what was in flight.

/// Buffers below this size come from the heap, not from their own `mmap` (64 MiB, the
/// default `max_frame_bytes` order of magnitude).
const MMAP_THRESHOLD_BYTES: i32 = 64 * 1024 * 1024;
/// Free memory at the top of a heap is returned to the kernel only beyond this.
const TRIM_THRESHOLD_BYTES: i32 = 128 * 1024 * 1024;

/// Applies the thresholds (glibc only; a no-op elsewhere). Call once at start-up,
/// before threads allocate.
pub fn keep_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before the runtime
    // starts, and glibc serialises it against allocations anyway.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
    }
}
