//! `site-gen push` against a small fake of the Worker's admin object API on
//! loopback: every file of a clip goes, its main file and each `[[variants]]`
//! one, a variant's size and sha256 are recorded in its own section, and a
//! second run uploads nothing; and against a small S3 stand-in for the
//! secondary origin that answers as AWS S3 does to a key without
//! `s3:ListBucket` (403 for a missing object), or refuses the key. (The real
//! API, R2 and a real S3 server: `edge-worker/tests/secondary.test.mjs`.)

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use common::http::{self, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

const TOKEN: &str = "push-test-token-0123456789";

type Bucket = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `GET /admin/objects/<key>` (404, or its size and sha256) and
/// `PUT /admin/objects/<key>` (stored).
fn fake_bucket() -> (String, Bucket) {
    fake_bucket_refusing("\0 no key has this")
}

/// Keys whose objects carry no sha256 until uploaded (put by wrangler).
type Unhashed = Arc<Mutex<std::collections::BTreeSet<String>>>;

/// [`fake_bucket`], whose objects of the keys in the set carry no sha256.
fn fake_bucket_with_unhashed() -> (String, Bucket, Unhashed) {
    let unhashed = Unhashed::default();
    let (base, bucket, _) = fake_bucket_answering("\0 no key has this", unhashed.clone(), Bucket::default());
    (base, bucket, unhashed)
}

/// [`fake_bucket`] whose `GET /admin/catalog` lists the files in the
/// second map (what the deployed Worker's catalog sells; empty: a shop
/// not deployed yet).
/// And the number of `GET /admin/objects/<key>` it answered.
fn fake_deployed_bucket() -> (String, Bucket, Bucket, Arc<Mutex<usize>>) {
    let deployed = Bucket::default();
    let (base, bucket, asked) = fake_bucket_answering("\0 no key has this", Unhashed::default(), deployed.clone());
    (base, bucket, deployed, asked)
}

/// [`fake_bucket`], refusing (413, as the Worker's plan limit does) every
/// upload of a key that contains `refused`.
fn fake_bucket_refusing(refused: &'static str) -> (String, Bucket) {
    let (base, bucket, _) = fake_bucket_answering(refused, Unhashed::default(), Bucket::default());
    (base, bucket)
}

fn fake_bucket_answering(
    refused: &'static str,
    unhashed: Unhashed,
    deployed: Bucket,
) -> (String, Bucket, Arc<Mutex<usize>>) {
    let bucket: Bucket = Arc::default();
    let objects = bucket.clone();
    let asked = Arc::new(Mutex::new(0));
    let gets = asked.clone();
    let base = http::serve(move |request| {
        if request.has_bearer(TOKEN) && request.method == "GET" && request.path() == "/admin/catalog" {
            // As the Worker answers: each file it sells, and what the bucket holds at its key.
            let stored = objects.lock().unwrap();
            let clips: Vec<_> = deployed
                .lock()
                .unwrap()
                .iter()
                .map(|(key, b)| {
                    let found = stored.get(key).map(|o| json!({"size": o.len(), "sha256": hex_sha256(o), "etag": "e"}));
                    json!({"slug": key, "object_key": key, "size": b.len(), "sha256": hex_sha256(b), "found": found})
                })
                .collect();
            return Response::json(200, json!({"total": clips.len(), "offset": 0, "clips": clips}));
        }
        let key = request
            .path()
            .strip_prefix("/admin/objects/")
            .map(|k| percent_encoding::percent_decode_str(k).decode_utf8().unwrap().into_owned());
        match (request.has_bearer(TOKEN), request.method.as_str(), key) {
            (false, _, _) => Response::json(401, json!({"error": "unauthorized"})),
            (true, "GET", Some(key)) => {
                *gets.lock().unwrap() += 1;
                match objects.lock().unwrap().get(&key) {
                    Some(b) if unhashed.lock().unwrap().contains(&key) => {
                        Response::json(200, json!({"found": {"size": b.len()}}))
                    }
                    Some(b) => Response::json(200, json!({"found": {"size": b.len(), "sha256": hex_sha256(b)}})),
                    None => Response::json(404, json!({"error": "not in the bucket"})),
                }
            }
            (true, "PUT", Some(key)) if key.contains(refused) => {
                Response::json(413, json!({"error": "body over the plan's limit"}))
            }
            (true, "PUT", Some(key)) => {
                unhashed.lock().unwrap().remove(&key);
                objects.lock().unwrap().insert(key, request.body);
                Response::json(201, json!({"stored": true}))
            }
            _ => Response::json(404, json!({"error": "no such route"})),
        }
    });
    (base, bucket, asked)
}

/// What the S3 stand-in holds: key → (bytes, its `x-amz-meta-sha256`).
type Store = Arc<Mutex<BTreeMap<String, (Vec<u8>, String)>>>;

/// How the S3 stand-in answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum S3 {
    /// As AWS S3 to a key that may get and put but not list: 403 (not
    /// 404) to a `HEAD` of a missing object.
    WithoutListBucket,
    /// As any S3 to a key it does not know: 403 to everything.
    RefusingTheKey,
    /// As an S3 having a bad day: `HEAD` as usual, 500 to every `PUT`.
    FailingUploads,
}

