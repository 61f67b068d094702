//! Every decoder a client reaches, fed tricky and pseudo-random inputs:
//! each returns (an error is fine) and never panics. The same entry points
//! are the cargo-fuzz targets in fuzz/; inputs the fuzzer found go here.

use wshub::fuzzing;

const SEEDS: &[&[u8]] = &[
    b"",
    b"0",
    b"1",
    b"2probe",
    b"3",
    b"4",
    b"40",
    b"40/admin,{\"token\":1}",
    b"42[\"a\",1]",
    b"451-[\"up\",{\"_placeholder\":true,\"num\":0}]\xff\x01\x02",
    b"452-[\"x\"]\xff\xff",
    b"4999999999999999999999-[]",
    b"42/,",
    b"42/a,99999999999999999999999[\"x\"]",
    b"42[\"\\u0000\"]",
    b"43[]",
    b"431[]",
    b"4",
    b"b",
    b"bAAAA",
    b"b====",
    b"4hello\x1e4bye\x1ebAQID",
    b"\x1e\x1e",
    b"42[\"connect\"]",
    b"42[{}]",
    b"42[1,2]",
    b"4\xf0\x9f\x8e",
    b"42[\"\xc3\xa9\"]",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /%2e%2e/%2e%2e/x?EIO=4&transport=polling&sid=%zz HTTP/1.1\r\n\r\n",
    b"POST /socket.io/?EIO=4 HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
    b"GET /a\\..\\b HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
    b"GET //etc/passwd HTTP/1.1\r\n\r\n",
    // Cluster messages (Redis adapter): a MessagePack broadcast with binary, JSON requests.
    b"\x93\xa3uid\x83\xa4type\x02\xa4data\x92\xa2ev\xc4\x03\x01\x02\x03\xa3nsp\xa1/\x80",
    b"\x93\xa3uid\xc0\x80",
    b"{\"type\":5,\"requestId\":\"x\",\"opts\":{\"rooms\":[\"a\"],\"except\":[]}}",
    b"{\"type\":6,\"uid\":\"u\",\"data\":[\"e\",1]}",
    b"{\"type\":7,\"requestId\":\"r\",\"packet\":{\"type\":2,\"data\":[\"e\"]},\"opts\":{}}",
    // WebSocket frames for the permessage-deflate codec: a masked compressed text
    // ("Hello", RSV1), a masked ping, a close, and a frame claiming 2^63 bytes.
    b"\xc1\x87\x00\x00\x00\x00\xf2\x48\xcd\xc9\xc9\x07\x00",
    b"\x89\x80\x01\x02\x03\x04",
    b"\x88\x82\x00\x00\x00\x00\x03\xe8",
    b"\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff",
];

fn all(data: &[u8]) {
    fuzzing::engineio_text(data);
    fuzzing::polling_payload(data);
    fuzzing::socketio_with_attachments(data);
    fuzzing::http_head(data);
    fuzzing::cluster_message(data);
    fuzzing::raw_text(data);
    fuzzing::websocket_deflate(data);
}

#[test]
fn tricky_inputs_are_refused_without_panicking() {
    for seed in SEEDS {
        all(seed);
    }
}

/// xorshift: reproducible pseudo-random mutations of the seeds.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_mutations_of_valid_packets_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let alphabet = b"0123456789[]{}\",:/-_\\ab\x1e\xff\x00\xc3\xa9eEtrufalsn.+";
    for _ in 0..30_000 {
        let mut input = SEEDS[(rng.next() % SEEDS.len() as u64) as usize].to_vec();
        for _ in 0..(rng.next() % 6) {
            let pos = if input.is_empty() { 0 } else { (rng.next() % input.len() as u64) as usize };
            let byte = alphabet[(rng.next() % alphabet.len() as u64) as usize];
            match rng.next() % 3 {
                0 => input.insert(pos, byte),
                1 if !input.is_empty() => {
                    input.remove(pos);
                }
                _ if !input.is_empty() => input[pos] = byte,
                _ => input.push(byte),
            }
        }
        all(&input);
    }
}
