//! `site-gen media` end to end with real ffmpeg and ffprobe on a few seconds
//! of video made by the test: the front matter is filled from the master,
//! the poster is a JPEG still, the preview a short 360p H.264 with the
//! watermark burnt in (a frame differs from the master's where the text is,
//! and only there), a second run does nothing, a new watermark remakes only
//! the previews, a hand-made poster is left alone, and without ffmpeg the
//! owner is told how to install it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn site_gen(args: &[&str], root: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_site-gen")).args(args).current_dir(root).output().expect("site-gen runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).output().expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A shop made by `site-gen init` at `dir/shop`, and its empty masters
/// folder for the sample clip: (the shop, `sample-media/clips`).
fn new_shop(dir: &Path) -> (PathBuf, PathBuf) {
    let root = dir.join("shop");
    assert!(site_gen(&["init", root.to_str().unwrap()], dir).status.success());
    let masters = root.join("sample-media/clips");
    fs::create_dir_all(&masters).unwrap();
    (root, masters)
}

/// A silent master of `seconds` from an ffmpeg test pattern (`testsrc2`,
/// `smptebars`) of `size` (`640x360`) at `file`, replacing what is there.
fn master_of(file: &Path, pattern: &str, size: &str, seconds: &str) {
    let _ = fs::remove_file(file);
    let source = format!("{pattern}=size={size}:rate=25");
    let args = ["-f", "lavfi", "-i", &source, "-t", seconds, "-c:v", "libx264", "-threads", "1", "-pix_fmt", "yuv420p"];
    ffmpeg(&args.into_iter().chain([file.to_str().unwrap()]).collect::<Vec<_>>());
}

fn probe(file: &Path, entries: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", entries, "-of", "csv=p=0"])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One frame at `at` seconds, 640x360 grey, one byte a pixel.
fn grey_frame(file: &Path, at: &str, dir: &Path, name: &str) -> Vec<u8> {
    let out = dir.join(name);
    ffmpeg(&[
        "-ss",
        at,
        "-i",
        file.to_str().unwrap(),
        "-frames:v",
        "1",
        "-vf",
        "scale=640:360",
        "-pix_fmt",
        "gray",
        "-f",
        "rawvideo",
        out.to_str().unwrap(),
    ]);
    fs::read(out).unwrap()
}

fn front_matter(root: &Path) -> toml::Table {
    let t = fs::read_to_string(root.join("content/clips/first-clip.md")).unwrap();
    toml::from_str(t.split("+++").nth(1).unwrap()).unwrap()
}

fn modified(p: &Path) -> std::time::SystemTime {
    fs::metadata(p).unwrap().modified().unwrap()
}

#[test]
fn fills_front_matter_makes_poster_and_watermarked_preview_and_skips_what_is_done() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    let init = site_gen(&["init", root.to_str().unwrap(), "--title", "Harbour Films"], tmp.path());
    assert!(init.status.success(), "{}", text(&init));
    // The master: 4 s of 640x360 test pattern at 25 fps, H.264.
    fs::create_dir_all(root.join("sample-media/clips")).unwrap();
    let master = root.join("sample-media/clips/first-clip.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25",
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        master.to_str().unwrap(),
    ]);
    // No poster named: media makes one. (init's placeholder poster line goes.)
    let clip = root.join("content/clips/first-clip.md");
    let t = fs::read_to_string(&clip).unwrap();
    fs::write(&clip, t.lines().filter(|l| !l.starts_with("poster")).collect::<Vec<_>>().join("\n") + "\n").unwrap();

    let run = site_gen(&["media", "--jobs", "2"], &root);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("first-clip: front matter updated, poster made, preview made"), "{}", text(&run));

    let fm = front_matter(&root);
    let bytes = fs::read(&master).unwrap();
    assert_eq!(fm["size"].as_integer(), Some(bytes.len() as i64));
    let sha = {
        use sha2::{Digest, Sha256};
        Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert_eq!(fm["sha256"].as_str(), Some(sha.as_str()));
    assert_eq!(fm["duration"].as_str(), Some("0:04"));
    assert_eq!(fm["resolution"].as_str(), Some("640x360"));
    assert_eq!(fm["frame_rate"].as_str(), Some("25"));
    assert_eq!(fm["codec"].as_str(), Some("h264"));
    assert_eq!(fm["poster"].as_str(), Some("/posters/first-clip.jpg"));
    assert_eq!(fm["preview"].as_str(), Some("/previews/first-clip.mp4"));
    assert!(!fs::read_to_string(&clip).unwrap().contains("size = 1 "), "the size placeholder line is replaced");

    let poster = root.join("static/posters/first-clip.jpg");
    assert_eq!(probe(&poster, "stream=codec_name,width,height"), "mjpeg,640,360");
    let preview = root.join("static/previews/first-clip.mp4");
    assert_eq!(probe(&preview, "stream=codec_name,width,height"), "h264,640,360");
    let seconds: f64 = probe(&preview, "format=duration").parse().unwrap();
    assert!((3.5..=4.5).contains(&seconds), "{seconds}");
    // The watermark: where the text is (the middle band), many pixels differ
    // from the master's frame; at the edges, hardly any.
    let marked = grey_frame(&preview, "2", tmp.path(), "marked.gray");
    let plain = grey_frame(&master, "2", tmp.path(), "plain.gray");
    let differing = |rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| {
        rows.flat_map(|y| cols.clone().map(move |x| y * 640 + x)).filter(|&i| marked[i].abs_diff(plain[i]) > 40).count()
    };
    let centre = differing(150..210, 160..480);
    let edge = differing(300..360, 0..640) + differing(60..120, 0..100);
    assert!(centre > 1000, "{centre} pixels of the text band differ");
    assert!(edge * 20 < centre, "{edge} edge pixels differ against {centre} in the text band");
    // The site builds with what media wrote.
    let build = site_gen(&["build"], &root);
    assert!(build.status.success(), "{}", text(&build));
    assert!(root.join("public/previews/first-clip.mp4").is_file());

    // A second run does nothing.
    let (p1, v1, c1) = (modified(&poster), modified(&preview), modified(&clip));
    let again = site_gen(&["media"], &root);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("first-clip: up to date"), "{}", text(&again));
    assert_eq!((modified(&poster), modified(&preview), modified(&clip)), (p1, v1, c1));
    // A new watermark remakes the preview only.
    let site = root.join("content/site.toml");
    fs::write(&site, fs::read_to_string(&site).unwrap() + "watermark = \"Preview only\"\n").unwrap();
    let remade = site_gen(&["media"], &root);
    assert!(text(&remade).contains("first-clip: preview made"), "{}", text(&remade));
    assert_eq!(modified(&poster), p1);
    assert_ne!(modified(&preview), v1);

    // A clip whose file is renamed (its slug changes) keeps the paths media
    // wrote into it, and they are still media's to make: a new watermark
    // remakes its preview (it was taken for the owner's, and kept the old
    // watermark, "up to date").
    let renamed = root.join("content/clips/renamed-clip.md");
    fs::rename(&clip, &renamed).unwrap();
    fs::rename(&master, root.join("sample-media/clips/renamed-clip.mp4")).unwrap();
    let t = fs::read_to_string(&renamed).unwrap().replace("clips/first-clip.mp4", "clips/renamed-clip.mp4");
    fs::write(&renamed, t).unwrap();
    fs::write(&site, fs::read_to_string(&site).unwrap().replace("Preview only", "Renamed")).unwrap();
    let v2 = modified(&preview);
    let after_rename = site_gen(&["media"], &root);
    assert!(after_rename.status.success(), "{}", text(&after_rename));
    assert!(text(&after_rename).contains("renamed-clip: poster made, preview made"), "{}", text(&after_rename));
    assert_ne!(modified(&preview), v2, "the preview at /previews/first-clip.mp4 is made again");
    fs::rename(&renamed, &clip).unwrap();
    fs::rename(root.join("sample-media/clips/renamed-clip.mp4"), &master).unwrap();
    fs::write(&clip, fs::read_to_string(&clip).unwrap().replace("clips/renamed-clip.mp4", "clips/first-clip.mp4"))
        .unwrap();
    fs::write(&site, fs::read_to_string(&site).unwrap().replace("Renamed", "Preview only")).unwrap();
    let back = site_gen(&["media"], &root);
    assert!(back.status.success(), "{}", text(&back));

    // The owner puts their own preview where media made one: it is theirs
    // from then on, kept when the settings change, and said so.
    let own = b"the owner's own preview, cut by hand".to_vec();
    fs::write(&preview, &own).unwrap();
    fs::write(&site, fs::read_to_string(&site).unwrap().replace("Preview only", "Sample")).unwrap();
    let kept = site_gen(&["media"], &root);
    assert!(kept.status.success(), "{}", text(&kept));
    assert!(
        text(&kept).contains("preview /previews/first-clip.mp4 kept: it changed since media made it"),
        "{}",
        text(&kept)
    );
    assert_eq!(fs::read(&preview).unwrap(), own, "not overwritten");
    let again = site_gen(&["media"], &root);
    assert_eq!(fs::read(&preview).unwrap(), own, "nor on the next run");
    assert!(!text(&again).contains("preview made"), "{}", text(&again));
    // Deleted, it is media's to make again.
    fs::remove_file(&preview).unwrap();
    let back = site_gen(&["media"], &root);
    assert!(text(&back).contains("preview made"), "{}", text(&back));
    assert_eq!(probe(&preview, "stream=codec_name,width,height"), "h264,640,360");

    // A fresh clone (`.site-gen/` is not in git): the files there are not
    // known as media's, and are kept, said in one line for all of them
    // (the owner-CLI review: a line per file, on every run, buried the
    // warnings that matter).
    fs::remove_dir_all(root.join(".site-gen")).unwrap();
    let cloned = site_gen(&["media"], &root);
    assert!(cloned.status.success(), "{}", text(&cloned));
    assert_eq!(text(&cloned).matches("media did not make").count(), 1, "{}", text(&cloned));
    assert!(
        text(&cloned).contains(
            "kept /posters/first-clip.jpg and /previews/first-clip.mp4: files are there where media would make them"
        ),
        "{}",
        text(&cloned)
    );
}