/// A loopback S3 stand-in for single-`PUT` uploads (`HEAD`, `PUT` with an
/// MD5 ETag; the signature is not checked); returns its address, what it
/// holds and how many `PUT`s it was sent.
fn fake_s3(mode: S3) -> (String, Store, Arc<Mutex<usize>>) {
    let (store, puts): (Store, Arc<Mutex<usize>>) = Default::default();
    let (objects, sent) = (store.clone(), puts.clone());
    let base = http::serve(move |request| {
        // Path style: /<bucket>/<key>?X-Amz-…
        let key = percent_encoding::percent_decode_str(request.path().splitn(3, '/').nth(2).unwrap_or(""))
            .decode_utf8()
            .unwrap()
            .into_owned();
        let denied = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        let etag =
            |b: &[u8]| format!("\"{}\"", md5::Md5::digest(b).iter().map(|b| format!("{b:02x}")).collect::<String>());
        match (mode, request.method.as_str()) {
            (_, "PUT") => {
                *sent.lock().unwrap() += 1;
                match mode {
                    S3::RefusingTheKey => Response::empty(403).body(denied),
                    S3::FailingUploads => Response::empty(500).body("<Error><Code>InternalError</Code></Error>"),
                    S3::WithoutListBucket => {
                        let tag = etag(&request.body);
                        let sha256 = request.header("x-amz-meta-sha256").unwrap_or("").to_string();
                        objects.lock().unwrap().insert(key, (request.body, sha256));
                        Response::empty(200).header("etag", tag)
                    }
                }
            }
            (S3::RefusingTheKey, _) => Response::empty(403),
            (_, "HEAD") => match objects.lock().unwrap().get(&key) {
                Some((b, sha)) => Response::empty(200)
                    .header("content-length", b.len().to_string())
                    .header("etag", etag(b))
                    .header("x-amz-meta-sha256", sha.as_str()),
                None => Response::empty(403),
            },
            _ => Response::empty(405),
        }
    });
    (base, store, puts)
}

/// `site-gen push` with the secondary origin at `s3`.
fn push_to_both(root: &Path, base: &str, s3: &str) -> Output {
    push_to_both_with(root, base, s3, &[])
}

/// [`push_to_both`] with more arguments.
fn push_to_both_with(root: &Path, base: &str, s3: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["push", "--worker-url", base, "--root"])
        .arg(root)
        .args(extra)
        .env("CLIPSTORE_ADMIN_TOKEN", TOKEN)
        .env("CLIPSTORE_SECONDARY_ENDPOINT", s3)
        .env("CLIPSTORE_SECONDARY_REGION", "us-east-1")
        .env("CLIPSTORE_SECONDARY_BUCKET", "clips-copy")
        .env("CLIPSTORE_SECONDARY_ACCESS_KEY_ID", "AKIAPUSHTEST0000")
        .env("CLIPSTORE_SECONDARY_SECRET_ACCESS_KEY", "push-test-secret-0123456789abcdef")
        .output()
        .unwrap()
}

fn push(root: &Path, base: &str) -> Output {
    push_with(root, base, &[])
}

/// [`push`] with more arguments.
fn push_with(root: &Path, base: &str, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["push", "--worker-url", base, "--root"])
        .arg(root)
        .args(extra)
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
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
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

