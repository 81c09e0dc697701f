//! Telling a TLS record from a frame: the first four bytes of a TLS record (content
//! type 20-23, then the record version 3.x) read as a frame length prefix give a length
//! of hundreds of MiB, over any frame limit. Both sides use this to say "the peer speaks
//! TLS" instead of "frame too large" when TLS and plaintext are mixed up.

/// True when a frame length prefix (as read, before any limit check) is in fact the
/// start of a TLS record: a TLS client on a plaintext port, or a TLS port answering a
/// plaintext client with an alert.
pub fn looks_like_tls_record(frame_len: usize) -> bool {
    let Ok(prefix) = u32::try_from(frame_len) else {
        return false;
    };
    let [content_type, major, ..] = prefix.to_be_bytes();
    (0x14..=0x17).contains(&content_type) && major == 0x03
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_records_are_told_apart_from_frame_lengths() {
        assert!(looks_like_tls_record(0x1603_0100)); // ClientHello record, TLS 1.0 version
        assert!(looks_like_tls_record(0x1503_0300)); // alert record, TLS 1.2 version
        assert!(!looks_like_tls_record(0x0000_1000));
        assert!(!looks_like_tls_record(0x4745_5420)); // "GET "
        assert!(!looks_like_tls_record(usize::MAX));
    }
}