#[test]
fn leaves_a_hand_made_poster_alone_and_reports_a_missing_master() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    assert!(site_gen(&["init", root.to_str().unwrap()], tmp.path()).status.success());
    let svg = root.join("static/posters/first-clip.svg");
    let before = fs::read(&svg).unwrap();
    let run = site_gen(&["media"], &root);
    assert!(!run.status.success());
    assert!(text(&run).contains("content/clips/first-clip.md: its master"), "{}", text(&run));
    assert!(text(&run).contains("is missing"), "{}", text(&run));
    fs::create_dir_all(root.join("sample-media/clips")).unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30",
        "-t",
        "2",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        root.join("sample-media/clips/first-clip.mp4").to_str().unwrap(),
    ]);
    let run = site_gen(&["media"], &root);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("first-clip: front matter updated, preview made"), "{}", text(&run));
    assert_eq!(fs::read(&svg).unwrap(), before, "the owner's poster is untouched");
    assert!(!root.join("static/posters/first-clip.jpg").exists());
    assert_eq!(front_matter(&root)["poster"].as_str(), Some("/posters/first-clip.svg"));

    // A [[variants]] section written by hand, its file not in the masters
    // folder: for sale, and nothing for `push` to upload. Then the wrong file.
    let clip = root.join("content/clips/first-clip.md");
    let text_before = fs::read_to_string(&clip).unwrap();
    let (head, body) = text_before.rsplit_once("+++").unwrap();
    let section =
        "[[variants]]\nid = \"web\"\nfile = \"clips/first-clip-web.mp4\"\nfile_name = \"First clip (web).mp4\"\n\
                   size = 1234\nsha256 = \"ab00000000000000000000000000000000000000000000000000000000000000\"\n\
                   resolution = \"640x360\"\nprice = 5\n";
    fs::write(&clip, format!("{head}{section}+++{body}")).unwrap();
    let run = site_gen(&["media"], &root);
    assert!(run.status.success(), "a warning, not a failure: {}", text(&run));
    let web = root.join("sample-media/clips/first-clip-web.mp4");
    assert!(text(&run).contains("warning: first-clip: variant web is for sale, but its file "), "{}", text(&run));
    assert!(text(&run).contains("first-clip-web.mp4 is not there: put the file there"), "{}", text(&run));
    fs::write(&web, b"short").unwrap();
    let run = site_gen(&["media"], &root);
    assert!(
        text(&run).contains("variant web's file")
            && text(&run).contains("is 5 bytes, its [[variants]] section sells 1234 bytes"),
        "{}",
        text(&run)
    );
    // A section not filled in yet (`size = 0`, which `check` sends to
    // `media`; or no size line): its file's size and sha256 are written.
    let short_sha: String = {
        use sha2::{Digest, Sha256};
        Sha256::digest(b"short").iter().map(|b| format!("{b:02x}")).collect()
    };
    for placeholder in ["size = 0\n", ""] {
        let unfilled = section.replace("size = 1234\n", placeholder);
        fs::write(&clip, format!("{head}{unfilled}+++{body}")).unwrap();
        if !placeholder.is_empty() {
            // What `check` says of it is what `media` then does.
            let check = site_gen(&["check"], &root);
            assert!(text(&check).contains("which fills in the section's size and sha256"), "{}", text(&check));
        }
        let run = site_gen(&["media"], &root);
        assert!(run.status.success(), "{}", text(&run));
        assert!(text(&run).contains("first-clip: variant web: size and sha256 filled in from "), "{}", text(&run));
        let variants = front_matter(&root)["variants"].as_array().unwrap().clone();
        let web_section = variants.iter().find(|v| v["id"].as_str() == Some("web")).unwrap();
        assert_eq!(web_section["size"].as_integer(), Some(5), "{placeholder:?}");
        assert_eq!(web_section["sha256"].as_str(), Some(short_sha.as_str()), "{placeholder:?}");
        let check = site_gen(&["check"], &root);
        assert!(!text(&check).contains("`size`"), "check no longer asks for a size: {}", text(&check));
    }
}

