//! Graceful shutdown: one signal the listener and every connection hold.
//!
//! `ShutdownSignal::trigger` flips a `watch` channel; each holder's
//! [`ShutdownListener::recv`] resolves once. Connections finish the requests they have
//! read, write the responses, then close.

use tokio::sync::watch;

/// The sending side: trigger it once to begin shutdown.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    tx: watch::Sender<bool>,
}

/// The receiving side held by tasks that must stop on shutdown.
#[derive(Debug, Clone)]
pub struct ShutdownListener {
    rx: watch::Receiver<bool>,
}

impl ShutdownSignal {
    /// A new, untriggered signal and its first listener.
    pub fn new() -> (ShutdownSignal, ShutdownListener) {
        let (tx, rx) = watch::channel(false);
        (ShutdownSignal { tx }, ShutdownListener { rx })
    }

    /// Begins shutdown; every listener's `recv` resolves.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// A new listener.
    pub fn subscribe(&self) -> ShutdownListener {
        ShutdownListener {
            rx: self.tx.subscribe(),
        }
    }
}

impl ShutdownListener {
    /// True once shutdown has begun.
    pub fn is_shutdown(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves when shutdown begins (immediately if it already has). Cancel-safe.
    pub async fn recv(&mut self) {
        // An error means the sender is gone, which also means shutdown.
        let _ = self.rx.wait_for(|down| *down).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listeners_see_the_trigger() {
        let (signal, mut a) = ShutdownSignal::new();
        let mut b = signal.subscribe();
        assert!(!a.is_shutdown());
        signal.trigger();
        a.recv().await;
        b.recv().await;
        assert!(b.is_shutdown());
    }
}
