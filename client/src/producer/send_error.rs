//! [`SendError`]: a record `Producer::send` could not queue, handed back with the reason.

use crate::error::ClientError;
use crate::record::ProducerRecord;

/// Why `send` did not queue a record, with the record itself, so the application can
/// retry it, park it or log it without having kept a copy.
///
/// `?` turns it into its [`ClientError`] (dropping the record).
#[derive(Debug, Clone)]
pub struct SendError {
    error: ClientError,
    record: ProducerRecord,
}

impl SendError {
    pub(crate) fn new(error: ClientError, record: ProducerRecord) -> Self {
        Self { error, record }
    }

    /// Why the record was not queued.
    pub fn error(&self) -> &ClientError {
        &self.error
    }

    /// The record that was not queued.
    pub fn record(&self) -> &ProducerRecord {
        &self.record
    }

    /// The error and the record.
    pub fn into_parts(self) -> (ClientError, ProducerRecord) {
        (self.error, self.record)
    }

    /// The record that was not queued, to send again or keep.
    pub fn into_record(self) -> ProducerRecord {
        self.record
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "record for {} not queued: {}",
            self.record.topic, self.error
        )
    }
}

/// The cause is in the message; `source` stays empty so it is printed once.
impl std::error::Error for SendError {}

impl From<SendError> for ClientError {
    fn from(error: SendError) -> Self {
        error.error
    }
}
