//! SSE decoding benchmarks on captured-shape Gemini streams (transcript C of the wire
//! reference: CRLF framing, one `data:` line per chunk).
//!
//! * `sse_decode_throughput`: an ~8 MB stream fed in 16 KiB pieces, decoded to items only, and
//!   the full `replay` path (decode + JSON parse + classify).
//! * `chunk_to_text_latency`: time from the last 16 bytes of one ~370-byte event arriving to its
//!   text being available as a `StreamEvent::Text`.
//!
//! Run: `cargo bench --bench sse` (or `-- --quick` for a short run).

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use geminal::gemini::stream::{StreamEvent, classify_chunk, parse_item, replay};
use geminal::net::sse::{SseDecoder, SseItem};

const CAPTURE_C: &[u8] = include_bytes!("../tests/data/captures/c_crlf_grounding.sse");

/// Size of one network read in the throughput benchmark.
const PIECE: usize = 16 * 1024;
/// Bytes of the event that arrive last in the latency benchmark.
const LAST_BYTES: usize = 16;
/// Target size of the large stream.
const STREAM_BYTES: usize = 8 * 1000 * 1000;

/// The `data:` events of capture C, each with its `\r\n\r\n`.
fn capture_c_events() -> Vec<&'static [u8]> {
    let mut events = Vec::new();
    let mut rest = CAPTURE_C;
    while let Some(at) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        events.push(&rest[..at + 4]);
        rest = &rest[at + 4..];
    }
    assert_eq!(events.len(), 4, "capture C has four events");
    events
}

/// Capture C's middle text chunk (`middle`) with its text replaced by `text`.
fn middle_chunk_with_text(middle: &str, text: &str) -> Vec<u8> {
    let original = "\" Support (LTS) version of Node.js is **v24.18.0**, while the latest \\\"Current\\\" feature\"";
    assert!(middle.contains(original), "capture C's middle chunk changed");
    let quoted = serde_json::to_string(text).expect("a string serialises");
    middle.replacen(original, &quoted, 1).into_bytes()
}

/// An ~8 MB stream: capture C's first chunk, ~20 000 variants of its middle chunk (the text
/// varies: numbers, length, some non-ASCII), and its final STOP chunk.
fn large_stream() -> Vec<u8> {
    let events = capture_c_events();
    let middle = std::str::from_utf8(events[1]).expect("capture C is UTF-8");
    let mut stream = events[0].to_vec();
    let extras = ["", " é", " 世界", " — ok", " 🦀", " and more words to vary the length"];
    let mut i = 0usize;
    while stream.len() < STREAM_BYTES {
        let text = format!(
            " Support (LTS) version of Node.js is **v24.{}.{}**, while the latest \"Current\" feature{}",
            i % 97,
            i % 13,
            extras[i % extras.len()]
        );
        stream.extend_from_slice(&middle_chunk_with_text(middle, &text));
        i += 1;
    }
    stream.extend_from_slice(events[3]);
    stream
}

fn decode_in_pieces(bytes: &[u8]) -> usize {
    let mut decoder = SseDecoder::new();
    let mut items = Vec::new();
    let mut count = 0;
    for piece in bytes.chunks(PIECE) {
        decoder.feed(piece, &mut items).expect("the stream decodes");
        count += items.len();
        for item in items.drain(..) {
            black_box(item);
        }
    }
    decoder.finish(&mut items).expect("the stream decodes");
    count + items.len()
}

fn sse_decode_throughput(c: &mut Criterion) {
    let stream = large_stream();
    let events = decode_in_pieces(&stream);
    let replayed = replay(&stream).expect("the large stream replays");
    assert!(replayed.iter().any(|e| matches!(e, StreamEvent::Finished(_))));
    eprintln!("sse_decode_throughput: {} bytes, {events} events", stream.len());

    let mut group = c.benchmark_group("sse_decode_throughput");
    group
        .throughput(Throughput::Bytes(stream.len() as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("decode_items_16KiB_reads", |b| b.iter(|| decode_in_pieces(black_box(&stream))));
    group.bench_function("replay_decode_parse_classify", |b| {
        b.iter(|| replay(black_box(&stream)).expect("replays").len())
    });
    group.finish();
}

fn chunk_to_text_latency(c: &mut Criterion) {
    let event = capture_c_events()[1].to_vec();
    let split = event.len() - LAST_BYTES;
    let (head, tail) = event.split_at(split);
    eprintln!("chunk_to_text_latency: one {}-byte event, last {LAST_BYTES} bytes timed", event.len());

    let setup = || {
        let mut decoder = SseDecoder::new();
        let mut items = Vec::with_capacity(4);
        decoder.feed(head, &mut items).expect("the head decodes");
        assert!(items.is_empty(), "the event must not be complete yet");
        (decoder, items, VecDeque::with_capacity(8))
    };
    // The decoder and buffers are returned so that dropping them is not timed either.
    let routine = |(mut decoder, mut items, mut events): (SseDecoder, Vec<SseItem>, VecDeque<StreamEvent>)| {
        decoder.feed(black_box(tail), &mut items).expect("the tail decodes");
        let item = items.pop().expect("the tail completes the event");
        let chunk = parse_item(item, "model", None).expect("the event parses");
        classify_chunk(chunk, &mut events).expect("the event classifies");
        let text = events.iter().find_map(|e| match e {
            StreamEvent::Text(t) => Some(t.len()),
            _ => None,
        });
        assert!(text.is_some(), "the event carries text");
        (decoder, items, events)
    };

    let mut group = c.benchmark_group("chunk_to_text_latency");
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    group.bench_function("last_16_bytes_to_text", |b| b.iter_batched(setup, routine, BatchSize::SmallInput));
    group.finish();
}

criterion_group!(benches, sse_decode_throughput, chunk_to_text_latency);
criterion_main!(benches);
