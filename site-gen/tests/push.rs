//! `site-gen push` against a small fake of the Worker's admin object API on
//! loopback: every file of a clip goes, its main file and each `[[variants]]`
//! one, a variant's size and sha256 are recorded in its own section, and a
//! second run uploads nothing. (The real API, R2 and the secondary origin:
//! `edge-worker/tests/secondary.test.mjs`.)

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

const TOKEN: &str = "push-test-token-0123456789";

type Bucket = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `GET /admin/objects/<key>` (404, or its size and sha256) and
/// `PUT /admin/objects/<key>` (stored), one request per connection.
fn fake_bucket() -> (String, Bucket) {
    fake_bucket_refusing("\0 no key has this")
}

/// [`fake_bucket`], refusing (413, as the Worker's plan limit does) every
/// upload of a key that contains `refused`.
fn fake_bucket_refusing(refused: &'static str) -> (String, Bucket) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let bucket: Bucket = Arc::default();
    let objects = bucket.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let (mut auth, mut length) = (String::new(), 0usize);
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (k, v) = line.split_once(':').unwrap();
                match k.to_ascii_lowercase().as_str() {
                    "authorization" => auth = v.trim().to_string(),
                    "content-length" => length = v.trim().parse().unwrap(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut parts = request_line.split_whitespace();
            let (method, target) = (parts.next().unwrap(), parts.next().unwrap());
            let key = target
                .strip_prefix("/admin/objects/")
                .map(|k| percent_encoding::percent_decode_str(k).decode_utf8().unwrap().into_owned());
            let (status, json) = match (auth == format!("Bearer {TOKEN}"), method, key) {
                (false, _, _) => ("401 Unauthorized", serde_json::json!({"error": "unauthorized"})),
                (true, "GET", Some(key)) => match objects.lock().unwrap().get(&key) {
                    Some(b) => ("200 OK", serde_json::json!({"found": {"size": b.len(), "sha256": hex_sha256(b)}})),
                    None => ("404 Not Found", serde_json::json!({"error": "not in the bucket"})),
                },
                (true, "PUT", Some(key)) if key.contains(refused) => {
                    ("413 Payload Too Large", serde_json::json!({"error": "body over the plan's limit"}))
                }
                (true, "PUT", Some(key)) => {
                    objects.lock().unwrap().insert(key, body);
                    ("201 Created", serde_json::json!({"stored": true}))
                }
                _ => ("404 Not Found", serde_json::json!({"error": "no such route"})),
            };
            let body = json.to_string();
            write!(stream, "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).unwrap();
        }
    });
    (base, bucket)
}

fn push(root: &Path, base: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["push", "--worker-url", base, "--root"])
        .arg(root)
        .env("CLIPSTORE_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap()
}

/// A shop from `site-gen init` whose clip has a master and a 360p variant
/// (its section saying `size = 1`); returns the shop, the clip's file and
/// the two files' bytes.
fn shop_with_a_variant(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>, Vec<u8>) {
    let root = tmp.join("shop");
    let init = Command::new(env!("CARGO_BIN_EXE_site-gen")).arg("init").arg(&root).output().unwrap();
    assert!(init.status.success(), "{}", text(&init));
    // The master and a smaller file (push does not care what the bytes are).
    let masters = root.join("sample-media/clips");
    fs::create_dir_all(&masters).unwrap();
    let (main, small) = (b"the 1080p master".repeat(100), b"the 360p file".repeat(40));
    fs::write(masters.join("first-clip.mp4"), &main).unwrap();
    fs::write(masters.join("first-clip-360p.mp4"), &small).unwrap();
    let clip = root.join("content/clips/first-clip.md");
    let t = fs::read_to_string(&clip).unwrap();
    let section = "\n[[variants]]\nid = \"360p\"\nresolution = \"640x360\"\nprice = 5\nfile = \"clips/first-clip-360p.mp4\"\nfile_name = \"First clip (360p).mp4\"\nsize = 1\n";
    let (front, body) = t.split_at(t.rfind("+++\n").unwrap());
    fs::write(&clip, format!("{front}{section}{body}")).unwrap();
    (root, clip, main.to_vec(), small.to_vec())
}

fn front_matter(clip: &Path) -> toml::Table {
    toml::from_str(fs::read_to_string(clip).unwrap().split("+++").nth(1).unwrap()).unwrap()
}

