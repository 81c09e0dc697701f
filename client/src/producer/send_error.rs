//! [`SendError`]: a record `Producer::send` could not queue, handed back with the reason.

use crate::error::ClientError;
use crate::record::ProducerRecord;

/// Why `send` did not queue a record, with the record itself, so the application can
/// retry it, park it or log it without having kept a copy.
///
/// `?` turns it into its [`ClientError`] (dropping the record).
///
/// Boxed inside, so `send`'s `Result` stays one pointer wide on the hot path.
#[derive(Debug, Clone)]
pub struct SendError(Box<Parts>);

#[derive(Debug, Clone)]
struct Parts {
    error: ClientError,
    record: ProducerRecord,
}

impl SendError {
    pub(crate) fn new(error: ClientError, record: ProducerRecord) -> Self {
        Self(Box::new(Parts { error, record }))
    }

    /// Why the record was not queued.
    pub fn error(&self) -> &ClientError {
        &self.0.error
    }

    /// The record that was not queued.
    pub fn record(&self) -> &ProducerRecord {
        &self.0.record
    }

    /// The error and the record.
    pub fn into_parts(self) -> (ClientError, ProducerRecord) {
        let parts = *self.0;
        (parts.error, parts.record)
    }

    /// The record that was not queued, to send again or keep.
    pub fn into_record(self) -> ProducerRecord {
        self.0.record
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "record for {} not queued: {}",
            self.0.record.topic, self.0.error
        )
    }
}

/// The cause is in the message; `source` stays empty so it is printed once.
impl std::error::Error for SendError {}

impl From<SendError> for ClientError {
    fn from(error: SendError) -> Self {
        error.0.error
    }
}
