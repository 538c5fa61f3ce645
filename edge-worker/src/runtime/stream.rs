//! Streams a granted span from the clip's origin (R2, or the secondary when
//! R2 fails: `runtime/origin.rs`) to the client as a sequence of ranged
//! reads ([`crate::segments`]) piped one after another into one
//! `FixedLengthStream`, and reports how many bytes were handed to the network.
//!
//! The bytes never enter wasm: each segment's R2 body is piped inside the
//! runtime (`pipeTo` with `preventClose`), and wasm only awaits each pipe.
//! The next segment's R2 read is opened while the current one is piped, so
//! the reads cost no time between segments. When the client goes away, the
//! pipe of the segment in flight fails ("Network connection lost" in
//! workerd); the stream then counts as sent every segment it started, the
//! upper bound the settlement charges (docs/downloads.md, "Settlement").
//! The fixed length is what makes workerd send `Content-Length` instead of
//! chunked encoding (workers-rs #1051).
//!
//! A download manager keeps reading its first plain `GET` until it reaches
//! the start of a range it asked for on another connection, then closes it;
//! by then the network holds many megabytes of that response that it never
//! reads. So a new request of the same client for the same clip from byte
//! `X` on tells the streams of this isolate that cover `X` to stop there
//! ([`stop_streams_at`]): they end at the first segment past `X`. Until
//! that request is granted and its first bytes opened, or waits for the
//! allowance (for those streams to settle), the stop is only held
//! ([`Stops`]): a stream reaching it waits, and a request refused at once
//! takes it back (a refused connection of a download manager had ended the
//! opening GET short, and the bytes it would have sent were then refused
//! too). The client is one link from one browser or tool (its `User-Agent`: a
//! download manager's connections, a player's requests), whatever address
//! each connection leaves from (IPv4 and IPv6, a carrier's NAT pool):
//! another device's browser downloading with the same link, or a request
//! with another link of the order, stops nothing.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures_util::future::{join, Either};
use wasm_bindgen::JsValue;
use web_sys::{ReadableStream, StreamPipeOptions, WritableStream};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::FixedLengthStream;
use worker::*;

use super::origin::Origin;
use super::unavailable;
use crate::delivery::ByteSpan;
use crate::error::DownloadError;
use crate::segments::Segments;

/// How a response body ended.
#[derive(Debug, Clone, Copy)]
pub struct StreamEnd {
    /// Bytes of every segment whose pipe started: what was sent, rounded up
    /// to the segment in flight.
    pub sent: u64,
    /// The whole span was handed to the network.
    pub completed: bool,
    /// For a response reserved in steps: all it reserved.
    pub reserved: Option<u64>,
}

/// Reserves the bytes of each next segment, for a response whose span was
/// not reserved whole (`runtime::reservation::Steps`).
pub trait MoreBytes {
    /// `false`: the allowance is used up, the response is cut off.
    async fn reserve(&mut self, bytes: u64) -> bool;
    /// Bytes reserved so far.
    fn reserved(&self) -> u64;
}

/// A stream in flight in this isolate: which bytes of which order's clip it
/// sends, and where it is to stop.
struct InFlight {
    /// The link, the address and the browser it is sent to ([`client_of`]).
    client: String,
    clip: String,
    span: ByteSpan,
    stops: Rc<StopPoints>,
}

thread_local! {
    static IN_FLIGHT: RefCell<Vec<InFlight>> = const { RefCell::new(Vec::new()) };
    static NEXT_STOP: Cell<u64> = const { Cell::new(0) };
}

/// How long a stream waits at a stop still held by a request being
/// answered (its ledger's first answers: a request that waits for the
/// allowance applies its stops) before it goes on regardless.
const HELD_STOP_MAX_MS: u64 = 5_000;

/// Where one stream is to stop: the start of each later request of its
/// client for its bytes, `kept` once that request was granted.
#[derive(Default)]
struct StopPoints(RefCell<Vec<StopPoint>>);

