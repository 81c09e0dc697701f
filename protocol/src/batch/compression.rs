//! Compression codecs of the records section, with Kafka's wire ids and framings.
//!
//! Only the records after the 61-byte header are compressed; the header stays plain so
//! the broker can read lengths, CRC and offsets without decompressing. The framings match
//! Kafka's clients: gzip is a gzip stream, snappy is xerial-framed on output (raw snappy
//! blocks are accepted on input, as librdkafka does), lz4 is the LZ4 frame format with
//! independent blocks, zstd is a zstd frame.
//!
//! Invariant: decompression is bounded. Output beyond `max_decompressed_bytes` is an
//! error ([`BatchError::Decompress`]), never an allocation, so a zip bomb costs at most
//! about that many bytes of memory.

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use bytes::Bytes;

use super::header::ATTR_COMPRESSION_MASK;
use super::BatchError;

/// Largest decompressed records section accepted by default.
pub const MAX_DECOMPRESSED_BYTES_DEFAULT: usize = 64 * 1024 * 1024;

/// The 8-byte magic that starts a xerial-framed snappy stream (Kafka's Java client).
pub const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Bytes of the xerial stream header: magic, version i32, compatible-version i32.
const XERIAL_HEADER_BYTES: usize = 16;
/// Uncompressed bytes per xerial block, the Java client's default.
const XERIAL_BLOCK_BYTES: usize = 32 * 1024;
/// zstd level used by the builder (Kafka's default).
const ZSTD_LEVEL: i32 = 3;

/// The compression codec of a batch's records section (attribute bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Records are stored as is.
    #[default]
    None,
    /// gzip stream (flate2).
    Gzip,
    /// snappy, xerial-framed on output; xerial or raw on input.
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// zstd frame.
    Zstd,
}

/// Why a codec name could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression {name:?} (expected none, gzip, snappy, lz4 or zstd)")]
pub struct UnknownCompressionName {
    /// The name that was given.
    pub name: String,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// Kafka's attribute id of the codec (0 none ... 4 zstd).
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec whose attribute id is `id`.
    pub fn from_id(id: i16) -> Result<Compression, BatchError> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            codec => Err(BatchError::UnknownCompression { codec }),
        }
    }

    /// The codec named by a batch's attributes.
    pub fn from_attributes(attributes: i16) -> Result<Compression, BatchError> {
        Compression::from_id(attributes & ATTR_COMPRESSION_MASK)
    }

    /// The lower-case name used in configs and on the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Appends the compressed form of `input` to `out`.
    pub fn compress(self, input: &[u8], out: &mut Vec<u8>) -> Result<(), BatchError> {
        let codec = self.name();
        let io_err = |e: std::io::Error| compress_error(codec, e);
        match self {
            Compression::None => out.extend_from_slice(input),
            Compression::Gzip => {
                let mut encoder =
                    flate2::write::GzEncoder::new(out, flate2::Compression::default());
                encoder.write_all(input).map_err(io_err)?;
                encoder.finish().map_err(io_err)?;
            }
            Compression::Snappy => snappy_xerial_compress(input, out)?,
            Compression::Lz4 => {
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max64KB)
                    .block_mode(lz4_flex::frame::BlockMode::Independent);
                let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
                encoder.write_all(input).map_err(io_err)?;
                encoder.finish().map_err(|e| compress_error(codec, e))?;
            }
            Compression::Zstd => {
                let mut encoder =
                    zstd::stream::write::Encoder::new(out, ZSTD_LEVEL).map_err(io_err)?;
                encoder
                    .set_pledged_src_size(Some(input.len() as u64))
                    .map_err(io_err)?;
                encoder.write_all(input).map_err(io_err)?;
                encoder.finish().map_err(io_err)?;
            }
        }
        Ok(())
    }

    /// Decompresses `input`, failing with [`BatchError::Decompress`] if the output would
    /// exceed `max_decompressed_bytes`. `None` returns a copy of `input` (bounded too).
    pub fn decompress(
        self,
        input: &[u8],
        max_decompressed_bytes: usize,
    ) -> Result<Bytes, BatchError> {
        let codec = self.name();
        let out = match self {
            Compression::None => {
                check_bound(codec, input.len(), max_decompressed_bytes)?;
                input.to_vec()
            }
            Compression::Gzip => read_bounded(
                codec,
                flate2::read::MultiGzDecoder::new(input),
                max_decompressed_bytes,
            )?,
            Compression::Snappy => snappy_decompress(input, max_decompressed_bytes)?,
            Compression::Lz4 => read_bounded(
                codec,
                lz4_flex::frame::FrameDecoder::new(input),
                max_decompressed_bytes,
            )?,
            Compression::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::with_buffer(input)
                    .map_err(|e| decompress_error(codec, e))?;
                decoder
                    .window_log_max(zstd_window_log_max(max_decompressed_bytes))
                    .map_err(|e| decompress_error(codec, e))?;
                read_bounded(codec, decoder, max_decompressed_bytes)?
            }
        };
        Ok(Bytes::from(out))
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = UnknownCompressionName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Compression::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownCompressionName {
                name: name.to_owned(),
            })
    }
}

