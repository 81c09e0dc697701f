//! Buffer memory for records between `send` and their batch's completion.
//!
//! The producer's `buffer_memory_bytes` is a semaphore of that many permits. `send`
//! takes a record's estimated size as a [`Reservation`]; the batch the record joins
//! keeps those permits and gives them back when it completes. Permits move as plain
//! counts (no guard object or reference count per record); a reservation dropped before
//! its record was queued gives its permits back.

use tokio::sync::{Semaphore, SemaphorePermit};

/// Buffer memory taken for one record, returned on drop unless a batch [`keep`]s it.
///
/// [`keep`]: Reservation::keep
#[derive(Debug)]
pub(crate) struct Reservation<'a> {
    memory: &'a Semaphore,
    permits: usize,
}

impl<'a> Reservation<'a> {
    /// Takes over `permit`: its permits now come back through this reservation.
    pub(crate) fn new(memory: &'a Semaphore, permit: SemaphorePermit<'a>) -> Self {
        let permits = permit.num_permits();
        permit.forget();
        Self { memory, permits }
    }

    /// Hands the permits to the caller (a batch, which returns them to the same
    /// semaphore when it completes); returns how many.
    pub(crate) fn keep(mut self) -> usize {
        std::mem::take(&mut self.permits)
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.memory.add_permits(self.permits);
        }
    }
}