#[derive(Clone, Copy)]
struct StopPoint {
    id: u64,
    at: u64,
    kept: bool,
    held_since: u64,
}

/// What a stream does at a segment's start.
enum AtSegment {
    Go,
    Stop,
    /// A request for these bytes is still being answered.
    Wait,
}

impl StopPoints {
    fn at_segment(&self, offset: u64, now: u64) -> AtSegment {
        let points = self.0.borrow();
        let reached = || points.iter().filter(|p| p.at <= offset);
        if reached().any(|p| p.kept) {
            AtSegment::Stop
        } else if reached().any(|p| now.saturating_sub(p.held_since) < HELD_STOP_MAX_MS) {
            AtSegment::Wait
        } else {
            AtSegment::Go
        }
    }

    /// Whether the stream stops at the segment from `offset`, waiting while
    /// a request that would take those bytes over is being answered.
    async fn stops_at(&self, offset: u64) -> bool {
        loop {
            match self.at_segment(offset, Date::now().as_millis()) {
                AtSegment::Go => return false,
                AtSegment::Stop => return true,
                AtSegment::Wait => Delay::from(std::time::Duration::from_millis(50)).await,
            }
        }
    }
}

/// The stops one request put on other streams: taken back when it is
/// dropped, unless [`Stops::keep`] says the request took those bytes over.
#[must_use]
pub struct Stops {
    id: u64,
    streams: Vec<Rc<StopPoints>>,
}

impl Stops {
    /// The streams stop: the request waits for them to settle (taken back
    /// still if it is refused after all, for a stream not there yet).
    pub fn apply(&self) {
        for stops in &self.streams {
            for point in stops.0.borrow_mut().iter_mut().filter(|p| p.id == self.id) {
                point.kept = true;
            }
        }
    }

    /// The request was granted and its first bytes opened: the streams stop.
    pub fn keep(mut self) {
        self.apply();
        self.streams.clear();
    }
}

impl Drop for Stops {
    fn drop(&mut self) {
        for stops in &self.streams {
            stops.0.borrow_mut().retain(|p| p.id != self.id);
        }
    }
}

/// Who streams are stopped for: the same link (`token`) from the same
/// browser or tool.
pub fn client_of(token: &str, browser: Option<&str>) -> String {
    format!("{token}\n{}", browser.unwrap_or_default())
}

/// A request of `client` for `clip` from byte `start` on: every stream of
/// this isolate for the same client and clip that began before `start` and
/// would send it is to stop at `start` (its client asked for those bytes on
/// another connection), once the request is granted ([`Stops::keep`]).
pub fn stop_streams_at(client: &str, clip: &str, start: u64) -> Stops {
    let id = NEXT_STOP.with(|next| next.replace(next.get() + 1));
    let held_since = Date::now().as_millis();
    let streams = IN_FLIGHT.with(|streams| {
        let streams = streams.borrow();
        let covering = streams.iter().filter(|s| {
            s.client == client && s.clip == clip && s.span.offset < start && start < s.span.offset + s.span.length
        });
        covering
            .map(|s| {
                s.stops.0.borrow_mut().push(StopPoint { id, at: start, kept: false, held_since });
                s.stops.clone()
            })
            .collect()
    });
    Stops { id, streams }
}

/// Keeps a stream in [`IN_FLIGHT`] while it runs.
struct Registered(Rc<StopPoints>);

impl Registered {
    fn new(client: &str, clip: &str, span: ByteSpan) -> Registered {
        let stops = Rc::new(StopPoints::default());
        IN_FLIGHT.with(|streams| {
            streams.borrow_mut().push(InFlight {
                client: client.to_string(),
                clip: clip.to_string(),
                span,
                stops: stops.clone(),
            })
        });
        Registered(stops)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        IN_FLIGHT.with(|streams| streams.borrow_mut().retain(|s| !Rc::ptr_eq(&s.stops, &self.0)));
    }
}