/// A first push to an empty AWS bucket whose key may not list it: AWS
/// answers 403 to the `HEAD` of every clip not uploaded yet, and push
/// uploads them anyway (the upload tells a wrong key), names the missing
/// permission once, and the next run (the clips there now) uploads nothing.
#[test]
fn a_secondary_that_says_403_for_a_missing_clip_still_gets_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, _, main, small) = shop_with_a_variant(tmp.path());
    let (base, _) = fake_bucket();
    let (s3, store, _) = fake_s3(S3::WithoutListBucket);
    let first = push_to_both(&root, &base, &s3);
    let said = text(&first);
    assert!(first.status.success(), "{said}");
    assert!(said.contains("Secondary origin: 2 uploaded"), "{said}");
    assert_eq!(said.matches("s3:ListBucket on arn:aws:s3:::clips-copy").count(), 1, "{said}");
    {
        let stored = store.lock().unwrap();
        assert_eq!(stored["clips/first-clip.mp4"], (main.clone(), hex_sha256(&main)));
        assert_eq!(stored["clips/first-clip-360p.mp4"].0, small);
    }
    let second = push_to_both(&root, &base, &s3);
    let said = text(&second);
    assert!(second.status.success(), "{said}");
    assert!(said.contains("Secondary origin: 0 uploaded (size, MD5 and sha256 verified), 2 already there."), "{said}");
    assert!(!said.contains("ListBucket"), "{said}");
}

/// A master the owner replaced goes to the secondary first: while the
/// secondary fails to take it, R2 (what customers download from) keeps the
/// old file, so that a failover never serves other bytes than R2, and the
/// front matter keeps describing the old one. A clip R2 lacks goes to R2
/// either way. Once the secondary takes it, both get the new file.
#[test]
fn a_replaced_master_reaches_r2_only_after_the_secondary() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, clip, old, small) = shop_with_a_variant(tmp.path());
    let (base, bucket) = fake_bucket();
    let (s3, store, _) = fake_s3(S3::WithoutListBucket);
    let first = push_to_both(&root, &base, &s3);
    assert!(first.status.success(), "{}", text(&first));
    let recorded = fs::read(&clip).unwrap();

    let new = b"the re-graded 1080p master".repeat(90);
    fs::write(root.join("sample-media/clips/first-clip.mp4"), &new).unwrap();
    bucket.lock().unwrap().remove("clips/first-clip-360p.mp4");
    let (failing, failing_store, puts) = fake_s3(S3::FailingUploads);
    failing_store.lock().unwrap().insert("clips/first-clip.mp4".into(), (old.clone(), hex_sha256(&old)));
    let refused = push_to_both_with(&root, &base, &failing, &["--replace", "first-clip"]);
    let said = text(&refused);
    assert!(!refused.status.success(), "{said}");
    assert_eq!(*puts.lock().unwrap(), 2, "both files were offered to the secondary: {said}");
    assert_eq!(bucket.lock().unwrap()["clips/first-clip.mp4"], old, "R2 keeps the old master: {said}");
    assert_eq!(bucket.lock().unwrap()["clips/first-clip-360p.mp4"], small, "R2 lacked the variant: {said}");
    assert!(
        said.contains("clip first-clip: not uploaded to the bucket (the bucket has 1600 bytes, the file 2340)"),
        "{said}"
    );
    assert!(said.contains("until the secondary holds the new one too"), "{said}");
    assert_eq!(fs::read(&clip).unwrap(), recorded, "the front matter still describes the old master");

    let retried = push_to_both_with(&root, &base, &s3, &["--replace", "first-clip"]);
    let said = text(&retried);
    assert!(retried.status.success(), "{said}");
    assert_eq!(bucket.lock().unwrap()["clips/first-clip.mp4"], new, "{said}");
    assert_eq!(store.lock().unwrap()["clips/first-clip.mp4"], (new.clone(), hex_sha256(&new)), "{said}");
    assert_eq!(front_matter(&clip)["sha256"].as_str(), Some(hex_sha256(&new).as_str()), "{said}");
}