/// One media run at a time in a shop: a second, started while the first
/// holds `.site-gen/media.lock`, refuses before it reads or writes anything,
/// and runs once the lock is free.
#[test]
fn a_second_run_in_the_same_shop_waits_for_none_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    assert!(site_gen(&["init", root.to_str().unwrap()], tmp.path()).status.success());
    fs::create_dir_all(root.join(".site-gen")).unwrap();
    let held = fs::File::create(root.join(".site-gen/media.lock")).unwrap();
    held.lock().unwrap();
    let clip = fs::read(root.join("content/clips/first-clip.md")).unwrap();
    let run = site_gen(&["media"], &root);
    assert!(!run.status.success());
    assert!(text(&run).contains("another `site-gen media` is running in this shop"), "{}", text(&run));
    assert!(!text(&run).contains("is missing"), "it stopped before looking at a clip: {}", text(&run));
    assert_eq!(fs::read(root.join("content/clips/first-clip.md")).unwrap(), clip);
    drop(held);
    let run = site_gen(&["media"], &root);
    assert!(text(&run).contains("is missing"), "it runs once the lock is free: {}", text(&run));
}

#[test]
fn says_how_to_install_ffmpeg_when_it_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    assert!(site_gen(&["init", root.to_str().unwrap()], tmp.path()).status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["media"])
        .current_dir(&root)
        .env("PATH", tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("sudo apt-get install ffmpeg"), "{}", text(&out));
}

/// The owner's `[[media_variants]]`: each lower resolution is encoded from
/// the master beside it (sound kept, never an upscale), recorded as a
/// `[[variants]]` section the site builds with, and not made again.
#[test]
fn makes_the_lower_variants_asked_for_and_never_upscales() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, masters) = new_shop(tmp.path());
    let master = masters.join("first-clip.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440",
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-threads",
        "1",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        master.to_str().unwrap(),
    ]);
    let site = root.join("content/site.toml");
    let settings = "\n# Smaller files to sell beside each master\n[[media_variants]]\nheight = 720\nprice = 40\n\n[[media_variants]]\nheight = 360\nprice = 30\n\n[[media_variants]]\nheight = 240\nprice = 9.50\nlabel = \"Web 240p\"\n\n[[media_variants]]\nheight = 180\nfactor = 0.5\nid = \"tiny\"\n";
    fs::write(&site, fs::read_to_string(&site).unwrap() + settings).unwrap();
    let clip = root.join("content/clips/first-clip.md");
    let owner_line = "# The owner's note stays.\n";
    let t = fs::read_to_string(&clip).unwrap();
    let t = t.replacen("+++\n", &format!("+++\n{owner_line}"), 1);
    fs::write(&clip, &t).unwrap();

    let run = site_gen(&["media", "--jobs", "1"], &root);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("variants 240p and tiny made"), "{}", text(&run));

    let v240 = masters.join("first-clip-240p.mp4");
    let tiny = masters.join("first-clip-tiny.mp4");
    assert_eq!(probe(&v240, "stream=codec_name,width,height"), "h264,426,240");
    assert_eq!(probe(&tiny, "stream=codec_name,width,height"), "h264,320,180");
    for file in [&v240, &tiny] {
        let seconds: f64 = probe(file, "format=duration").parse().unwrap();
        assert!((2.8..=3.3).contains(&seconds), "{}: {seconds}", file.display());
        let audio = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "a:0", "-show_entries", "stream=codec_name", "-of", "csv=p=0"])
            .arg(file)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&audio.stdout).trim(), "aac", "the sound is kept");
        let (size, whole) = (fs::metadata(file).unwrap().len(), fs::metadata(&master).unwrap().len());
        assert!(size < whole, "{}: {size} bytes, the master {whole}", file.display());
    }
    let mut names: Vec<String> =
        fs::read_dir(&masters).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        ["first-clip-240p.mp4", "first-clip-tiny.mp4", "first-clip.mp4"],
        "no upscale, no half-written file"
    );

    let written = fs::read_to_string(&clip).unwrap();
    assert!(written.contains(owner_line), "{written}");
    let fm = front_matter(&root);
    let variants = fm["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2, "{written}");
    let sha = |p: &Path| {
        use sha2::{Digest, Sha256};
        Sha256::digest(fs::read(p).unwrap()).iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let price = fm["price"].as_float().or(fm["price"].as_integer().map(|i| i as f64)).unwrap();
    for (v, (id, label, res, file, price)) in variants.iter().zip([
        ("240p", "Web 240p", "426x240", &v240, 9.5),
        ("tiny", "180p", "320x180", &tiny, (price * 50.0).round() / 100.0),
    ]) {
        assert_eq!(v["id"].as_str(), Some(id));
        assert_eq!(v["label"].as_str(), Some(label));
        assert_eq!(v["resolution"].as_str(), Some(res));
        assert_eq!(v["file"].as_str(), Some(format!("clips/{}", file.file_name().unwrap().to_str().unwrap()).as_str()));
        assert_eq!(v["size"].as_integer(), Some(fs::metadata(file).unwrap().len() as i64));
        assert_eq!(v["sha256"].as_str(), Some(sha(file).as_str()));
        assert_eq!(v["price"].as_float(), Some(price), "{id}");
        assert!(v["file_name"].as_str().unwrap().contains(label), "{v}");
    }
    // The site builds with them, and the Worker's catalog lists them.
    let build = site_gen(&["build"], &root);
    assert!(build.status.success(), "{}", text(&build));
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(root.join("catalog-manifest.json")).unwrap()).unwrap();
    let listed = &manifest["clips"]["first-clip"]["variants"];
    assert_eq!(listed["tiny"]["object_key"], "clips/first-clip-tiny.mp4", "{manifest}");
    assert_eq!(listed["240p"]["size"], fs::metadata(&v240).unwrap().len());

    // A second run encodes nothing and changes nothing.
    let (a, b, c) = (modified(&v240), modified(&tiny), modified(&clip));
    let again = site_gen(&["media"], &root);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("first-clip: up to date"), "{}", text(&again));
    assert_eq!((modified(&v240), modified(&tiny), modified(&clip)), (a, b, c));
    assert_eq!(fs::read_to_string(&clip).unwrap(), written);

    // A price the owner sets by hand in the clip stays, and the run says so;
    // a new price in site.toml still reaches the sections not edited by hand.
    let by_hand = written.replacen("price = 9.50", "price = 11", 1);
    assert_ne!(by_hand, written, "{written}");
    fs::write(&clip, &by_hand).unwrap();
    let settings_text = fs::read_to_string(&site).unwrap();
    fs::write(&site, settings_text.replace("factor = 0.5", "factor = 0.25")).unwrap();
    let kept = site_gen(&["media"], &root);
    assert!(kept.status.success(), "{}", text(&kept));
    assert!(
        text(&kept).contains("first-clip: variant 240p: price 11.00 kept, written by hand (site.toml gives 9.50;"),
        "{}",
        text(&kept)
    );
    let fm = front_matter(&root);
    let variants = fm["variants"].as_array().unwrap();
    assert_eq!(variants[0]["price"].as_integer(), Some(11), "{}", fs::read_to_string(&clip).unwrap());
    assert_eq!(variants[1]["price"].as_float(), Some((price * 25.0).round() / 100.0), "the factor's new price");
    // Again: still kept, and said again.
    let still = site_gen(&["media"], &root);
    assert!(text(&still).contains("price 11.00 kept"), "{}", text(&still));
    assert_eq!(front_matter(&root)["variants"][0]["price"].as_integer(), Some(11));

    // A file of the owner's where a new size would go is never overwritten,
    let settings_text = fs::read_to_string(&site).unwrap();
    fs::write(&site, settings_text + "\n[[media_variants]]\nheight = 120\nprice = 2\n").unwrap();
    let theirs = masters.join("first-clip-120p.mp4");
    fs::write(&theirs, b"the owner's own file").unwrap();
    let refused = site_gen(&["media"], &root);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("is there already and was not made by site-gen media"), "{}", text(&refused));
    assert_eq!(fs::read(&theirs).unwrap(), b"the owner's own file");
    // nor is a [[variants]] section of that id that names another file.
    fs::remove_file(&theirs).unwrap();
    let own_section = "\n[[variants]]\nid = \"120p\"\nresolution = \"214x120\"\nprice = 3\nfile = \"clips/mine.mp4\"\nfile_name = \"Mine.mp4\"\nsize = 5\n+++";
    let t = fs::read_to_string(&clip).unwrap();
    let at = t.rfind("+++").unwrap();
    fs::write(&clip, format!("{}{}{}", &t[..at].trim_end(), own_section, &t[at + 3..])).unwrap();
    let before_run = fs::read_to_string(&clip).unwrap();
    let refused = site_gen(&["media"], &root);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("names the file \"clips/mine.mp4\", not clips/first-clip-120p.mp4"),
        "{}",
        text(&refused)
    );
    assert_eq!(fs::read_to_string(&clip).unwrap(), before_run, "the clip is left as it was");
    assert!(!theirs.exists(), "nothing encoded over it");
}