/// Tells the ledger how far a response has got, so that one whose isolate
/// stops mid-stream can be settled to about what it sent (`crate::stale`).
pub trait Progress {
    /// Sends the report, `sent` being the bytes of the segments started so
    /// far, without waiting for it: a slow ledger never holds the stream up.
    fn report(&self, sent: u64);
}

/// A [`Progress`] and its pace: a report every `every_ms` while the
/// response streams (none for a response shorter than that).
pub struct Reports<P> {
    progress: P,
    every_ms: u64,
    last: u64,
}

impl<P: Progress> Reports<P> {
    pub fn new(progress: P, every_ms: u64) -> Reports<P> {
        Reports { progress, every_ms, last: Date::now().as_millis() }
    }

    /// Milliseconds until the next report is due (0: now).
    fn due_in(&self) -> u64 {
        (self.last + self.every_ms).saturating_sub(Date::now().as_millis())
    }

    fn report(&mut self, sent: u64) {
        self.last = Date::now().as_millis();
        self.progress.report(sent);
    }
}

/// Awaits `work` (a segment's pipe, and the next one's opening), reporting
/// `sent` whenever a report is due meanwhile: a slow client that takes
/// minutes over one segment still shows it is alive.
async fn reporting<F: std::future::Future, P: Progress>(
    work: F,
    reports: &mut Option<Reports<P>>,
    sent: u64,
) -> F::Output {
    let mut work = std::pin::pin!(work);
    loop {
        let Some(r) = reports.as_mut() else { return work.await };
        let due = r.due_in();
        if due == 0 {
            r.report(sent);
            continue;
        }
        let mut tick = std::pin::pin!(Delay::from(std::time::Duration::from_millis(due)));
        if let Either::Left((out, _)) = futures_util::future::select(work.as_mut(), tick.as_mut()).await {
            return out;
        }
    }
}

/// A response body being fed from its origin (R2, or the secondary:
/// `runtime/origin.rs`), one segment at a time.
pub struct SegmentedBody<M> {
    origin: Origin,
    key: String,
    writable: WritableStream,
    first: (ReadableStream, u64),
    rest: Segments,
    more: Option<M>,
    registered: Registered,
}

/// Opens one segment's R2 body. The `etag` condition makes R2 refuse it if
/// the object was replaced since the `head` that sized the answer, so one
/// response never mixes two objects.
pub(super) async fn open_segment(
    bucket: &Bucket,
    key: &str,
    etag: &str,
    segment: ByteSpan,
) -> std::result::Result<ReadableStream, String> {
    let object = bucket
        .get(key)
        .range(Range::OffsetWithLength { offset: segment.offset, length: segment.length })
        .only_if(Conditional { etag_matches: Some(etag.to_string()), ..Default::default() })
        .execute()
        .await
        .map_err(|e| format!("R2 get {key}: {e}"))?
        .ok_or_else(|| format!("R2 object {key} vanished"))?;
    match object.body().map(|body| body.response_body()) {
        Some(Ok(ResponseBody::Stream(stream))) => Ok(stream),
        Some(_) => Err(format!("R2 body of {key} is not a stream")),
        None => Err(format!("R2 object {key} changed during the download")),
    }
}

