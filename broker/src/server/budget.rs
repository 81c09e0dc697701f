//! Byte budgets for connection buffers: what one connection, and all of them together,
//! may hold in requests read but not yet handled plus responses not yet written.
//!
//! Each connection has its own [`ByteBudget`] (`max_connection_buffer_bytes`) and shares
//! the broker's (`max_total_buffer_bytes`). A [`Charge`] holds bytes in both and gives
//! them back when dropped. A request is charged its frame's length when it is read; once
//! handled, the charge is resized to its response's length, which stays charged until the
//! response is written. A peer that stops reading therefore stops having its requests
//! read once its own budget is full, and slows nobody else.
//!
//! Deadlock freedom: reading a request may only fill a budget up to its limit less a
//! reserve of one largest frame; turning a handled request into its response may use the
//! whole limit. So while a connection has no unwritten responses, its response always
//! finds room; when it has some, it waits for those to be written (the peer reading).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// A count of bytes held against a limit, with waiting for room.
#[derive(Debug)]
pub struct ByteBudget {
    limit_bytes: usize,
    reserve_bytes: usize,
    used_bytes: AtomicUsize,
    freed: Notify,
}

/// Which share of a budget a charge may fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ceiling {
    /// The limit less the reserve: requests being read.
    Requests,
    /// The whole limit: responses of requests already held.
    Responses,
}

impl ByteBudget {
    /// A budget of `limit_bytes`, of which requests may fill all but `reserve_bytes`.
    pub fn new(limit_bytes: usize, reserve_bytes: usize) -> Arc<ByteBudget> {
        Arc::new(ByteBudget {
            limit_bytes,
            reserve_bytes: reserve_bytes.min(limit_bytes / 2),
            used_bytes: AtomicUsize::new(0),
            freed: Notify::new(),
        })
    }

    /// Bytes held now.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes.load(Ordering::Acquire)
    }

    /// The limit.
    pub fn limit_bytes(&self) -> usize {
        self.limit_bytes
    }

    fn ceiling_bytes(&self, ceiling: Ceiling) -> usize {
        match ceiling {
            Ceiling::Requests => self.limit_bytes - self.reserve_bytes,
            Ceiling::Responses => self.limit_bytes,
        }
    }

    /// Takes `bytes` if they fit under `ceiling` now. Anything fits an empty budget, so
    /// an item larger than the ceiling cannot wait forever.
    fn try_take(&self, bytes: usize, ceiling: Ceiling) -> bool {
        if bytes == 0 {
            return true;
        }
        let ceiling = self.ceiling_bytes(ceiling);
        self.used_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let fits = used == 0 || used.saturating_add(bytes) <= ceiling;
                fits.then_some(used.saturating_add(bytes))
            })
            .is_ok()
    }

    /// Takes up to `bytes` of what is free under the whole limit now; returns how many.
    fn take_up_to(&self, bytes: usize) -> usize {
        let mut taken = 0;
        let _ = self
            .used_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                taken = self.limit_bytes.saturating_sub(used).min(bytes);
                Some(used + taken)
            });
        taken
    }

    /// Waits until `bytes` fit under `ceiling`, then takes them. Cancel-safe: nothing is
    /// taken unless this returns.
    async fn take(&self, bytes: usize, ceiling: Ceiling) {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.try_take(bytes, ceiling) {
                return;
            }
            freed.await;
        }
    }

    fn give_back(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let before = self.used_bytes.fetch_sub(bytes, Ordering::AcqRel);
        debug_assert!(before >= bytes, "gave back more than was taken");
        self.freed.notify_waiters();
    }
}

/// Bytes held in a connection's budget and in the broker-wide one; given back on drop.
#[derive(Debug)]
pub struct Charge {
    connection: Arc<ByteBudget>,
    total: Arc<ByteBudget>,
    connection_bytes: usize,
    total_bytes: usize,
}

impl Charge {
    /// A charge of nothing yet, against these budgets.
    pub fn empty(connection: &Arc<ByteBudget>, total: &Arc<ByteBudget>) -> Charge {
        Charge {
            connection: connection.clone(),
            total: total.clone(),
            connection_bytes: 0,
            total_bytes: 0,
        }
    }

    /// Charges a request of `bytes` just read, waiting while either budget is full to
    /// its request share. Cancel-safe.
    pub async fn for_request(
        connection: &Arc<ByteBudget>,
        total: &Arc<ByteBudget>,
        bytes: usize,
    ) -> Charge {
        let mut charge = Charge {
            connection: connection.clone(),
            total: total.clone(),
            connection_bytes: 0,
            total_bytes: 0,
        };
        connection.take(bytes, Ceiling::Requests).await;
        charge.connection_bytes = bytes;
        total.take(bytes, Ceiling::Requests).await;
        charge.total_bytes = bytes;
        charge
    }

    /// Grows the charge to `bytes` for request bytes about to be read, waiting while
    /// either budget is full to its request share. Cancel-safe.
    pub async fn grow_request_to(&mut self, bytes: usize) {
        if self.connection_bytes < bytes {
            let extra = bytes - self.connection_bytes;
            self.connection.take(extra, Ceiling::Requests).await;
            self.connection_bytes = bytes;
        }
        if self.total_bytes < bytes {
            let extra = bytes - self.total_bytes;
            self.total.take(extra, Ceiling::Requests).await;
            self.total_bytes = bytes;
        }
    }

    /// Moves `bytes` of this charge (or all it has) into a new charge, e.g. for a frame
    /// split off a read buffer; the budgets see no change.
    pub fn split_off(&mut self, bytes: usize) -> Charge {
        let connection_bytes = bytes.min(self.connection_bytes);
        let total_bytes = bytes.min(self.total_bytes);
        self.connection_bytes -= connection_bytes;
        self.total_bytes -= total_bytes;
        Charge {
            connection: self.connection.clone(),
            total: self.total.clone(),
            connection_bytes,
            total_bytes,
        }
    }

