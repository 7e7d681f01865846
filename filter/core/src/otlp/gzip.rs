//! gzip (RFC 1952) for `collector.compression: gzip`: miniz_oxide's raw deflate between a fixed
//! 10-byte header and the CRC-32 / length trailer. miniz_oxide has no CRC, so a table CRC-32 is here.

use miniz_oxide::deflate::compress_to_vec;

/// Deflate level: cheap on the proxy's CPU; span batches are repetitive, so the ratio stays close to
/// the default level's.
pub const LEVEL: u8 = 3;

/// gzip header: magic, CM=8 (deflate), no flags, MTIME 0 (none), XFL 0, OS 255 (unknown).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// `data` as a gzip member.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let deflated = compress_to_vec(data, LEVEL);
    let mut out = Vec::with_capacity(HEADER.len() + deflated.len() + 8);
    out.extend_from_slice(&HEADER);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    // ISIZE is the input length modulo 2^32.
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as gzip and zlib use.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        let i = usize::from((crc as u8) ^ b);
        crc = CRC_TABLE.get(i).copied().unwrap_or(0) ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = crc_table();

// Runs at compile time only: an out-of-range index would fail the build, never panic at run time.
#[allow(clippy::indexing_slicing)]
const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use miniz_oxide::inflate::decompress_to_vec;

    /// Undo our gzip with an independent inflater, checking every header and trailer field.
    fn gunzip(gz: &[u8]) -> Vec<u8> {
        assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0], "magic, deflate, no flags");
        let body = &gz[10..gz.len() - 8];
        let data = decompress_to_vec(body).expect("valid deflate stream");
        let trailer = &gz[gz.len() - 8..];
        assert_eq!(
            u32::from_le_bytes(trailer[..4].try_into().unwrap()),
            crc32(&data)
        );
        assert_eq!(
            u32::from_le_bytes(trailer[4..].try_into().unwrap()) as usize,
            data.len()
        );
        data
    }

    #[test]
    fn crc_check_values() {
        // The standard CRC-32 check value and two well-known strings.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn round_trips() {
        let big: Vec<u8> = (0..200_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 1000) as u8)
            .collect();
        for data in [&b""[..], b"a", b"hello hello hello hello", &big] {
            assert_eq!(gunzip(&gzip(data)), data);
        }
        let repetitive = b"{\"key\":\"http.request.method\"}".repeat(500);
        assert!(gzip(&repetitive).len() < repetitive.len() / 10);
    }
}