fn compress_error(codec: &'static str, e: impl fmt::Display) -> BatchError {
    BatchError::Compress {
        codec,
        reason: e.to_string(),
    }
}

fn decompress_error(codec: &'static str, e: impl fmt::Display) -> BatchError {
    BatchError::Decompress {
        codec,
        reason: e.to_string(),
    }
}

fn check_bound(
    codec: &'static str,
    bytes: usize,
    max_decompressed_bytes: usize,
) -> Result<(), BatchError> {
    if bytes > max_decompressed_bytes {
        return Err(decompress_error(
            codec,
            format!(
                "output exceeds the limit of {max_decompressed_bytes} bytes (at least {bytes})"
            ),
        ));
    }
    Ok(())
}

/// Reads `reader` to its end, stopping with an error one byte past the limit.
fn read_bounded(
    codec: &'static str,
    reader: impl Read,
    max_decompressed_bytes: usize,
) -> Result<Vec<u8>, BatchError> {
    let limit = (max_decompressed_bytes as u64).saturating_add(1);
    let mut out = Vec::new();
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| decompress_error(codec, e))?;
    check_bound(codec, out.len(), max_decompressed_bytes)?;
    Ok(out)
}

/// Largest zstd window the decoder may allocate: enough for any frame whose content fits
/// the limit, never less than zstd's streaming defaults need (2^24), never above 2^27.
fn zstd_window_log_max(max_decompressed_bytes: usize) -> u32 {
    let needed = usize::BITS - max_decompressed_bytes.saturating_sub(1).leading_zeros();
    needed.clamp(24, 27)
}

/// xerial framing: magic, version 1, compatible version 1, then `[i32 BE length, raw block]*`.
fn snappy_xerial_compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), BatchError> {
    let blocks = input.len().div_ceil(XERIAL_BLOCK_BYTES);
    out.reserve(XERIAL_HEADER_BYTES + blocks * 4 + snap::raw::max_compress_len(input.len()));
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut encoder = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_BLOCK_BYTES) {
        let len_pos = out.len();
        out.extend_from_slice(&[0; 4]);
        let block_pos = out.len();
        out.resize(block_pos + snap::raw::max_compress_len(chunk.len()), 0);
        let written = encoder
            .compress(chunk, &mut out[block_pos..])
            .map_err(|e| compress_error("snappy", e))?;
        out.truncate(block_pos + written);
        let len = i32::try_from(written).map_err(|e| compress_error("snappy", e))?;
        out[len_pos..block_pos].copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

/// Accepts a xerial-framed stream or a single raw snappy block.
fn snappy_decompress(input: &[u8], max_decompressed_bytes: usize) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::new();
    match input.strip_prefix(&XERIAL_MAGIC[..]) {
        Some(rest) if input.len() >= XERIAL_HEADER_BYTES => {
            let mut blocks = rest.get(8..).unwrap_or(&[]);
            while !blocks.is_empty() {
                let (len, body) = split_block_len(blocks)?;
                let block = body.get(..len).ok_or_else(|| {
                    decompress_error(
                        "snappy",
                        format!("xerial block of {len} bytes, only {} left", body.len()),
                    )
                })?;
                snappy_raw_append(block, &mut out, max_decompressed_bytes)?;
                blocks = body.get(len..).unwrap_or(&[]);
            }
        }
        _ => snappy_raw_append(input, &mut out, max_decompressed_bytes)?,
    }
    Ok(out)
}

