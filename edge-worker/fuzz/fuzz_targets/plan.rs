//! Any request headers against an object of any size: the planner answers
//! without panicking, never with a span outside the object, and a 206's
//! `Content-Range` names exactly the span sent.
#![no_main]

use edge_worker::delivery::{plan, DownloadRequest, StoredClip};
use edge_worker::preconditions::{Conditions, Validators};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let size = u64::from_le_bytes(data[..8].try_into().unwrap()) % (1 << 42);
    let flags = data[8];
    let max_partial = (flags & 2 != 0).then(|| 1 + u64::from(data[9]) * 4096);
    // The rest: `Range`, then the conditional headers, separated by newlines.
    let text = String::from_utf8_lossy(&data[10..]);
    let mut fields = text.split('\n');
    let mut next = || fields.next().filter(|f| !f.is_empty());
    let range = next();
    let conditions = Conditions {
        if_match: next(),
        if_none_match: next(),
        if_modified_since: next(),
        if_unmodified_since: next(),
        if_range: next(),
    };
    let request = DownloadRequest { head: flags & 1 != 0, range, conditions, max_partial };
    let clip = StoredClip {
        size,
        validators: Validators { etag: "\"0123abcd\"".into(), last_modified: 1_750_000_000 },
        content_type: "video/mp4",
        file_name: "Clip – ä.mp4",
    };
    let answer = plan(&request, &clip);
    if let Some(span) = answer.body {
        assert!(span.length > 0 || size == 0, "an empty body span of a {size}-byte object");
        assert!(span.offset.checked_add(span.length).is_some_and(|end| end <= size), "{span:?} outside {size}");
        if let Some(max) = max_partial.filter(|_| answer.status == 206) {
            assert!(span.length <= max, "{span:?} over the bound {max}");
        }
        if answer.status == 206 {
            let expected = format!("bytes {}-{}/{size}", span.offset, span.offset + span.length - 1);
            let content_range = answer.headers.iter().find(|(n, _)| *n == "content-range").map(|(_, v)| v.as_str());
            assert_eq!(content_range, Some(expected.as_str()));
        }
    }
    assert!(!(request.head && answer.body.is_some()), "a HEAD has no body");
});