/// A file under --media that is not the one the clip sold (a wrong folder,
/// a master changed since), while the bucket holds the sold one: push
/// refuses to replace it, in either origin, and changes no front matter,
/// until told `--replace` with the clip's slug. (A review's push of 50 KB
/// copies replaced every sold file, and exited 0.)
#[test]
fn a_sold_file_is_replaced_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, clip, sold, _) = shop_with_a_variant(tmp.path());
    let (base, bucket) = fake_bucket();
    let (s3, store, puts) = fake_s3(S3::WithoutListBucket);
    assert!(push_to_both(&root, &base, &s3).status.success());
    let recorded = fs::read(&clip).unwrap();
    let before = *puts.lock().unwrap();

    let other = b"a cut-down copy".repeat(20);
    fs::write(root.join("sample-media/clips/first-clip.mp4"), &other).unwrap();
    let refused = push_to_both(&root, &base, &s3);
    let said = text(&refused);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("clip first-clip: not uploaded:")
            && said.contains("is not the file content/clips/first-clip.md describes"),
        "{said}"
    );
    assert!(
        said.contains(&format!("({} bytes, sha256 {}), which the bucket holds", sold.len(), hex_sha256(&sold))),
        "{said}"
    );
    assert!(
        said.contains("run this push again with `--replace first-clip` added") && said.contains("is --media right"),
        "{said}"
    );
    assert_eq!(bucket.lock().unwrap()["clips/first-clip.mp4"], sold, "{said}");
    assert_eq!(store.lock().unwrap()["clips/first-clip.mp4"].0, sold, "{said}");
    assert_eq!(*puts.lock().unwrap(), before, "nothing sent to the secondary: {said}");
    assert_eq!(fs::read(&clip).unwrap(), recorded, "the front matter still describes the sold file");

    let unknown = push_to_both_with(&root, &base, &s3, &["--replace", "frist-clip"]);
    assert!(!unknown.status.success());
    assert!(text(&unknown).contains("--replace frist-clip: no clip frist-clip in the catalog"), "{}", text(&unknown));

    // The bucket lost it (a file to put back), and the wrong file is still
    // the one under --media: the recorded sha256 refuses it too.
    bucket.lock().unwrap().remove("clips/first-clip.mp4");
    let lost = push_to_both(&root, &base, &s3);
    let said = text(&lost);
    assert!(
        !lost.status.success() && said.contains("not uploaded:") && !said.contains("which the bucket holds"),
        "{said}"
    );
    assert!(bucket.lock().unwrap().get("clips/first-clip.mp4").is_none(), "{said}");
    assert_eq!(store.lock().unwrap()["clips/first-clip.mp4"].0, sold, "the secondary keeps the sold file: {said}");

    let replaced = push_to_both_with(&root, &base, &s3, &["--replace", "first-clip"]);
    let said = text(&replaced);
    assert!(replaced.status.success(), "{said}");
    assert_eq!(bucket.lock().unwrap()["clips/first-clip.mp4"], other, "{said}");
    assert_eq!(store.lock().unwrap()["clips/first-clip.mp4"].0, other, "{said}");
    assert_eq!(front_matter(&clip)["sha256"].as_str(), Some(hex_sha256(&other).as_str()), "{said}");
    assert!(!root.join("content/clips/first-clip.md.part").exists());
}