impl<M: MoreBytes> SegmentedBody<M> {
    /// Opens the first segment (so that R2 failing is known before any byte
    /// is promised) and the fixed-length stream whose readable side is the
    /// response body. `span` is not empty; `more` reserves each segment
    /// after the first when the span was not reserved whole; `owner` is the
    /// (client, clip) the bytes are for ([`client_of`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn open(
        origin: Origin,
        key: &str,
        span: ByteSpan,
        size: u64,
        more: Option<M>,
        owner: (&str, &str),
    ) -> std::result::Result<(ReadableStream, SegmentedBody<M>), DownloadError> {
        let mut rest = Segments::new(span, size);
        let first = rest.next().ok_or_else(|| unavailable("empty span"))?;
        let body = origin.open_segment(key, first).await.map_err(unavailable)?;
        let fixed = if span.length <= u64::from(u32::MAX) {
            FixedLengthStream::new(span.length as u32)
        } else {
            FixedLengthStream::new_big_int(js_sys::BigInt::from(span.length))
        }
        .map_err(|e| unavailable(format!("FixedLengthStream: {e:?}")))?;
        let streamer = SegmentedBody {
            origin,
            key: key.to_string(),
            writable: fixed.writable(),
            first: (body, first.length),
            rest,
            more,
            registered: Registered::new(owner.0, owner.1, span),
        };
        Ok((fixed.readable(), streamer))
    }

    /// Pipes every segment into the response, reserving (if need be) and
    /// opening each next one while the current one is piped, and reporting
    /// its progress when `reports` says. Never fails: a broken or cut-off
    /// stream is reported in the [`StreamEnd`].
    pub async fn run<P: Progress>(self, mut reports: Option<Reports<P>>) -> StreamEnd {
        let SegmentedBody { origin, key, writable, first, mut rest, mut more, registered } = self;
        let options = StreamPipeOptions::new();
        options.set_prevent_close(true);
        let mut sent = 0;
        let mut current = first;
        let end = loop {
            let (body, length) = current;
            sent += length;
            let piping = JsFuture::from(body.pipe_to_with_options(&writable, &options));
            let (piped, next) = match rest.next() {
                Some(segment) => {
                    let next = async {
                        if registered.0.stops_at(segment.offset).await {
                            // Another connection of the client asked for these bytes.
                            return Err(format!("stopped at byte {}: asked for on another connection", segment.offset));
                        }
                        if let Some(more) = more.as_mut() {
                            if !more.reserve(segment.length).await {
                                return Err("the allowance is used up".to_string());
                            }
                        }
                        origin.open_segment(&key, segment).await.map(|body| (body, segment))
                    };
                    let (piped, next) = reporting(join(piping, next), &mut reports, sent).await;
                    (piped, Either::Left(next))
                }
                None => (reporting(piping, &mut reports, sent).await, Either::Right(())),
            };
            if let Err(e) = piped {
                // Also how a client that went away shows.
                if let Either::Left(Ok((next, _))) = &next {
                    let _ = JsFuture::from(next.cancel()).await;
                }
                break interrupted(&writable, &key, sent, &e).await;
            }
            match next {
                Either::Right(()) => {
                    let completed = JsFuture::from(writable.close()).await.is_ok();
                    break StreamEnd { sent, completed, reserved: None };
                }
                Either::Left(Ok((next, segment))) => {
                    // Asked for on another connection while it was being opened.
                    if registered.0.stops_at(segment.offset).await {
                        let _ = JsFuture::from(next.cancel()).await;
                        let why = format!("stopped at byte {}: asked for on another connection", segment.offset);
                        break interrupted(&writable, &key, sent, &JsValue::from_str(&why)).await;
                    }
                    current = (next, segment.length)
                }
                Either::Left(Err(e)) => break interrupted(&writable, &key, sent, &JsValue::from_str(&e)).await,
            }
        };
        StreamEnd { reserved: more.map(|m| m.reserved()), ..end }
    }
}

async fn interrupted(writable: &WritableStream, key: &str, sent: u64, error: &JsValue) -> StreamEnd {
    // Ends the response short (the client sees fewer bytes than
    // Content-Length), never hanging. Rejects when the client already left.
    let _ = JsFuture::from(writable.abort()).await;
    console_warn!(
        "{}",
        log_line!({ "event": "stream_interrupted", "key": key, "sent": sent, "error": format!("{error:?}") })
    );
    StreamEnd { sent, completed: false, reserved: None }
}