/// `site-gen new clip` names a poster that is not there yet: `media` makes
/// it at that path (and never writes outside `static/` for a path that
/// leaves it).
#[test]
fn the_poster_a_new_clip_names_is_made() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    assert!(site_gen(&["init", root.to_str().unwrap()], tmp.path()).status.success());
    assert!(site_gen(&["new", "--root", root.to_str().unwrap(), "clip", "Foggy Pier"], tmp.path()).status.success());
    let clip = root.join("content/clips/foggy-pier.md");
    let text_of_clip = fs::read_to_string(&clip).unwrap();
    assert!(text_of_clip.contains("poster = \"/posters/foggy-pier.jpg\""), "{text_of_clip}");
    assert!(text_of_clip.contains("CHANGE-ME: the price"), "the price is a placeholder to fill: {text_of_clip}");
    let masters = root.join("sample-media/clips");
    fs::create_dir_all(&masters).unwrap();
    let master = masters.join("foggy-pier.mp4");
    ffmpeg(
        &["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "2", "-c:v", "libx264", "-threads", "1"]
            .into_iter()
            .chain(["-pix_fmt", "yuv420p", master.to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
    let run = site_gen(&["media", "--jobs", "1"], &root);
    let poster = root.join("static/posters/foggy-pier.jpg");
    assert!(poster.is_file(), "{}", text(&run));
    assert!(text(&run).contains("poster made"), "{}", text(&run));
    // The shop's name is still init's placeholder: its previews carry it,
    // and the owner is told to run media again once it is filled in.
    assert!(
        text(&run).contains("warning: the previews are drawn with \"CHANGE-ME")
            && text(&run).contains("the shop's title in content/site.toml still a placeholder"),
        "{}",
        text(&run)
    );

    // A poster path that would leave static/ is never written.
    let outside = fs::read_to_string(&clip).unwrap().replace("/posters/foggy-pier.jpg", "/../../escaped.jpg");
    fs::write(&clip, outside).unwrap();
    site_gen(&["media", "--jobs", "1"], &root);
    assert!(!tmp.path().join("escaped.jpg").exists() && !root.join("escaped.jpg").exists());
}

/// Two clips that name one poster not made yet: one run makes it once, for
/// the first clip, and says so of the other (run side by side, both would
/// encode into the same file).
#[test]
fn a_poster_two_clips_name_is_made_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, masters) = new_shop(tmp.path());
    for name in ["a-pier", "b-pier"] {
        assert!(site_gen(&["new", "--root", root.to_str().unwrap(), "clip", name], tmp.path()).status.success());
        let clip = root.join(format!("content/clips/{name}.md"));
        let shared = fs::read_to_string(&clip).unwrap().replace(&format!("/posters/{name}.jpg"), "/posters/pier.jpg");
        fs::write(&clip, shared).unwrap();
        let master = masters.join(format!("{name}.mp4"));
        ffmpeg(
            &["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "1", "-c:v", "libx264", "-threads", "1"]
                .into_iter()
                .chain(["-pix_fmt", "yuv420p", master.to_str().unwrap()])
                .collect::<Vec<_>>(),
        );
    }
    let run = site_gen(&["media", "--jobs", "2"], &root);
    let out = text(&run);
    assert!(root.join("static/posters/pier.jpg").is_file(), "{out}");
    assert!(out.contains("a-pier: front matter updated, poster made"), "{out}");
    assert!(
        out.contains("b-pier: poster /posters/pier.jpg: clip a-pier names it too, and media makes it for a-pier only"),
        "{out}"
    );
    let made = fs::read_to_string(root.join(".site-gen/media-made")).unwrap();
    assert_eq!(made.lines().filter(|l| l.ends_with(" /posters/pier.jpg")).count(), 1, "{made}");
    assert!(made.lines().any(|l| l.starts_with("a-pier ") && l.ends_with(" /posters/pier.jpg")), "{made}");
}

/// A run that stops after the poster was remade (here: site-gen is killed
/// at the preview's encode) has not written its record of the clip (no
/// media.json, no compacting of the notes); the next run still knows
/// the poster for its own (noted at once in `.site-gen/media-made`), never
/// takes it for the owner's, and goes on remaking it from new masters.
#[test]
fn a_run_stopped_halfway_still_knows_its_own_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    assert!(site_gen(&["init", root.to_str().unwrap()], tmp.path()).status.success());
    let clip = root.join("content/clips/first-clip.md");
    let t = fs::read_to_string(&clip).unwrap();
    fs::write(&clip, t.lines().filter(|l| !l.starts_with("poster")).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    fs::create_dir_all(root.join("sample-media/clips")).unwrap();
    let master = root.join("sample-media/clips/first-clip.mp4");
    let encode = |pattern: &str| {
        ffmpeg(&[
            "-y",
            "-f",
            "lavfi",
            "-i",
            &format!("{pattern}=size=320x180:rate=25"),
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-threads",
            "1",
            "-pix_fmt",
            "yuv420p",
            master.to_str().unwrap(),
        ])
    };
    encode("testsrc2");
    let first = site_gen(&["media", "--jobs", "1"], &root);
    assert!(first.status.success(), "{}", text(&first));
    let poster = root.join("static/posters/first-clip.jpg");
    let first_poster = fs::read(&poster).unwrap();

    // A new master; an ffmpeg that kills site-gen at the preview's encode:
    // the run stops halfway, after the poster was remade, with nothing of
    // the end of a run done (no media.json written).
    encode("smptebars");
    let bin = tmp.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let real =
        String::from_utf8(Command::new("sh").args(["-c", "command -v ffmpeg"]).output().unwrap().stdout).unwrap();
    let wrapper = bin.join("ffmpeg");
    fs::write(
        &wrapper,
        format!("#!/bin/sh\ncase \"$*\" in *previews*) kill -9 $PPID; exit 1;; esac\nexec {} \"$@\"\n", real.trim()),
    )
    .unwrap();
    fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let failed = Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["media", "--jobs", "1"])
        .current_dir(&root)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(!failed.status.success(), "{}", text(&failed));
    let second_poster = fs::read(&poster).unwrap();
    assert_ne!(second_poster, first_poster, "the poster was remade before the preview failed");

    let next = site_gen(&["media", "--jobs", "1"], &root);
    assert!(next.status.success(), "{}", text(&next));
    assert!(!text(&next).contains("kept"), "media's own poster is not taken for the owner's: {}", text(&next));
    encode("rgbtestsrc");
    let again = site_gen(&["media", "--jobs", "1"], &root);
    assert!(text(&again).contains("poster made"), "{}", text(&again));
    assert_ne!(fs::read(&poster).unwrap(), second_poster, "and it follows the master");
}

/// A master replaced by a smaller one: a variant media made from the old
/// master and cannot make from the new one (no upscale) is the old footage
/// still on sale under the clip's name. Media says so on every run until
/// the owner removes its section (found by the owner review: it was left
/// without a word), and remakes the variants the new master can make.
#[test]
fn a_variant_left_from_a_taller_master_is_named_until_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, masters) = new_shop(tmp.path());
    let master = masters.join("first-clip.mp4");
    let encode = |size: &str| master_of(&master, "testsrc2", size, "2");
    encode("640x360");
    let site = root.join("content/site.toml");
    let settings = "\n[[media_variants]]\nheight = 240\nprice = 9\n\n[[media_variants]]\nheight = 180\nfactor = 0.5\nid = \"tiny\"\n";
    fs::write(&site, fs::read_to_string(&site).unwrap() + settings).unwrap();
    let first = site_gen(&["media", "--jobs", "1"], &root);
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("variants 240p and tiny made"), "{}", text(&first));
    let tiny_before = fs::read(masters.join("first-clip-tiny.mp4")).unwrap();

    // A shorter edit, exported at 200 lines.
    encode("356x200");
    let warned = "warning: first-clip: its [[variants]] section \"240p\" (clips/first-clip-240p.mp4) was made from \
                  the master before this one, which was taller: the new master is 200 lines high";
    let second = site_gen(&["media", "--jobs", "1"], &root);
    assert!(second.status.success(), "{}", text(&second));
    assert!(text(&second).contains(warned), "{}", text(&second));
    assert!(text(&second).contains("variant tiny made"), "the one it can make is remade: {}", text(&second));
    assert_ne!(fs::read(masters.join("first-clip-tiny.mp4")).unwrap(), tiny_before);
    let third = site_gen(&["media", "--jobs", "1"], &root);
    assert!(text(&third).contains(warned), "said again: {}", text(&third));

    // The owner removes the section: nothing more to say.
    let clip = root.join("content/clips/first-clip.md");
    let t = fs::read_to_string(&clip).unwrap();
    let start = t.find("[[variants]]\nid = \"240p\"").expect("the 240p section");
    let end = t[start + 1..].find("[[variants]]").map_or_else(|| t.rfind("+++").unwrap(), |e| start + 1 + e);
    fs::write(&clip, format!("{}{}", &t[..start], &t[end..])).unwrap();
    let fourth = site_gen(&["media", "--jobs", "1"], &root);
    assert!(fourth.status.success(), "{}", text(&fourth));
    assert!(!text(&fourth).contains("warning: first-clip: its [[variants]] section"), "{}", text(&fourth));
    assert!(site_gen(&["build"], &root).status.success());

    // A size site.toml no longer asks for, with a new master as tall as
    // before: that section is the owner's to keep, and nothing is said of
    // a taller master (found by the review of the first version).
    let without_tiny = fs::read_to_string(&site)
        .unwrap()
        .replace("\n[[media_variants]]\nheight = 180\nfactor = 0.5\nid = \"tiny\"\n", "\n");
    assert!(!without_tiny.contains("tiny"), "{without_tiny}");
    fs::write(&site, without_tiny).unwrap();
    master_of(&master, "smptebars", "356x200", "2");
    let fifth = site_gen(&["media", "--jobs", "1"], &root);
    assert!(fifth.status.success(), "{}", text(&fifth));
    assert!(!text(&fifth).contains("variant tiny made"), "not asked for any more: {}", text(&fifth));
    assert!(!text(&fifth).contains("which was taller"), "{}", text(&fifth));
}