/// The owner's routine after re-exporting a sold clip's master: `site-gen
/// media` records the new file's size and sha256 in the front matter, then
/// push. The deployed shop sells the bucket's copy, so push refuses to
/// replace it until told `--replace`; a clip not deployed yet is replaced
/// without asking. (A review: push compared the bucket only with the front
/// matter media had just rewritten, and replaced the sold file.)
#[test]
fn a_sold_file_is_not_replaced_after_media_recorded_the_new_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, clip, sold, _) = shop_with_a_variant(tmp.path());
    let (base, bucket, deployed, asked) = fake_deployed_bucket();
    assert!(push(&root, &base).status.success());
    let new = b"the re-graded master".repeat(70);
    fs::write(root.join("sample-media/clips/first-clip.mp4"), &new).unwrap();
    // What `site-gen media` writes for the new master.
    let recorded = fs::read_to_string(&clip)
        .unwrap()
        .replacen(&format!("size = {}", sold.len()), &format!("size = {}", new.len()), 1)
        .replacen(&hex_sha256(&sold), &hex_sha256(&new), 1);
    fs::write(&clip, &recorded).unwrap();

    // Not deployed yet: nobody bought the old file.
    let undeployed = push(&root, &base);
    assert!(undeployed.status.success(), "{}", text(&undeployed));
    assert_eq!(bucket.lock().unwrap()["clips/first-clip.mp4"], new);

    // Deployed with the bucket's copy, then a newer master again.
    *deployed.lock().unwrap() = bucket.lock().unwrap().clone();
    let newer = b"the re-graded master, take two".repeat(70);
    fs::write(root.join("sample-media/clips/first-clip.mp4"), &newer).unwrap();
    let recorded = fs::read_to_string(&clip)
        .unwrap()
        .replacen(&format!("size = {}", new.len()), &format!("size = {}", newer.len()), 1)
        .replacen(&hex_sha256(&new), &hex_sha256(&newer), 1);
    fs::write(&clip, &recorded).unwrap();
    let refused = push(&root, &base);
    let said = text(&refused);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "clip first-clip: not uploaded: the deployed shop sells the copy in the bucket ({} bytes, sha256 {})",
            new.len(),
            hex_sha256(&new)
        )),
        "{said}"
    );
    assert!(said.contains("run this push again with `--replace first-clip` added"), "{said}");
    assert_eq!(bucket.lock().unwrap()["clips/first-clip.mp4"], new, "the sold file stays: {said}");
    assert_eq!(fs::read_to_string(&clip).unwrap(), recorded);

    let replaced = push_with(&root, &base, &["--replace", "first-clip"]);
    assert!(replaced.status.success(), "{}", text(&replaced));
    assert_eq!(bucket.lock().unwrap()["clips/first-clip.mp4"], newer);

    // What the deployed catalog lists is read from its pages, not asked of
    // the bucket file by file (the scale review: 5,000 requests for 5,000
    // clips); the 360p file, not deployed, is asked by itself.
    *deployed.lock().unwrap() = [("clips/first-clip.mp4".to_string(), newer.clone())].into();
    *asked.lock().unwrap() = 0;
    let quiet = push(&root, &base);
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert!(text(&quiet).contains("0 uploaded, 2 already in the bucket"), "{}", text(&quiet));
    assert_eq!(*asked.lock().unwrap(), 1, "{}", text(&quiet));
}

/// An object of the right size that carries no sha256 (put by wrangler or
/// run-local.sh) is uploaded again, so that R2 checks the bytes whose
/// sha256 push records: a same-size object with other bytes was counted
/// as in place, and the local file's hash recorded for it.
#[test]
fn an_object_without_a_sha256_is_uploaded_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, clip, main, small) = shop_with_a_variant(tmp.path());
    let (base, bucket, unhashed) = fake_bucket_with_unhashed();
    let impostor: Vec<u8> = main.iter().map(|b| b ^ 1).collect();
    bucket.lock().unwrap().insert("clips/first-clip.mp4".into(), impostor);
    unhashed.lock().unwrap().insert("clips/first-clip.mp4".into());
    let out = push(&root, &base);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("clip first-clip: uploading clips/first-clip.mp4 (the copy there carries no sha256"),
        "{said}"
    );
    assert_eq!(bucket.lock().unwrap()["clips/first-clip.mp4"], main, "{said}");
    assert_eq!(bucket.lock().unwrap()["clips/first-clip-360p.mp4"], small, "{said}");
    assert_eq!(front_matter(&clip)["sha256"].as_str(), Some(hex_sha256(&main).as_str()));
    let again = push(&root, &base);
    assert!(text(&again).contains("0 uploaded, 2 already in the bucket, 0 failed"), "{}", text(&again));
}

/// A file over the plan's 100 MB put with wrangler (as deploy.md says),
/// whose object carries no sha256: push cannot check it through the
/// Worker, so it leaves it, records its size and not a sha256 it never
/// checked, and says so; the run passes.
#[test]
fn an_unhashed_object_too_big_for_the_worker_gets_its_size_recorded_only() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, clip, _, _) = shop_with_a_variant(tmp.path());
    let len = site_gen::push::BODY_LIMIT + 1;
    let master = root.join("sample-media/clips/first-clip.mp4");
    fs::File::create(&master).unwrap().set_len(len).unwrap();
    let (base, bucket, unhashed) = fake_bucket_with_unhashed();
    bucket.lock().unwrap().insert("clips/first-clip.mp4".into(), vec![0; len as usize]);
    unhashed.lock().unwrap().insert("clips/first-clip.mp4".into());
    let out = push(&root, &base);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("clip first-clip: the bucket's copy has the right size but carries no sha256"), "{said}");
    assert!(said.contains(&format!("now records size = {len} (it said")), "{said}");
    let front = front_matter(&clip);
    assert_eq!(front["size"].as_integer(), Some(len as i64));
    assert!(front.get("sha256").is_none(), "no hash of bytes not checked: {front:?}");
    assert!(unhashed.lock().unwrap().contains("clips/first-clip.mp4"), "not uploaded again: {said}");
}