/// An upload that fails leaves its file's size and sha256 in the front
/// matter as they were, so that a build never describes bytes the bucket
/// does not have; the others are recorded, and the next push finishes it.
/// The admin token is found in the `.dev.vars` of a shop `init` made (at
/// its root, beside its `wrangler.toml`).
#[test]
fn a_failed_upload_leaves_its_front_matter_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, clip, main, small) = shop_with_a_variant(tmp.path());
    fs::write(root.join(".dev.vars"), format!("ADMIN_TOKEN={TOKEN}\n")).unwrap();
    let push = |base: &str| {
        Command::new(env!("CARGO_BIN_EXE_site-gen"))
            .args(["push", "--worker-url", base, "--root"])
            .arg(&root)
            .env_remove("CLIPSTORE_ADMIN_TOKEN")
            .output()
            .unwrap()
    };
    let (refusing, bucket) = fake_bucket_refusing("360p");
    let first = push(&refusing);
    assert!(!first.status.success(), "{}", text(&first));
    let said = text(&first);
    assert!(said.contains("clip first-clip (360p): upload failed"), "{said}");
    assert!(said.contains("still says 1 bytes") && said.contains("run `site-gen push` again"), "{said}");
    assert!(said.contains("1 uploaded, 0 already in the bucket, 1 failed"), "{said}");
    assert!(said.contains("the failed ones keep their old values"), "{said}");
    let front = front_matter(&clip);
    assert_eq!(front["variants"][0]["size"].as_integer(), Some(1), "not recorded: the bucket lacks it");
    assert!(front["variants"][0].get("sha256").is_none());
    assert_eq!(front["sha256"].as_str(), Some(hex_sha256(&main).as_str()), "the uploaded file is recorded");
    assert!(bucket.lock().unwrap().get("clips/first-clip-360p.mp4").is_none());

    let (base, bucket) = fake_bucket();
    let second = push(&base);
    assert!(second.status.success(), "{}", text(&second));
    assert_eq!(bucket.lock().unwrap().get("clips/first-clip-360p.mp4"), Some(&small));
    let front = front_matter(&clip);
    assert_eq!(front["variants"][0]["sha256"].as_str(), Some(hex_sha256(&small).as_str()));
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn uploads_every_variant_of_a_clip_and_records_its_size_in_its_section() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, clip, main, small) = shop_with_a_variant(tmp.path());

    let (base, bucket) = fake_bucket();
    let first = push(&root, &base);
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("clip first-clip (360p): uploading clips/first-clip-360p.mp4"), "{}", text(&first));
    assert!(text(&first).contains("2 uploaded, 0 already in the bucket, 0 failed"), "{}", text(&first));
    {
        let stored = bucket.lock().unwrap();
        assert_eq!(stored.get("clips/first-clip.mp4"), Some(&main));
        assert_eq!(stored.get("clips/first-clip-360p.mp4"), Some(&small));
    }
    // The variant's true size and sha256 went into its own section.
    let front = front_matter(&clip);
    let variant = &front["variants"][0];
    assert_eq!(variant["size"].as_integer(), Some(small.len() as i64));
    assert_eq!(variant["sha256"].as_str(), Some(hex_sha256(&small).as_str()));
    assert_eq!(front["size"].as_integer(), Some(main.len() as i64));
    assert_eq!(front["sha256"].as_str(), Some(hex_sha256(&main).as_str()));

    let second = push(&root, &base);
    assert!(second.status.success(), "{}", text(&second));
    assert!(text(&second).contains("0 uploaded, 2 already in the bucket, 0 failed"), "{}", text(&second));
}

/// A refused token or an unreachable Worker stops the run at the first
/// clip, with the cause once, and records nothing.
#[test]
fn a_refused_token_or_no_worker_stops_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, clip, _, _) = shop_with_a_variant(tmp.path());
    let before = fs::read(&clip).unwrap();
    let (base, _) = fake_bucket();
    let unreachable = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    for (base, token, cause) in
        [(base.as_str(), "wrong-token-0123456789", "401"), (unreachable.as_str(), TOKEN, "could not reach the Worker")]
    {
        let out = Command::new(env!("CARGO_BIN_EXE_site-gen"))
            .args(["push", "--worker-url", base, "--root"])
            .arg(&root)
            .env("CLIPSTORE_ADMIN_TOKEN", token)
            .output()
            .unwrap();
        let said = text(&out);
        assert!(!out.status.success(), "{said}");
        assert_eq!(said.matches(cause).count(), 1, "the cause once, not per clip: {said}");
        assert!(!said.contains("uploaded,"), "no summary of a run that did not happen: {said}");
    }
    assert_eq!(fs::read(&clip).unwrap(), before, "nothing recorded");
}