/// An upright master: a variant's `height` is its short side, its "p"
/// number, as its label says (the review: a 2160x3840 master's "720p" was
/// 406x720, under a third of an upright 720p's pixels), and a size the
/// master's short side does not exceed is not made.
#[test]
fn an_upright_masters_variants_are_named_by_their_short_side() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, masters) = new_shop(tmp.path());
    master_of(&masters.join("first-clip.mp4"), "testsrc2", "360x640", "1");
    let site = root.join("content/site.toml");
    let settings = "\n[[media_variants]]\nheight = 360\nprice = 20\n\n[[media_variants]]\nheight = 180\nprice = 9\n";
    fs::write(&site, fs::read_to_string(&site).unwrap() + settings).unwrap();
    let run = site_gen(&["media", "--jobs", "1"], &root);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("variant 180p made"), "{}", text(&run));

    let small = masters.join("first-clip-180p.mp4");
    assert_eq!(probe(&small, "stream=codec_name,width,height"), "h264,180,320");
    assert!(!masters.join("first-clip-360p.mp4").exists(), "360 is the master's own short side");
    let fm = front_matter(&root);
    let variants = fm["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 1, "{fm}");
    assert_eq!(variants[0]["id"].as_str(), Some("180p"));
    assert_eq!(variants[0]["label"].as_str(), Some("180p"));
    assert_eq!(variants[0]["resolution"].as_str(), Some("180x320"));
    assert!(variants[0]["file_name"].as_str().unwrap().ends_with("(180p).mp4"), "{}", variants[0]);

    let again = site_gen(&["media"], &root);
    assert!(text(&again).contains("first-clip: up to date"), "{}", text(&again));
    // A variant remembered as made before (its lines the master's height,
    // 102x180) is made again.
    let cache = root.join(".site-gen/media.json");
    let remembered = fs::read_to_string(&cache).unwrap();
    assert!(remembered.contains("; 180 wide, upright\""), "{remembered}");
    fs::write(&cache, remembered.replace("; 180 wide, upright\"", "; 180 lines\"")).unwrap();
    let old = site_gen(&["media"], &root);
    assert!(text(&old).contains("variant 180p made"), "{}", text(&old));

    // A phone's upright video: stored 640x360, shown turned a quarter (the
    // diff review: its "180p" was 102x180, its resolution "640x360").
    let stored = tmp.path().join("stored.mp4");
    master_of(&stored, "testsrc2", "640x360", "1");
    let sideways = masters.join("first-clip.mp4");
    fs::remove_file(&sideways).unwrap();
    fs::remove_file(&small).unwrap();
    let rotate = ["-i", stored.to_str().unwrap(), "-c", "copy", "-metadata:s:v:0", "rotate=90"];
    ffmpeg(&rotate.into_iter().chain([sideways.to_str().unwrap()]).collect::<Vec<_>>());
    let turned = site_gen(&["media", "--jobs", "1"], &root);
    assert!(turned.status.success(), "{}", text(&turned));
    assert_eq!(probe(&small, "stream=width,height"), "180,320", "{}", text(&turned));
    let fm = front_matter(&root);
    assert_eq!(fm["resolution"].as_str(), Some("360x640"));
    assert_eq!(fm["variants"][0]["resolution"].as_str(), Some("180x320"));
}

