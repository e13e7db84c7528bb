//! Arbitrary bytes as the records of one log segment (after its 16-byte header), replayed as
//! recovery replays them (SEMANTICS S5).
//!
//! `warren::store::fuzz_replay` decodes the frames (`[u32 len][u32 CRC-32][payload]`), gives
//! each record its effect on the live index, stops at the first torn or corrupt frame and
//! resolves what is live, as `Broker::open` would. It must never panic, nor allocate beyond
//! what the input's lengths justify; the valid prefix it returns lies within the input, ends
//! at a frame boundary, and replays whole again (a cut log recovers cleanly the next time).
//!
//! The first byte picks the mode:
//!
//! * even: the rest is the segment's bytes as they are (torn lengths, bad checksums);
//! * odd: the rest is a list of payloads, each a `u16` little-endian length and its bytes,
//!   framed here with their true checksums, so the fuzzer reaches the record decoder and the
//!   replay behind the checksum. A short last payload is framed as what is left.
//!
//! The seeds in `seeds/store_recover/` are real logs in both modes (written by the test
//! `s5_fuzz_replay_keeps_the_whole_records` with `WARREN_WRITE_SEEDS` set).
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Frames each `u16`-length-prefixed payload of `data`; returns the segment bytes and the
/// frame boundaries (0 first).
fn frame(mut data: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::with_capacity(data.len() + 8 * (data.len() / 2 + 1));
    let mut ends = vec![0];
    while let Some((len, rest)) = data.split_first_chunk::<2>() {
        let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
        let (payload, rest) = rest.split_at(len);
        out.extend_from_slice(&u32::try_from(len).unwrap().to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        out.extend_from_slice(payload);
        ends.push(out.len());
        data = rest;
    }
    (out, ends)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (segment, ends) = if mode % 2 == 0 {
        (rest.to_vec(), None)
    } else {
        let (segment, ends) = frame(rest);
        (segment, Some(ends))
    };
    let valid = warren::store::fuzz_replay(&segment);
    assert!(
        valid <= segment.len(),
        "valid prefix {valid} > {} bytes",
        segment.len()
    );
    if let Some(ends) = ends {
        // Every checksum is right: replay can stop only at a frame boundary.
        assert!(
            ends.contains(&valid),
            "valid prefix {valid} is inside a frame: {ends:?}"
        );
    }
    assert_eq!(
        warren::store::fuzz_replay(&segment[..valid]),
        valid,
        "the kept prefix replays whole"
    );
});