    /// Bytes charged (in both budgets, once any wait has finished).
    pub fn bytes(&self) -> usize {
        self.connection_bytes.min(self.total_bytes)
    }

    /// Changes the charge to `bytes`: gives back any excess at once, or waits for room
    /// for the rest in both budgets (their whole limits). Cancel-safe.
    pub async fn resize(&mut self, bytes: usize) {
        self.shrink_to(bytes);
        if self.connection_bytes < bytes {
            let extra = bytes - self.connection_bytes;
            self.connection.take(extra, Ceiling::Responses).await;
            self.connection_bytes = bytes;
        }
        if self.total_bytes < bytes {
            let extra = bytes - self.total_bytes;
            self.total.take(extra, Ceiling::Responses).await;
            self.total_bytes = bytes;
        }
    }

    /// Grows the charge by up to `extra` bytes free in both budgets now, without waiting;
    /// returns the bytes added.
    pub fn grow_now(&mut self, extra: usize) -> usize {
        let got = self.connection.take_up_to(extra);
        let got_total = self.total.take_up_to(got);
        self.connection.give_back(got - got_total);
        self.connection_bytes += got_total;
        self.total_bytes += got_total;
        got_total
    }

    /// Gives back everything above `bytes`.
    pub fn shrink_to(&mut self, bytes: usize) {
        if self.connection_bytes > bytes {
            self.connection.give_back(self.connection_bytes - bytes);
            self.connection_bytes = bytes;
        }
        if self.total_bytes > bytes {
            self.total.give_back(self.total_bytes - bytes);
            self.total_bytes = bytes;
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.shrink_to(0);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn budgets(connection: usize, total: usize, reserve: usize) -> [Arc<ByteBudget>; 2] {
        [
            ByteBudget::new(connection, reserve),
            ByteBudget::new(total, reserve),
        ]
    }

    async fn settles<F: std::future::Future>(f: F) -> Option<F::Output> {
        tokio::time::timeout(Duration::from_millis(50), f)
            .await
            .ok()
    }

    #[tokio::test]
    async fn requests_wait_below_the_reserve_and_resume_when_bytes_are_given_back() {
        let [conn, total] = budgets(100, 1000, 20);
        let a = Charge::for_request(&conn, &total, 60).await;
        let _b = Charge::for_request(&conn, &total, 20).await;
        assert_eq!(conn.used_bytes(), 80);
        // 80 + 1 is above the request share (100 - 20).
        let waiting = Charge::for_request(&conn, &total, 1);
        tokio::pin!(waiting);
        assert!(settles(waiting.as_mut()).await.is_none());
        drop(a);
        let c = settles(waiting)
            .await
            .expect("room after a charge is dropped");
        assert_eq!(c.bytes(), 1);
        assert_eq!((conn.used_bytes(), total.used_bytes()), (21, 21));
    }

    #[tokio::test]
    async fn a_response_may_use_the_reserve_requests_cannot() {
        let [conn, total] = budgets(100, 1000, 20);
        let _queued = Charge::for_request(&conn, &total, 70).await;
        let mut handled = Charge::for_request(&conn, &total, 10).await;
        settles(handled.resize(30))
            .await
            .expect("a response grows into the reserve");
        assert_eq!(conn.used_bytes(), 100);
        let mut over = Charge::empty(&conn, &total);
        assert!(settles(over.resize(1)).await.is_none(), "the limit holds");
    }

    #[tokio::test]
    async fn the_total_budget_bounds_all_connections_together() {
        let total = ByteBudget::new(100, 10);
        let one = ByteBudget::new(80, 10);
        let two = ByteBudget::new(80, 10);
        let _a = Charge::for_request(&one, &total, 60).await;
        let waiting = Charge::for_request(&two, &total, 40);
        tokio::pin!(waiting);
        assert!(settles(waiting.as_mut()).await.is_none());
        assert_eq!(total.used_bytes(), 60);
    }

    #[tokio::test]
    async fn shrinking_and_dropping_give_everything_back() {
        let [conn, total] = budgets(100, 100, 10);
        let mut c = Charge::for_request(&conn, &total, 50).await;
        c.shrink_to(5);
        assert_eq!((conn.used_bytes(), total.used_bytes()), (5, 5));
        assert_eq!(c.grow_now(500), 95);
        assert_eq!(c.bytes(), 100);
        assert_eq!(c.grow_now(1), 0);
        drop(c);
        assert_eq!((conn.used_bytes(), total.used_bytes()), (0, 0));
    }

    #[tokio::test]
    async fn split_off_moves_bytes_without_touching_the_budgets() {
        let [conn, total] = budgets(100, 100, 10);
        let mut held = Charge::empty(&conn, &total);
        held.grow_request_to(60).await;
        let frame = held.split_off(45);
        assert_eq!((held.bytes(), frame.bytes()), (15, 45));
        assert_eq!(conn.used_bytes(), 60);
        drop(frame);
        assert_eq!((conn.used_bytes(), total.used_bytes()), (15, 15));
        held.grow_request_to(10).await;
        assert_eq!(held.bytes(), 15, "growing to less than held is nothing");
    }

    #[tokio::test]
    async fn an_item_larger_than_the_budget_still_fits_an_empty_one() {
        let [conn, total] = budgets(100, 100, 10);
        let big = settles(Charge::for_request(&conn, &total, 500)).await;
        assert_eq!(big.expect("an empty budget takes anything").bytes(), 500);
    }
}