/// A shop made by init with a 640x360 master and a `[[media_variants]]`
/// "small" priced at 0.6 of its clip's (and `more` settings): the shop and
/// its clip's file.
fn shop_with_a_share(dir: &Path, more: &str) -> (PathBuf, PathBuf) {
    let (root, masters) = new_shop(dir);
    master_of(&masters.join("first-clip.mp4"), "testsrc2", "640x360", "2");
    let site = root.join("content/site.toml");
    let settings = format!("\n[[media_variants]]\nheight = 180\nfactor = 0.6\nid = \"small\"\n{more}");
    fs::write(&site, fs::read_to_string(&site).unwrap() + &settings).unwrap();
    (root.clone(), root.join("content/clips/first-clip.md"))
}

/// The owner's slips that media meets (the owner-CLI review): a .mov
/// master under a `file_name` ending .mp4 (`site-gen new`'s guess) gets a
/// name ending .mov, and so do its variants, instead of a warning per file
/// from `check`; a quoted `price = "12,50"` is named with what to write,
/// not "no valid `price`".
#[test]
fn a_mov_master_s_names_end_mov_and_a_mistyped_price_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, clip) = shop_with_a_share(tmp.path(), "");
    let masters = root.join("sample-media/clips");
    fs::rename(masters.join("first-clip.mp4"), masters.join("Harbour Night.mov")).unwrap();
    let t = fs::read_to_string(&clip).unwrap();
    let line = t.lines().find(|l| l.starts_with("file =")).unwrap().to_string();
    fs::write(&clip, t.replacen(&line, "file = \"clips/Harbour Night.mov\"", 1)).unwrap();
    set_price(&clip, "\"12,50\"");
    let refused = site_gen(&["media", "--jobs", "1"], &root);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("`price` must be a number like 24.00, found \"12,50\": write 12.50"),
        "{}",
        text(&refused)
    );
    set_price(&clip, "12.50");
    let made = site_gen(&["media", "--jobs", "1"], &root);
    assert!(made.status.success(), "{}", text(&made));
    assert!(
        text(&made).contains("file_name now ends .mov, as its file clips/Harbour Night.mov does"),
        "{}",
        text(&made)
    );
    let front = front_matter(&root);
    assert_eq!(front["file_name"].as_str(), Some("CHANGE-ME First Clip (360p).mov"));
    assert_eq!(front["variants"][0]["file_name"].as_str(), Some("CHANGE-ME First Clip (180p).mov"));
    let check = site_gen(&["check"], &root);
    assert!(!text(&check).contains("would be saved as"), "{}", text(&check));
}

/// Sets the clip's own `price` line.
fn set_price(clip: &Path, price: &str) {
    let t = fs::read_to_string(clip).unwrap();
    let line = t.lines().find(|l| l.starts_with("price =")).unwrap().to_string();
    fs::write(clip, t.replacen(&line, &format!("price = {price}"), 1)).unwrap();
}

/// A variant priced by a `factor` of its clip's price: once the clip's
/// price changes, build and check say the variant still costs its share of
/// the old price until media runs again (the owner review: HD was still
/// sold at 21.00 of a clip raised from 35 to 60); a price written by hand
/// in the section is the owner's and not compared.
#[test]
fn a_share_of_an_old_price_is_named_until_media_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, clip) = shop_with_a_share(tmp.path(), "");
    let priced = |price: &str| set_price(&clip, price);
    priced("35");
    let first = site_gen(&["media", "--jobs", "1"], &root);
    assert!(first.status.success(), "{}", text(&first));
    // `site-gen init` guessed 1080p in the customer's file name.
    assert!(text(&first).contains("first-clip: file_name now says 360p, as the master is 640x360"), "{}", text(&first));
    assert_eq!(front_matter(&root)["file_name"].as_str(), Some("CHANGE-ME First Clip (360p).mp4"));
    let again = site_gen(&["media", "--jobs", "1"], &root);
    assert!(!text(&again).contains("file_name now says"), "once: {}", text(&again));
    let quiet = site_gen(&["build"], &root);
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert!(!text(&quiet).contains("still costs"), "{}", text(&quiet));

    priced("60");
    let stale = "the variant \"small\" still costs €21.00, its share of the clip's price before it changed: \
                 site.toml's `factor = 0.6` of €60.00 is €36.00";
    for command in ["build", "check"] {
        let o = site_gen(&[command], &root);
        // check fails on init's placeholders, and says this all the same.
        assert!(o.status.success() || command == "check", "{}", text(&o));
        assert!(text(&o).contains(stale), "{command}: {}", text(&o));
        assert!(text(&o).contains("run `site-gen media` to set it"), "{}", text(&o));
    }
    assert!(site_gen(&["media", "--jobs", "1"], &root).status.success());
    let fixed = site_gen(&["build"], &root);
    assert!(!text(&fixed).contains("still costs"), "{}", text(&fixed));
    assert_eq!(front_matter(&root)["variants"][0]["price"].as_float(), Some(36.0));

    // Set by hand: the owner's, not stale.
    let t = fs::read_to_string(&clip).unwrap();
    fs::write(&clip, t.replacen("price = 36.00", "price = 30.00", 1)).unwrap();
    priced("80");
    let by_hand = site_gen(&["build"], &root);
    assert!(!text(&by_hand).contains("still costs"), "{}", text(&by_hand));
}