/// A secondary store that does not answer (a mistyped endpoint, the store
/// down): the run stops at the first clip with one message naming its
/// address, not the same error for every clip; R2 gets nothing either
/// (it trades its copy only once the secondary holds the file).
#[test]
fn an_unreachable_secondary_stops_the_run_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, clip, _, _) = shop_with_a_variant(tmp.path());
    let before = fs::read(&clip).unwrap();
    let (base, bucket) = fake_bucket();
    let nowhere = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let out = push_to_both(&root, &base, &nowhere);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert_eq!(said.matches("did not answer, so the run stops here").count(), 1, "{said}");
    assert!(said.contains(&format!("the secondary origin at {nowhere}")), "{said}");
    assert!(!said.contains("X-Amz"), "no presigned address: {said}");
    assert!(bucket.lock().unwrap().is_empty(), "{said}");
    assert_eq!(fs::read(&clip).unwrap(), before);
}

/// A secondary key that is wrong (or may not write): the first upload it
/// refuses stops the run, with one message naming the settings and the
/// permissions, instead of hashing every master to be refused each time.
#[test]
fn a_secondary_refusing_push_s_key_stops_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, clip, _, _) = shop_with_a_variant(tmp.path());
    let before = fs::read(&clip).unwrap();
    let (base, _) = fake_bucket();
    let (s3, store, puts) = fake_s3(S3::RefusingTheKey);
    let out = push_to_both(&root, &base, &s3);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert_eq!(said.matches("the run stops here").count(), 1, "once, not per clip: {said}");
    for needed in ["CLIPSTORE_SECONDARY_ACCESS_KEY_ID", "CLIPSTORE_SECONDARY_SECRET_ACCESS_KEY", "s3:ListBucket", "403"]
    {
        assert!(said.contains(needed), "{needed}: {said}");
    }
    assert_eq!(*puts.lock().unwrap(), 1, "one upload tried: {said}");
    assert!(store.lock().unwrap().is_empty());
    assert!(!said.contains("uploaded,"), "no summary of a run that did not happen: {said}");
    assert_eq!(fs::read(&clip).unwrap(), before, "nothing recorded");
}

/// A clip whose file is not under --media is compared with the catalog in
/// both origins: a truncated copy there is a failure that says there is
/// nothing to upload it from, not "already in the bucket"; and push says how
/// many of the catalog's files it did not find.
#[test]
fn a_clip_without_its_file_is_compared_with_the_catalog() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, _, _, small) = shop_with_a_variant(tmp.path());
    let (base, bucket) = fake_bucket();
    let (s3, store, _) = fake_s3(S3::WithoutListBucket);
    let first = push_to_both(&root, &base, &s3);
    assert!(first.status.success(), "{}", text(&first));

    let key = "clips/first-clip-360p.mp4";
    bucket.lock().unwrap().insert(key.into(), small[..10].to_vec());
    store.lock().unwrap().get_mut(key).unwrap().0.truncate(12);
    fs::remove_file(root.join("sample-media").join(key)).unwrap();
    let out = push_to_both(&root, &base, &s3);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    let catalog = small.len();
    assert!(
        said.contains(&format!(
            "clip first-clip (360p): the bucket has other bytes than the catalog (10 bytes there, the catalog says {catalog}) and there is no file at"
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!("clip first-clip (360p): the secondary has other bytes than the catalog (12 bytes there, the catalog says {catalog})")),
        "{said}"
    );
    assert!(said.contains("0 uploaded, 1 already in the bucket, 2 failed"), "{said}");
    assert!(said.contains("1 of the catalog's 2 file(s) not found under"), "{said}");
}