fn split_block_len(blocks: &[u8]) -> Result<(usize, &[u8]), BatchError> {
    let (len, body) = blocks.split_first_chunk::<4>().ok_or_else(|| {
        decompress_error(
            "snappy",
            format!("xerial block length truncated ({} bytes)", blocks.len()),
        )
    })?;
    let len = i32::from_be_bytes(*len);
    let len = usize::try_from(len)
        .map_err(|_| decompress_error("snappy", format!("negative xerial block length {len}")))?;
    Ok((len, body))
}

/// Decompresses one raw snappy block onto the end of `out`, checking its claimed length
/// against the limit before allocating.
fn snappy_raw_append(
    block: &[u8],
    out: &mut Vec<u8>,
    max_decompressed_bytes: usize,
) -> Result<(), BatchError> {
    let claimed = snap::raw::decompress_len(block).map_err(|e| decompress_error("snappy", e))?;
    check_bound(
        "snappy",
        out.len().saturating_add(claimed),
        max_decompressed_bytes,
    )?;
    let start = out.len();
    out.resize(start + claimed, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| decompress_error("snappy", e))?;
    out.truncate(start + written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn ids_names_round_trip() {
        for c in Compression::ALL {
            assert_eq!(Compression::from_id(c.id()), Ok(c));
            assert_eq!(c.to_string().parse::<Compression>(), Ok(c));
        }
        assert_eq!("LZ4".parse::<Compression>(), Ok(Compression::Lz4));
        assert!("brotli".parse::<Compression>().is_err());
        assert_eq!(
            Compression::from_id(5),
            Err(BatchError::UnknownCompression { codec: 5 })
        );
        assert_eq!(Compression::from_attributes(0x0c), Ok(Compression::Zstd));
    }

    #[test]
    fn every_codec_round_trips() {
        let data = sample();
        for c in Compression::ALL {
            for input in [&[][..], &b"x"[..], &data[..]] {
                let mut out = Vec::new();
                c.compress(input, &mut out).unwrap();
                let back = c.decompress(&out, MAX_DECOMPRESSED_BYTES_DEFAULT).unwrap();
                assert_eq!(&back[..], input, "{c}");
            }
        }
    }

    #[test]
    fn snappy_writes_xerial_and_reads_raw() {
        let data = sample();
        let mut out = Vec::new();
        Compression::Snappy.compress(&data, &mut out).unwrap();
        assert_eq!(out[..8], XERIAL_MAGIC);
        assert_eq!(out[8..16], [0, 0, 0, 1, 0, 0, 0, 1]);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            &Compression::Snappy.decompress(&raw, usize::MAX).unwrap()[..],
            &data[..]
        );
    }

    #[test]
    fn bombs_are_bounded() {
        let zeros = vec![0u8; 8 * 1024 * 1024];
        let limit = 1024 * 1024;
        for c in Compression::ALL {
            let mut out = Vec::new();
            c.compress(&zeros, &mut out).unwrap();
            let err = c.decompress(&out, limit).unwrap_err();
            assert!(matches!(err, BatchError::Decompress { .. }), "{c}: {err}");
            assert!(
                c.decompress(&out, zeros.len()).is_ok(),
                "{c} at exactly the limit"
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let inputs: [&[u8]; 5] = [
            b"",
            b"\x00\x01\x02garbage",
            &[0xff; 64],
            b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x7f\xff\xff\xff",
            b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00",
        ];
        for c in Compression::ALL.into_iter().skip(1) {
            for input in inputs {
                let _ = c.decompress(input, 1024);
            }
        }
    }
}