/// Variants made while the clip's price was still 0 cost 0; once the clip
/// is priced, check says to run media again (it said to write a price by
/// hand, and media then kept that price as the owner's).
#[test]
fn a_share_of_a_price_of_0_says_to_run_media_again() {
    let tmp = tempfile::tempdir().unwrap();
    // A second size whose id is the main file's own (640x360 here):
    // not made, and said so (it was skipped without a word).
    let (root, clip) =
        shop_with_a_share(tmp.path(), "\n[[media_variants]]\nheight = 120\nprice = 5\nid = \"640x360\"\n");
    let priced = |price: &str| set_price(&clip, price);
    priced("0.00");
    let made = site_gen(&["media", "--jobs", "1"], &root);
    assert!(made.status.success(), "{}", text(&made));
    assert!(
        text(&made).contains("no \"640x360\" file made (120 lines high): that id is the main file's own"),
        "{}",
        text(&made)
    );
    priced("35");
    let zero = "the variant \"small\"'s `price` is 0";
    let check = text(&site_gen(&["check"], &root));
    assert!(check.contains(zero), "{check}");
    assert!(check.contains("run `site-gen media` again, and it writes this file's share"), "{check}");
    assert!(site_gen(&["media", "--jobs", "1"], &root).status.success());
    let check = text(&site_gen(&["check"], &root));
    assert!(!check.contains(zero), "{check}");
    assert_eq!(front_matter(&root)["variants"][0]["price"].as_float(), Some(21.0));
}

/// A draft written before its video is ready is skipped, and says so; it
/// is no failure, so media does not fail on every run until the video
/// comes (the owner review).
#[test]
fn a_draft_without_its_master_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    assert!(site_gen(&["init", root.to_str().unwrap()], tmp.path()).status.success());
    assert!(site_gen(&["new", "--root", root.to_str().unwrap(), "clip", "Foggy Pier"], tmp.path()).status.success());
    let draft = root.join("content/clips/foggy-pier.md");
    let t = fs::read_to_string(&draft).unwrap();
    if !t.contains("draft = true") {
        fs::write(&draft, t.replacen("+++\n", "+++\ndraft = true\n", 1)).unwrap();
    }
    let masters = root.join("sample-media/clips");
    fs::create_dir_all(&masters).unwrap();
    master_of(&masters.join("first-clip.mp4"), "testsrc2", "320x180", "1");
    let run = site_gen(&["media", "--jobs", "1"], &root);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("foggy-pier: a draft with no master at"), "{}", text(&run));
    assert!(text(&run).contains("yet: skipped"), "{}", text(&run));
    // Published without its master: that is a failure, as before.
    fs::write(&draft, fs::read_to_string(&draft).unwrap().replacen("draft = true", "draft = false", 1)).unwrap();
    let published = site_gen(&["media", "--jobs", "1"], &root);
    assert!(!published.status.success());
    assert!(text(&published).contains("is missing: put the file there"), "{}", text(&published));
}

/// A variant file whose bytes are the ones the clip sells (its
/// `[[variants]]` sha256) is kept as it is when `.site-gen/media.json` is
/// gone or the file's time changed (a fresh checkout, a new laptop, a backup
/// restore, `git checkout`): not encoded again, the clip not rewritten (the
/// owner review: a fresh checkout re-encoded harbour-at-dawn's 480p file
/// into other bytes, and `push` offered to overwrite the sold one). Encoded
/// again only for a new master or new settings, and then, since customers
/// bought the old bytes, said with what to do.
#[test]
fn a_sold_variant_is_kept_on_a_fresh_checkout_and_re_encoding_it_is_said() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, masters) = new_shop(tmp.path());
    let master = masters.join("first-clip.mp4");
    master_of(&master, "testsrc2", "640x360", "2");
    let site = root.join("content/site.toml");
    let settings = "\n[[media_variants]]\nheight = 240\nprice = 9\n";
    fs::write(&site, fs::read_to_string(&site).unwrap() + settings).unwrap();
    let first = site_gen(&["media", "--jobs", "1"], &root);
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("variant 240p made"), "{}", text(&first));
    let (clip, variant) = (root.join("content/clips/first-clip.md"), masters.join("first-clip-240p.mp4"));
    let (sold_text, sold_bytes) = (fs::read_to_string(&clip).unwrap(), fs::read(&variant).unwrap());
    let set_time = |p: &Path, secs: u64| {
        let f = fs::File::options().write(true).open(p).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)).unwrap();
    };
    // A fresh checkout: no .site-gen/, every file with a new time.
    for (n, path) in [&master, &variant, &clip].into_iter().enumerate() {
        set_time(path, 1_700_000_000 + n as u64);
    }
    fs::remove_dir_all(root.join(".site-gen")).unwrap();
    let fresh = site_gen(&["media", "--jobs", "1"], &root);
    assert!(fresh.status.success(), "{}", text(&fresh));
    assert!(
        text(&fresh).contains("first-clip: variant 240p kept: its file is the one the clip sells (same sha256)"),
        "{}",
        text(&fresh)
    );
    assert!(!text(&fresh).contains("made") && !text(&fresh).contains("warning"), "{}", text(&fresh));
    assert_eq!(fs::read(&variant).unwrap(), sold_bytes, "the sold file is not encoded again");
    assert_eq!(fs::read_to_string(&clip).unwrap(), sold_text, "the clip is not rewritten");
    assert_eq!(modified(&clip), std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_002));
    let again = site_gen(&["media", "--jobs", "1"], &root);
    assert!(text(&again).contains("first-clip: up to date"), "noted in media.json: {}", text(&again));

    // A restore gives the file a new time, media.json still there: kept.
    set_time(&variant, 1_600_000_000);
    let restored = site_gen(&["media", "--jobs", "1"], &root);
    assert!(text(&restored).contains("variant 240p kept"), "{}", text(&restored));
    assert_eq!(fs::read(&variant).unwrap(), sold_bytes);

    // The sold file lost, and the one media makes now is other bytes (here:
    // the clip says it sold other ones, as after an ffmpeg update): made,
    // and said with the file, its buyers and how to put it back.
    let other = "0".repeat(64);
    let sold_sha = fs::read_to_string(&clip).unwrap().split("sha256 = \"").nth(2).unwrap()[..64].to_string();
    fs::write(&clip, fs::read_to_string(&clip).unwrap().replace(&sold_sha, &other)).unwrap();
    fs::remove_file(&variant).unwrap();
    let remade = site_gen(&["media", "--jobs", "1"], &root);
    assert!(remade.status.success(), "{}", text(&remade));
    for said in [
        "warning: first-clip: variant 240p: ",
        "first-clip-240p.mp4 was encoded again (its file was not there), and it is not the file the clip sold: \
         its sha256 was \"0000",
        "Customers who bought \"240p\" will download these new bytes once `site-gen push` uploads them",
        "then run `site-gen media` again",
    ] {
        assert!(text(&remade).contains(said), "{said}\n{}", text(&remade));
    }
    // The same encode as the sold one: nothing to warn of.
    assert_eq!(fs::read(&variant).unwrap(), sold_bytes);
    fs::remove_file(&variant).unwrap();
    let same = site_gen(&["media", "--jobs", "1"], &root);
    assert!(text(&same).contains("variant 240p made") && !text(&same).contains("warning"), "{}", text(&same));

    // A new master: encoded again, and said, since the old one was sold.
    master_of(&master, "smptebars", "640x360", "2");
    let replaced = site_gen(&["media", "--jobs", "1"], &root);
    assert!(replaced.status.success(), "{}", text(&replaced));
    assert!(text(&replaced).contains("was encoded again (its master changed)"), "{}", text(&replaced));
    assert_ne!(fs::read(&variant).unwrap(), sold_bytes);
}

