//! The RCON packet decoder and the client's framing, fed what a hostile or
//! broken server could send: any bytes, in reads of any size, with length
//! prefixes that lie.
//!
//! Input: one byte choosing the read sizes, then the bytes the server
//! sends. Properties:
//! - `take_packet` (what `Client::read_packet` runs after each read) never
//!   panics; it yields whole packets or waits for more, and it stops at
//!   the first impossible length (under 10 or over `MAX_PACKET`) with a
//!   protocol error, which closes the connection;
//! - a packet is taken only once all `4 + size` bytes are there, exactly
//!   those bytes are consumed, and re-encoding it gives the same bytes up
//!   to the two terminating NULs (which the decoder does not check);
//! - `decode` waits (`Ok(None)`) exactly when fewer than 4 bytes, or fewer
//!   than the announced `4 + size`, are there: a lying length makes the
//!   client wait for bytes that never come (the command's timeout ends
//!   that), never read past the buffer or allocate what the length says;
//! - `encode` then `decode` is the identity for any id, type and body.
#![no_main]

use factorio_isr::rcon::{Error, MAX_PACKET, Packet, decode, encode, take_packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, stream)) = data.split_first() else {
        return;
    };
    round_trip(stream);

    // The client's loop: read a chunk, take packets until one is partial.
    let mut buf = Vec::new();
    let mut at = 0;
    let mut step = 0usize;
    while at < stream.len() {
        // Read sizes from 1 byte to everything, varying per read.
        let size = match mode % 4 {
            0 => stream.len(),
            1 => 1,
            2 => 1 + usize::from(mode >> 2) + step % 7,
            _ => 1 + (usize::from(mode).wrapping_mul(step + 31) % 97),
        };
        let end = (at + size).min(stream.len());
        buf.extend_from_slice(&stream[at..end]);
        at = end;
        step += 1;
        loop {
            let before = buf.clone();
            match take_packet(&mut buf) {
                Ok(Some(packet)) => check_taken(&before, &buf, &packet),
                Ok(None) => {
                    assert_eq!(buf, before, "waiting must not consume");
                    check_waits(&buf);
                    break;
                }
                Err(Error::Protocol(_)) => {
                    let size = i32::from_le_bytes(before[..4].try_into().expect("4 bytes"));
                    assert!(size < 10 || size as usize > MAX_PACKET, "refused {size}");
                    return;
                }
                Err(e) => panic!("unexpected error kind: {e}"),
            }
        }
    }
});

fn check_taken(before: &[u8], after: &[u8], packet: &Packet) {
    let used = before.len() - after.len();
    assert_eq!(
        &before[used..],
        after,
        "only the packet's bytes are consumed"
    );
    let size = i32::from_le_bytes(before[..4].try_into().expect("4 bytes"));
    assert_eq!(used, 4 + size as usize);
    assert!((14..=4 + MAX_PACKET).contains(&used));
    let again = encode(packet.id, packet.kind, &packet.body);
    assert_eq!(again.len(), used);
    assert_eq!(again[..used - 2], before[..used - 2]);
}

fn check_waits(buf: &[u8]) {
    if buf.len() >= 4 {
        let size = i32::from_le_bytes(buf[..4].try_into().expect("4 bytes"));
        assert!((10..=MAX_PACKET as i64).contains(&i64::from(size)));
        assert!(buf.len() < 4 + size as usize, "a whole packet was left");
    }
}

/// `encode` then `decode` over an id, type and body taken from the input.
fn round_trip(data: &[u8]) {
    let int = |at: usize| {
        let mut b = [0u8; 4];
        for (i, x) in b.iter_mut().enumerate() {
            *x = data.get(at + i).copied().unwrap_or(0);
        }
        i32::from_le_bytes(b)
    };
    let (id, kind) = (int(0), int(4));
    let body = data.get(8..).unwrap_or_default();
    let bytes = encode(id, kind, body);
    let (packet, used) = decode(&bytes)
        .expect("an encoded packet decodes")
        .expect("an encoded packet is whole");
    assert_eq!(used, bytes.len());
    assert_eq!(
        packet,
        Packet {
            id,
            kind,
            body: body.to_vec()
        }
    );
}