/// A master cut short (a copy that stopped) after the clip's size and
/// sha256 were recorded: media still writes what it finds, as for a new
/// export, but says the clip sold other bytes and how to put them back (a
/// review: the front matter changed without a word, and push would have
/// uploaded the half file to its buyers).
#[test]
fn a_master_that_is_not_the_file_sold_is_said() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, masters) = new_shop(tmp.path());
    let master = masters.join("first-clip.mp4");
    // Its index at the front (`+faststart`, as exports for the web are), so
    // that a copy cut short still reads.
    let source = "testsrc2=size=640x360:rate=25";
    let args = ["-f", "lavfi", "-i", source, "-t", "4", "-c:v", "libx264", "-threads", "1", "-pix_fmt", "yuv420p"];
    let path = master.to_str().unwrap();
    ffmpeg(&args.into_iter().chain(["-movflags", "+faststart", path]).collect::<Vec<_>>());
    let first = site_gen(&["media"], &root);
    assert!(first.status.success(), "{}", text(&first));
    assert!(!text(&first).contains("is not the file the clip sold"), "a first run records it: {}", text(&first));
    let sold = front_matter(&root)["sha256"].as_str().unwrap().to_string();
    let size = fs::metadata(&master).unwrap().len();
    let file = fs::OpenOptions::new().write(true).open(&master).unwrap();
    file.set_len(size * 2 / 3).unwrap();
    let again = site_gen(&["media"], &root);
    let said = text(&again);
    assert!(said.contains(&format!("is not the file the clip sold: its sha256 was \"{sold}\"")), "{said}");
    assert!(said.contains(&format!("({size} bytes before, {} now: a copy cut short?)", size * 2 / 3)), "{said}");
    assert!(said.contains("put the sold file back at"), "{said}");
    // Said once: the front matter now names the file there.
    let third = site_gen(&["media"], &root);
    assert!(!text(&third).contains("is not the file the clip sold"), "{}", text(&third));
}

/// What a stopped run left (half-written files) is removed by the next;
/// a mistyped `--masters` and a folder that is no shop are said plainly
/// (a review: the files stayed for good, every draft was "skipped", and
/// outside a shop the error was the system's).
#[test]
fn a_stopped_runs_leftovers_go_and_wrong_folders_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, masters) = new_shop(tmp.path());
    fs::create_dir_all(root.join("static/previews")).unwrap();
    let left = [
        root.join("static/previews/.first-clip.mp4.4242.part.mp4"),
        masters.join(".first-clip-720p.mp4.4243.part.mp4"),
    ];
    for f in &left {
        fs::write(f, b"half").unwrap();
    }
    let own = root.join("static/previews/.well-known.part.txt");
    fs::write(&own, b"the owner's").unwrap();
    let run = site_gen(&["media"], &root);
    assert!(
        text(&run).contains("removed 2 half-written file(s) left by a run of media that was stopped"),
        "{}",
        text(&run)
    );
    assert!(left.iter().all(|f| !f.exists()));
    assert!(own.exists(), "a name that is not media's is left alone");

    let wrong = site_gen(&["media", "--masters", "nowhere"], &root);
    assert!(!wrong.status.success());
    assert!(text(&wrong).contains("the masters folder ./nowhere does not exist"), "{}", text(&wrong));
    let outside = site_gen(&["media"], tmp.path());
    assert!(!outside.status.success());
    assert!(text(&outside).contains("there is no shop in . (no content/site.toml)"), "{}", text(&outside));
}

/// A master with no picture (a sound file under the clip's name) names
/// the file and what to put there (a review: only the clip was named).
#[test]
fn a_master_without_a_picture_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, masters) = new_shop(tmp.path());
    let master = masters.join("first-clip.mp4");
    ffmpeg(&["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", master.to_str().unwrap()]);
    let run = site_gen(&["media"], &root);
    assert!(!run.status.success());
    let said = text(&run);
    assert!(
        said.contains(
            "its master ./sample-media/clips/first-clip.mp4: the file has no video stream; put the clip's video there"
        ),
        "{said}"
    );
}

/// ffmpeg stopped by a signal alone (a Ctrl-C that reached it, not
/// site-gen) says nothing: the owner is told it was stopped and to run
/// media again, not "ffmpeg failed: " with nothing after it.
#[test]
fn an_ffmpeg_stopped_by_a_signal_is_said_so() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let (root, masters) = new_shop(tmp.path());
    master_of(&masters.join("first-clip.mp4"), "testsrc2", "320x240", "2");
    // The real ffprobe; an ffmpeg that kills itself as a Ctrl-C would.
    let bin = tmp.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let real = |tool: &str| {
        let out = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    std::os::unix::fs::symlink(real("ffprobe"), bin.join("ffprobe")).unwrap();
    // (It answers `-version`, which media asks to know it is there.)
    let script = format!("#!/bin/sh\n[ \"$1\" = -version ] && exec '{}' -version\nkill -INT $$\n", real("ffmpeg"));
    fs::write(bin.join("ffmpeg"), script).unwrap();
    fs::set_permissions(bin.join("ffmpeg"), fs::Permissions::from_mode(0o755)).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .arg("media")
        .current_dir(&root)
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(
        text(&run).contains("ffmpeg was stopped before it finished (interrupted?): run `site-gen media` again"),
        "{}",
        text(&run)
    );
    assert!(!text(&run).contains("ffmpeg failed: \n"), "{}", text(&run));
}
