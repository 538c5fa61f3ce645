//! `site-gen media`: fills each clip's technical front matter (size, sha256,
//! duration, resolution, frame rate, codec) from its master file with
//! `ffprobe`, and makes its poster (a JPEG still) and its preview (a short,
//! low-resolution MP4 with the shop's watermark burnt in) with `ffmpeg`;
//! and encodes the lower resolutions the owner sells beside the master
//! (`[[media_variants]]` in `site.toml`, `crate::media_variants`) into the
//! masters folder, recording each as a `[[variants]]` section of the clip.
//!
//! What is up to date is skipped: `.site-gen/media.json` remembers, per clip,
//! the master's size, modification time and sha256 and the settings its
//! poster, preview and variants were made with. A variant file whose bytes
//! are the ones the clip sells (its `[[variants]]` sha256) of the master
//! the clip names is kept as it is even when that record is gone or its
//! time changed (a fresh checkout, a restore): customers bought those
//! bytes. One encoded again into other bytes than sold is warned of with
//! what to do. Encodes run in parallel, one per core;
//! every file is written beside its place and renamed into it, so a stopped
//! run never leaves half a poster, preview or clip file. A poster or preview
//! the owner made (named in the front matter, not made here) is left alone.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::content::load::{CLIPS_DIR, STATIC_DIR};
use crate::content::{Price, Resolution};
use crate::front_matter_edit::{set_section_values, set_values};
use crate::media_made::{MadeLog, Whose};
use crate::media_variants::{PlannedVariant, VariantSetting};
use crate::push::hash_file;

/// `site-gen media`'s arguments.
#[derive(Debug, clap::Args)]
pub struct MediaArgs {
    /// The shop's folder.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub root: PathBuf,
    /// Where the masters are: a clip's `file` is read from DIR/<file>, as
    /// `site-gen push` reads it. Relative to --root. Default: media/ (or
    /// sample-media/ where only that exists, as in clipstore's sample shop).
    #[arg(long, value_name = "DIR")]
    pub masters: Option<PathBuf>,
    /// Encodes at once (default: one per core).
    #[arg(long)]
    pub jobs: Option<usize>,
}

/// The masters folder when none is given: `media/`, the folder `site-gen
/// init`'s shop ignores in git (the masters are what customers pay for),
/// unless only `sample-media/` exists (clipstore's own sample shop).
pub fn default_masters(root: &Path) -> PathBuf {
    let sample = Path::new("sample-media");
    if !root.join(MASTERS_DIR).is_dir() && root.join(sample).is_dir() {
        return sample.to_path_buf();
    }
    PathBuf::from(MASTERS_DIR)
}

/// The masters folder of a new shop (`site-gen init` ignores it in git).
pub const MASTERS_DIR: &str = "media";

/// Preview length, height and quality; part of the settings a preview is
/// remembered with, so changing them here remakes every preview.
const PREVIEW_SECONDS: u32 = 10;
const PREVIEW_HEIGHT: u32 = 360;
const POSTER_WIDTH: u32 = 1280;
const POSTER_RECIPE: &str = "v1: at 10 % of the clip, at most 1280 wide, JPEG q3";
const PREVIEW_RECIPE: &str = "v1: 10 s, at most 360p, x264 crf 28, no audio";

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error(
        "ffmpeg and ffprobe are needed and were not found: install them (Debian/Ubuntu: `sudo apt-get install ffmpeg`; macOS: `brew install ffmpeg`; Windows: `winget install ffmpeg`), then run `site-gen media` again"
    )]
    NoFfmpeg,
    #[error(
        "another `site-gen media` is running in this shop (it holds {LOCK}): let it finish, then run this one again"
    )]
    Busy,
    #[error("{}", crate::no_shop_in(.0))]
    NoShop(std::path::PathBuf),
    #[error("the masters folder {0} does not exist: give --masters the folder that holds the clips' videos (each clip's `file` is read from there)")]
    NoMasters(String),
    #[error("{0}")]
    Shop(String),
}

/// What ffprobe says about a master.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub seconds: f64,
    pub width: u64,
    pub height: u64,
    /// As written in front matter: `25`, `29.97`.
    pub frame_rate: String,
    pub codec: String,
    /// Bits per second of the video (of the whole file when the stream
    /// does not say), when ffprobe knows.
    pub bit_rate: Option<u64>,
}

/// Reads ffprobe's JSON (`-show_format -show_streams`).
pub fn parse_probe(json: &str) -> Result<Probe, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("ffprobe's answer: {e}"))?;
    let video = v["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["codec_type"] == "video"))
        .ok_or("the file has no video stream")?;
    let seconds = v["format"]["duration"]
        .as_str()
        .or(video["duration"].as_str())
        .and_then(|d| d.parse::<f64>().ok())
        .ok_or("ffprobe found no duration")?;
    let rate = video["avg_frame_rate"]
        .as_str()
        .filter(|r| !r.starts_with('0'))
        .or(video["r_frame_rate"].as_str())
        .ok_or("ffprobe found no frame rate")?;
    let frame_rate = match rate.split_once('/') {
        Some((n, d)) => {
            let (n, d) =
                (n.parse::<f64>().map_err(|_| "bad frame rate")?, d.parse::<f64>().map_err(|_| "bad frame rate")?);
            let fps = if d == 0.0 { 0.0 } else { n / d };
            let rounded = (fps * 100.0).round() / 100.0;
            if rounded.fract() == 0.0 {
                format!("{}", rounded as u64)
            } else {
                format!("{rounded}")
            }
        }
        None => rate.to_string(),
    };
    let (width, height) = (video["width"].as_u64().ok_or("no width")?, video["height"].as_u64().ok_or("no height")?);
    // A phone's upright video is stored sideways with a rotation to show it
    // by (ffmpeg turns it before any filter): its size is the shown one (the
    // diff review: a 640x360 file shown 360x640 got a "180p" of 102x180).
    let rotation = video["side_data_list"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|d| d["rotation"].as_f64())
        .or_else(|| video["tags"]["rotate"].as_str().and_then(|r| r.parse::<f64>().ok()))
        .unwrap_or(0.0);
    let sideways = (rotation.round() as i64).rem_euclid(180) == 90;
    let (width, height) = if sideways { (height, width) } else { (width, height) };
    Ok(Probe {
        seconds,
        width,
        height,
        frame_rate,
        codec: video["codec_name"].as_str().ok_or("no codec")?.to_string(),
        bit_rate: [&video["bit_rate"], &v["format"]["bit_rate"]]
            .iter()
            .find_map(|b| b.as_str().and_then(|b| b.parse::<u64>().ok()))
            .filter(|&b| b > 0),
    })
}

/// `m:ss` or `h:mm:ss`, rounded to the second (at least 1).
pub fn duration_text(seconds: f64) -> String {
    let s = (seconds.round() as u64).max(1);
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// What was made for one clip, remembered in `.site-gen/media.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Remembered {
    size: u64,
    modified: u64,
    sha256: String,
    /// The poster and preview this command made, each with its settings
    /// (what bytes it wrote there: [`crate::media_made`]).
    poster: Option<String>,
    poster_settings: String,
    preview: Option<String>,
    preview_settings: String,
    /// The variants made from the master, by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    variants: BTreeMap<String, MadeVariant>,
}

/// A variant this command encoded: how, and the file it wrote (its size,
/// time and sha256, so that it is not hashed again).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct MadeVariant {
    settings: String,
    key: String,
    size: u64,
    modified: u64,
    sha256: String,
    /// The owner's fields ([`OWNER_FIELDS`]) as this command last wrote them
    /// (TOML text): a value in the clip that differs was written by hand.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    written: BTreeMap<String, String>,
    /// Made from an earlier master than the clip's now, which cannot make
    /// it again: its file is the old footage.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    old_master: bool,
}

/// The fields of a `[[variants]]` section that come from `site.toml` but
/// that an owner may also set by hand in the clip: a later run keeps a value
/// written by hand (and says so) instead of setting it back.
const OWNER_FIELDS: [&str; 2] = ["label", "price"];

const CACHE: &str = ".site-gen/media.json";
/// Held by the `site-gen media` running in a shop.
const LOCK: &str = ".site-gen/media.lock";

/// One `site-gen media` at a time in a shop: two would encode the same
/// files and each drop the other's notes of what media made. Where the
/// lock cannot be taken for another reason (a file system without locks),
/// the run goes on, as a build does.
fn lock_shop(root: &Path) -> Result<Option<fs::File>, MediaError> {
    let path = root.join(LOCK);
    let opened = path
        .parent()
        .map_or(Ok(()), fs::create_dir_all)
        .and_then(|()| fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path));
    let Ok(file) = opened else { return Ok(None) };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Err(MediaError::Busy),
        Err(fs::TryLockError::Error(_)) => Ok(None),
    }
}

/// One clip's file, as far as this command needs it.
struct ClipFile {
    slug: String,
    path: PathBuf,
    text: String,
    key: Option<String>,
    file_name: Option<String>,
    /// Its price, or what is wrong with it (what `check` says, without
    /// the line: a quoted "12,50" was "no valid `price`").
    price: Result<Price, String>,
    /// The main file's variant id, when written (`variant = "…"`).
    variant: Option<String>,
    poster: Option<String>,
    preview: Option<String>,
    /// `draft = true`: not on sale yet, so its master may not be there yet.
    draft: bool,
}

impl ClipFile {
    /// Where the clip's poster or preview (`what`) is: the path it names,
    /// else where media puts one.
    fn site_path(&self, what: &str) -> String {
        let named = if what == "poster" { &self.poster } else { &self.preview };
        named.clone().unwrap_or_else(|| default_path(what, &self.slug))
    }
}

fn front_matter(text: &str) -> Option<toml::Table> {
    crate::front_matter::FrontMatter::table_of(text)
}

fn value_of(text: &str, key: &str) -> Option<String> {
    front_matter(text)?.get(key).and_then(|v| v.as_str()).map(str::to_string)
}

/// The shop's clip files, and the messages of those whose front matter
/// cannot be read.
fn clip_files(root: &Path) -> Result<(Vec<ClipFile>, Vec<String>), MediaError> {
    let dir = root.join(CLIPS_DIR);
    let entries = fs::read_dir(&dir).map_err(|e| MediaError::Shop(format!("{}: {e}", dir.display())))?;
    let mut clips = Vec::new();
    let mut unreadable = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = fs::read_to_string(&path).map_err(|e| MediaError::Shop(format!("{}: {e}", path.display())))?;
        // Front matter that cannot be read is reported as the build reports
        // it (file, line, what is wrong), not as a field missing from it.
        let source = crate::front_matter::SourceFile {
            display: crate::diagnostics::display_path(root, &path),
            text: text.clone(),
        };
        if let Err(errors) = crate::front_matter::FrontMatter::parse(&source, &[]) {
            // That clip's failure; the others are done.
            unreadable
                .extend(errors.iter().map(|d| d.to_string().trim_start_matches("error: ").trim_end().to_string()));
            continue;
        }
        let slug = value_of(&text, "slug")
            .unwrap_or_else(|| path.file_stem().unwrap_or_default().to_string_lossy().into_owned());
        let price = match front_matter(&text).as_ref().and_then(|f| f.get("price")) {
            Some(p) => Price::parse(p)
                .map_err(|why| format!("`price` {why} (its front matter; `site-gen check` shows the line)")),
            None => Err("no `price` in its front matter".to_string()),
        };
        clips.push(ClipFile {
            slug,
            key: value_of(&text, "file"),
            file_name: value_of(&text, "file_name"),
            variant: value_of(&text, "variant"),
            price,
            poster: value_of(&text, "poster"),
            preview: value_of(&text, "preview"),
            draft: front_matter(&text).and_then(|f| f.get("draft").and_then(|d| d.as_bool())).unwrap_or(false),
            path,
            text,
        });
    }
    clips.sort_by(|a, b| a.slug.cmp(&b.slug));
    Ok((clips, unreadable))
}

fn tool_present(tool: &str) -> bool {
    Command::new(tool).arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

fn probe(master: &Path) -> Result<Probe, String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .arg(master)
        .output()
        .map_err(|e| format!("ffprobe: {e}"))?;
    if !out.status.success() {
        return Err(format!("ffprobe cannot read it: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    parse_probe(&String::from_utf8_lossy(&out.stdout)).map_err(|e| {
        format!(
            "its master {}: {e}; put the clip's video there (the file the clip sells, with its picture), then run media again",
            master.display()
        )
    })
}

/// The temporary sibling an output is written to (`.NAME.PID.part.EXT`),
/// renamed into place when complete.
fn partial_name(target: &Path) -> String {
    let ext = target.extension().and_then(|e| e.to_str()).unwrap_or("tmp");
    format!(".{}.{}.part.{ext}", target.file_name().unwrap().to_string_lossy(), std::process::id())
}

/// Whether a file name is an output `media` is still writing (or one an
/// interrupted run left): a build leaves it out of the site, since it is
/// half a file and gone once renamed.
pub fn is_partial_output(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else { return false };
    let mut parts = rest.rsplitn(4, '.');
    let (_ext, part, pid, base) = (parts.next(), parts.next(), parts.next(), parts.next());
    part == Some("part")
        && pid.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && base.is_some_and(|b| !b.is_empty())
}

/// Deletes the half-written outputs ([`is_partial_output`]) under `dirs`;
/// how many.
fn sweep_partials(dirs: &[PathBuf]) -> usize {
    dirs.iter()
        .flat_map(|d| walkdir::WalkDir::new(d).into_iter().filter_map(Result::ok))
        .filter(|e| e.file_type().is_file() && is_partial_output(&e.file_name().to_string_lossy()))
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

/// Runs ffmpeg writing to a temporary sibling of `target`, renamed into
/// place only when ffmpeg succeeded.
fn ffmpeg_to(target: &Path, args: &[String]) -> Result<(), String> {
    let dir = target.parent().expect("outputs live in static/");
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = dir.join(partial_name(target));
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-nostdin"])
        .args(args)
        .arg(&tmp)
        .output()
        .map_err(|e| format!("ffmpeg: {e}"))?;
    if !out.status.success() {
        let _ = fs::remove_file(&tmp);
        let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
        // Stopped by a signal (Ctrl-C reaching it alone) ffmpeg says nothing.
        return Err(match (said.is_empty(), out.status.code()) {
            (false, _) => format!("ffmpeg failed: {said}"),
            (true, None) => "ffmpeg was stopped before it finished (interrupted?): run `site-gen media` again".into(),
            (true, Some(code)) => format!("ffmpeg failed (exit status {code}) without saying why"),
        });
    }
    fs::rename(&tmp, target).map_err(|e| format!("{}: {e}", target.display()))
}

/// drawtext's text as ffmpeg reads a filter option inside a filter graph:
/// escaped once for the option's value (`\` `'` `:`), then again for the
/// graph (`\` `'` `[` `]` `,` `;`), unquoted (ffmpeg's "Quoting and
/// escaping"). drawtext's own `%{…}` expansion is turned off where it is
/// used. Quoting it instead, as before, dropped an apostrophe (`Otter's`
/// showed "Otters"), and with a `:` too failed every preview.
fn drawtext_escape(text: &str) -> String {
    let escape = |text: &str, special: &[char]| -> String {
        text.chars().flat_map(|c| if special.contains(&c) { vec!['\\', c] } else { vec![c] }).collect()
    };
    escape(&escape(text, &['\\', '\'', ':']), &['\\', '\'', '[', ']', ',', ';'])
}

fn make_poster(master: &Path, target: &Path, probe: &Probe) -> Result<(), String> {
    let at = format!("{:.2}", probe.seconds * 0.1);
    let scale = format!("scale='min({POSTER_WIDTH},iw)':-2");
    let mut args: Vec<String> = vec!["-ss".into(), at, "-i".into(), master.display().to_string()];
    args.extend(["-frames:v", "1", "-vf", &scale, "-q:v", "3", "-threads", "1", "-f", "image2"].map(String::from));
    ffmpeg_to(target, &args)
}

/// The preview's filter graph: scaled down, `watermark` across the middle,
/// a ninth of the frame high, smaller when it is long: no glyph is wider
/// than its height (`W` in DejaVu Sans, the widest, is 0.99 of it), so at
/// `0.95 × w / characters` the whole text fits (at `h/9` a shop name of 35
/// characters lost both ends, and a portrait clip's preview showed 8).
fn preview_filter(watermark: &str) -> String {
    let characters = watermark.chars().count().max(1);
    format!(
        "scale=-2:'min({PREVIEW_HEIGHT},ih)',drawtext=expansion=none:text={}:fontcolor=white@0.55:fontsize='min(h/9,0.95*w/{characters})':borderw=2:bordercolor=black@0.4:x=(w-text_w)/2:y=(h-text_h)/2",
        drawtext_escape(watermark)
    )
}

fn make_preview(master: &Path, target: &Path, watermark: &str) -> Result<(), String> {
    let filter = preview_filter(watermark);
    let seconds = PREVIEW_SECONDS.to_string();
    let mut args: Vec<String> = vec!["-i".into(), master.display().to_string()];
    args.extend(
        [
            "-t",
            &seconds,
            "-vf",
            &filter,
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "28",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            "-threads",
            "1",
            "-f",
            "mp4",
        ]
        .map(String::from),
    );
    ffmpeg_to(target, &args)
}

/// Encodes `master` down to `height` on its short side (lines, or the
/// width of an upright master; the other side follows its shape, even),
/// with its sound, as [`crate::media_variants::RECIPE`] says: at most the
/// master's video bit rate scaled by the short sides (half the lines, half
/// the bits per second), so a smaller picture is a smaller file.
fn make_variant(master: &Path, target: &Path, height: u32, probe: &Probe) -> Result<(), String> {
    let scale = if crate::media_variants::upright(probe.width, probe.height) {
        format!("scale={height}:-2:flags=lanczos,format=yuv420p")
    } else {
        format!("scale=-2:{height}:flags=lanczos,format=yuv420p")
    };
    let short = crate::media_variants::short_side(probe.width, probe.height);
    let mut args: Vec<String> = vec!["-i".into(), master.display().to_string()];
    if let Some(rate) = probe.bit_rate {
        let cap = (rate as u128 * u128::from(height) / u128::from(short.max(1))).max(1) as u64;
        args.extend(["-maxrate".into(), cap.to_string(), "-bufsize".into(), (cap * 2).to_string()]);
    }
    args.extend(
        [
            "-map",
            "0:v:0",
            "-map",
            "0:a:0?",
            "-vf",
            &scale,
            "-c:v",
            "libx264",
            "-preset",
            "medium",
            "-crf",
            "20",
            "-c:a",
            "aac",
            "-b:a",
            "160k",
            "-movflags",
            "+faststart",
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            "-flags:v",
            "+bitexact",
            "-threads",
            "1",
        ]
        .map(String::from),
    );
    ffmpeg_to(target, &args)
}

/// A site path like `/posters/x.jpg` as a file under `static/`.
/// Whether a path of the site stays inside `static/` (`/posters/x.jpg`, not
/// `/../x.jpg`): only such a path is ever written for a clip that names it.
fn plain_site_path(path: &str) -> bool {
    path.strip_prefix('/').is_some_and(|rest| {
        !rest.contains(|c: char| c == '\\' || c.is_control())
            && rest.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
    })
}

fn static_file(root: &Path, site_path: &str) -> PathBuf {
    root.join(STATIC_DIR).join(site_path.trim_start_matches('/'))
}

/// How posters and previews are made now; one that was made otherwise is
/// made again.
struct Settings {
    poster: String,
    preview: String,
    /// The text burnt into previews.
    watermark: String,
    /// `[[media_variants]]` of site.toml, and the shop's currency (for
    /// prices that are a share of the clip's).
    variants: Vec<VariantSetting>,
    currency: String,
}

/// What one clip's run did, for the summary.
#[derive(Debug, Default)]
struct Done {
    front_matter: bool,
    poster: bool,
    preview: bool,
    /// Ids of the variants encoded.
    variants: Vec<String>,
    /// Ids of the variants found there as the clip sells them (or as media
    /// made them), their record missing or their time changed: kept as
    /// they are.
    adopted: Vec<String>,
    /// Values written by hand that were kept: what to tell the owner.
    kept: Vec<String>,
    /// Posters and previews at the paths media would use that it did not
    /// make (the owner's own): kept, and told in one line for all clips
    /// (twenty such lines on every run buried the warnings that matter).
    not_made: Vec<String>,
    /// What still sells something that no longer matches the master.
    warnings: Vec<String>,
    /// Why nothing was done, when nothing was meant to be.
    skipped: Option<String>,
}

/// Runs `site-gen media`; returns the number of clips that failed.
pub fn run(args: &MediaArgs) -> Result<usize, MediaError> {
    if !tool_present("ffprobe") || !tool_present("ffmpeg") {
        return Err(MediaError::NoFfmpeg);
    }
    let root = &args.root;
    let config_path = root.join(crate::config::SITE_CONFIG);
    if !config_path.is_file() {
        return Err(MediaError::NoShop(root.to_path_buf()));
    }
    let config_text =
        fs::read_to_string(&config_path).map_err(|e| MediaError::Shop(format!("{}: {e}", config_path.display())))?;
    let config = crate::config::SiteConfig::parse(&crate::front_matter::SourceFile {
        display: crate::config::SITE_CONFIG.into(),
        text: config_text,
    })
    .map_err(|d| MediaError::Shop(crate::diagnostics::Diagnostics(d).to_string()))?;
    let _lock = lock_shop(root)?;
    let watermark = config.watermark.clone().unwrap_or_else(|| config.title.clone());
    let settings = Settings {
        poster: POSTER_RECIPE.to_string(),
        // A watermark the quoted filter of before drew wrongly (an
        // apostrophe dropped) or not at all: its previews are made again.
        preview: if watermark.contains(['\\', '\'', ':', '%', ',', ';', '[', ']', '=']) {
            format!("{PREVIEW_RECIPE}; watermark {watermark:?}; drawn unquoted")
        } else {
            format!("{PREVIEW_RECIPE}; watermark {watermark:?}")
        },
        watermark: watermark.clone(),
        variants: config.media_variants.clone(),
        currency: config.currency.clone(),
    };
    let masters = root.join(args.masters.clone().unwrap_or_else(|| default_masters(root)));
    // A folder given and mistyped would skip every draft as not made yet.
    if args.masters.is_some() && !masters.is_dir() {
        return Err(MediaError::NoMasters(masters.display().to_string()));
    }
    // Half-written files of a run that was stopped (Ctrl-C, a kill): no
    // other run writes here while this one holds the lock.
    let swept = sweep_partials(&[root.join("static"), masters.clone()]);
    if swept > 0 {
        eprintln!("removed {swept} half-written file(s) left by a run of media that was stopped");
    }
    let cache_path = root.join(CACHE);
    let cache: BTreeMap<String, Remembered> =
        fs::read_to_string(&cache_path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let (clips, unreadable) = clip_files(root)?;
    unknown_variant_clips(&settings.variants, &clips).map_err(MediaError::Shop)?;

    let progress = MultiProgress::new();
    let overall = progress.add(ProgressBar::new(clips.len() as u64));
    overall.set_style(ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} clips").unwrap());
    overall.set_prefix("media");
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    let pool =
        rayon::ThreadPoolBuilder::new().num_threads(jobs).build().map_err(|e| MediaError::Shop(e.to_string()))?;
    let remembered = Mutex::new(cache.clone());
    let mut made_log = MadeLog::open(root);
    // Only clips whose master is there can make a file: one without would
    // fail, and the file would be made by none.
    let named: Vec<(&str, String)> = clips
        .iter()
        .filter(|c| c.key.as_deref().is_some_and(|k| masters.join(k).is_file()))
        .flat_map(|c| [(c.slug.as_str(), c.site_path("poster")), (c.slug.as_str(), c.site_path("preview"))])
        .collect();
    made_log.share(named.iter().map(|(clip, path)| (*clip, path.as_str())));
    made_log.shop_clips(clips.iter().map(|c| c.slug.as_str()));
    let failures = Mutex::new(unreadable);
    let summary = Mutex::new(Vec::<(String, Done)>::new());

    pool.install(|| {
        clips.par_iter().for_each(|clip| {
            let bar = progress.insert_before(&overall, ProgressBar::new_spinner());
            bar.set_style(ProgressStyle::with_template("{spinner} {prefix}: {msg}").unwrap());
            bar.set_prefix(clip.slug.clone());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            // A draft may be written before its video is ready: no failure.
            let master = clip.key.as_deref().map(|k| masters.join(k)).filter(|m| !m.is_file());
            let result = match master {
                Some(master) if clip.draft => {
                    let why = format!("a draft with no master at {} yet: skipped", master.display());
                    Ok((
                        cache.get(&clip.slug).cloned().unwrap_or_default(),
                        Done { skipped: Some(why), ..Done::default() },
                    ))
                }
                _ => one_clip(root, &masters, clip, cache.get(&clip.slug), &settings, &bar, &made_log),
            };
            bar.finish_and_clear();
            overall.inc(1);
            match result {
                Ok((memory, done)) => {
                    // (A skipped draft's memory stays as it was, or absent.)
                    if done.skipped.is_none() || cache.contains_key(&clip.slug) {
                        remembered.lock().unwrap().insert(clip.slug.clone(), memory);
                    }
                    summary.lock().unwrap().push((clip.slug.clone(), done));
                }
                Err(e) => failures
                    .lock()
                    .unwrap()
                    .push(format!("{}: {e}", crate::diagnostics::display_path(root, &clip.path).display())),
            }
        })
    });
    overall.finish_and_clear();

    let remembered = remembered.into_inner().unwrap();
    if remembered != cache {
        if let Some(dir) = cache_path.parent() {
            let _ = fs::create_dir_all(dir);
        }
        let tmp = cache_path.with_extension("json.part");
        let json = serde_json::to_string_pretty(&remembered).expect("plain data");
        if fs::write(&tmp, json).and_then(|()| fs::rename(&tmp, &cache_path)).is_err() {
            eprintln!("warning: could not write {CACHE}; the next run checks everything again");
        }
    }
    made_log.compact();
    let mut summary = summary.into_inner().unwrap();
    summary.sort_by(|a, b| a.0.cmp(&b.0));
    for (slug, done) in &summary {
        let mut what = Vec::new();
        if done.front_matter {
            what.push("front matter updated");
        }
        if done.poster {
            what.push("poster made");
        }
        if done.preview {
            what.push("preview made");
        }
        let variants = match &done.variants[..] {
            [] => String::new(),
            [one] => format!("variant {one} made"),
            [some @ .., last] => format!("variants {} and {last} made", some.join(", ")),
        };
        if !variants.is_empty() {
            what.push(&variants);
        }
        let adopted = match &done.adopted[..] {
            [] => String::new(),
            [one] => format!("variant {one} kept: its file is the one the clip sells (same sha256)"),
            [some @ .., last] => {
                format!(
                    "variants {} and {last} kept: their files are the ones the clip sells (same sha256)",
                    some.join(", ")
                )
            }
        };
        if !adopted.is_empty() {
            what.push(&adopted);
        }
        let said = match &done.skipped {
            Some(why) => why.clone(),
            None if what.is_empty() => "up to date".to_string(),
            None => what.join(", "),
        };
        println!("{slug}: {said}");
        for kept in &done.kept {
            println!("{slug}: {kept}");
        }
        for warning in &done.warnings {
            eprintln!("warning: {slug}: {warning}");
        }
    }
    let not_made: Vec<&String> = summary.iter().flat_map(|(_, done)| &done.not_made).collect();
    if let Some(first) = not_made.first() {
        println!(
            "kept {}: {} where media would make {}, which media did not make (as far as .site-gen/ knows); \
             delete one to have media make it",
            match not_made.len() {
                1 => first.to_string(),
                2 => format!("{first} and {}", not_made[1]),
                n => format!("{first}, {} and {} more", not_made[1], n - 2),
            },
            if not_made.len() == 1 { "a file is there" } else { "files are there" },
            if not_made.len() == 1 { "it" } else { "them" },
        );
    }
    // Previews made with the placeholder name carry it across every clip;
    // the next run after the name is filled in makes them again (the
    // watermark is in their recipe).
    if settings.watermark.contains(crate::placeholders::MARK) && summary.iter().any(|(_, done)| done.preview) {
        eprintln!(
            "warning: the previews are drawn with \"{}\", the shop's {} in {} still a placeholder: fill it \
             in, then run `site-gen media` again, which makes them again with it",
            settings.watermark,
            if config.watermark.is_some() { "watermark" } else { "title" },
            crate::config::SITE_CONFIG
        );
    }
    let failures = failures.into_inner().unwrap();
    for f in &failures {
        eprintln!("error: {f}");
    }
    Ok(failures.len())
}

fn one_clip(
    root: &Path,
    masters: &Path,
    clip: &ClipFile,
    before: Option<&Remembered>,
    settings: &Settings,
    bar: &ProgressBar,
    made_log: &MadeLog,
) -> Result<(Remembered, Done), String> {
    let key = clip.key.as_deref().ok_or("no `file` in its front matter")?;
    let master = masters.join(key);
    let meta = fs::metadata(&master).map_err(|_| {
        format!("its master {} is missing: put the file there, or pass --masters DIR", master.display())
    })?;
    let modified = meta.modified().ok().and_then(|m| m.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
    let known = before.filter(|b| b.size == meta.len() && b.modified == modified);
    let sha256 = match known {
        Some(b) => b.sha256.clone(),
        None => {
            bar.set_message("sha256");
            hash_file(&master).map_err(|e| format!("{}: {e}", master.display()))?.1
        }
    };
    bar.set_message("probing");
    let probe = probe(&master)?;
    let mut memory = Remembered {
        size: meta.len(),
        modified,
        sha256: sha256.clone(),
        poster_settings: settings.poster.clone(),
        preview_settings: settings.preview.clone(),
        ..Default::default()
    };
    let mut done = Done::default();
    let fresh = |made: Option<&String>, made_with: &str, now: &str, path: &str| {
        before.is_some_and(|b| b.sha256 == sha256 && made_with == now && made.map(String::as_str) == Some(path))
    };

    // Poster and preview: made here when the clip names none, names the one
    // made here before (unless the owner has since put a file of their own
    // in its place), or names one that is not there yet (`site-gen new`'s).
    let poster = clip.site_path("poster");
    let made = before.and_then(|b| b.poster.as_ref());
    let is_fresh = fresh(made, before.map_or("", |b| b.poster_settings.as_str()), &settings.poster, &poster);
    let mut log = |line: Kept| match line {
        Kept::Said(line) => done.kept.push(line),
        Kept::NotMade(path) => done.not_made.push(path),
    };
    let target = Target {
        root,
        clip: &clip.slug,
        site_path: &poster,
        unnamed: clip.poster.is_none(),
        made_here: made == Some(&poster),
    };
    let made_poster = target.make_if_ours(made_log, is_fresh, "poster", &mut log, || {
        bar.set_message("poster");
        make_poster(&master, &static_file(root, &poster), &probe)
    })?;
    let preview = clip.site_path("preview");
    let made = before.and_then(|b| b.preview.as_ref());
    let is_fresh = fresh(made, before.map_or("", |b| b.preview_settings.as_str()), &settings.preview, &preview);
    let target = Target {
        root,
        clip: &clip.slug,
        site_path: &preview,
        unnamed: clip.preview.is_none(),
        made_here: made == Some(&preview),
    };
    let made_preview = target.make_if_ours(made_log, is_fresh, "preview", &mut log, || {
        bar.set_message("preview");
        make_preview(&master, &static_file(root, &preview), &settings.watermark)
    })?;
    if let Some(now) = made_poster {
        (memory.poster, done.poster) = (Some(poster.clone()), now);
    }
    if let Some(now) = made_preview {
        (memory.preview, done.preview) = (Some(preview.clone()), now);
    }

    let toml_str = |s: &str| toml::Value::String(s.to_string()).to_string();
    // A master that is not the file the clip sells (a copy cut short, or
    // another file put in its place): written, as a new export is, but said,
    // as a variant encoded again is; push would upload it to the buyers.
    if let Some(sold) = value_of(&clip.text, "sha256").filter(|sold| !sold.eq_ignore_ascii_case(&sha256)) {
        let sold_size = front_matter(&clip.text).and_then(|f| f.get("size").and_then(toml::Value::as_integer));
        done.warnings.push(master_changed_warning(&master, &sold, sold_size, &sha256, meta.len()));
    }
    let mut values = vec![
        ("size", meta.len().to_string()),
        ("sha256", toml_str(&sha256)),
        ("duration", toml_str(&duration_text(probe.seconds))),
        ("resolution", toml_str(&format!("{}x{}", probe.width, probe.height))),
        ("frame_rate", toml_str(&probe.frame_rate)),
        ("codec", toml_str(&probe.codec)),
    ];
    // `Foggy Pier (1080p).mp4`, as `site-gen new` guessed, for a 720p
    // master: the customer's file would misname itself.
    let (width, height) = (probe.width as u32, probe.height as u32);
    // And `… .mp4` (`site-gen new`'s guess) for a .mov master.
    let ending = clip.file_name.as_deref().and_then(|n| crate::media_variants::file_name_ending_as(n, key));
    if let (Some(fixed), Some((_, real))) = (&ending, key.rsplit_once('.')) {
        done.kept.push(format!("file_name now ends .{real}, as its file {key} does: {fixed:?}"));
    }
    let named = ending.as_deref().or(clip.file_name.as_deref());
    let resolution = named.and_then(|n| crate::media_variants::file_name_for_master(n, width, height));
    if let Some(fixed) = &resolution {
        let label = crate::media_variants::p_label(width, height);
        done.kept.push(format!("file_name now says {label}, as the master is {width}x{height}: {fixed:?}"));
    }
    if let Some(fixed) = resolution.or(ending) {
        values.push(("file_name", toml_str(&fixed)));
    }
    if clip.poster.is_none() {
        values.push(("poster", toml_str(&poster)));
    }
    if clip.preview.is_none() {
        values.push(("preview", toml_str(&preview)));
    }
    let mut sections = variants(masters, clip, &probe, &sha256, before, settings, &mut memory, &mut done, bar)?;
    let filled = hand_written_variants(masters, clip, &sections, &mut done);
    sections.extend(filled);
    done.front_matter = write_back(&clip.path, &clip.text, values, &sections)?;
    Ok((memory, done))
}

/// The `[[variants]]` sections written by hand (not this run's): one whose
/// `size` is missing or 0 (not filled in yet, so not sold: `build` refuses
/// it) gets its file's size and sha256, as the clip's own lines do; one
/// whose file is not in the masters folder, or not of the size the section
/// sells, is warned of: the shop sells it, and `push` would find nothing to
/// upload. (`check` sent the owner of a `size = 0` to `media`, which only
/// warned and changed nothing: the authoring review.)
fn hand_written_variants(masters: &Path, clip: &ClipFile, made: &[Section], done: &mut Done) -> Vec<Section> {
    let Some(table) = front_matter(&clip.text) else { return Vec::new() };
    let Some(sections) = table.get("variants").and_then(toml::Value::as_array) else { return Vec::new() };
    let mut filled = Vec::new();
    let warnings = &mut done.warnings;
    for section in sections.iter().filter_map(toml::Value::as_table) {
        let id = section.get("id").and_then(toml::Value::as_str).unwrap_or("?");
        let Some(key) = section.get("file").and_then(toml::Value::as_str) else { continue };
        if made.iter().any(|(made, _)| made == id) {
            continue;
        }
        let path = masters.join(key);
        let sold = section.get("size").and_then(toml::Value::as_integer);
        if sold.is_none_or(|size| size == 0) && path.is_file() {
            match crate::push::hash_file(&path) {
                Ok((size, sha256)) => {
                    let toml_str = toml::Value::String(sha256).to_string();
                    done.kept.push(format!("variant {id}: size and sha256 filled in from {}", path.display()));
                    filled.push((id.to_string(), vec![("size", size.to_string()), ("sha256", toml_str)]));
                }
                Err(e) => warnings.push(format!("variant {id}'s file {}: {e}", path.display())),
            }
            continue;
        }
        match fs::metadata(&path) {
            Err(_) => warnings.push(format!(
                "variant {id} is for sale, but its file {} is not there: put the file there (`site-gen push` \
                 uploads it from there), or delete its [[variants]] section",
                path.display()
            )),
            Ok(meta) if sold.is_some_and(|sold| u64::try_from(sold).ok() != Some(meta.len())) => {
                warnings.push(format!(
                    "variant {id}'s file {} is {} bytes, its [[variants]] section sells {} bytes: put the right file \
                 there, or correct the section's size and sha256",
                    path.display(),
                    meta.len(),
                    sold.unwrap_or_default()
                ))
            }
            Ok(_) => {}
        }
    }
    filled
}

/// A poster or preview of a clip: the clip, its site path, whether the
/// clip names none (`unnamed`: media writes the line), and whether it is
/// the path media made the last time (`made_here`, from
/// `.site-gen/media.json`).
struct Target<'a> {
    root: &'a Path,
    clip: &'a str,
    site_path: &'a str,
    unnamed: bool,
    made_here: bool,
}

impl Target<'_> {
    /// Makes the file (again) when it is media's to make for this clip:
    /// media wrote it there for this clip ([`MadeLog`]; or `made_here`, for
    /// a file made before the notes were kept), or none is there yet at a
    /// path media may write (the clip names none, or names a plain path
    /// under `static/`). A file with other bytes than media last wrote
    /// there, or one media never wrote there, is the owner's and left alone
    /// (said through `log` when it is at the path media would use). Returns
    /// None when it is the owner's, else whether it was made now.
    fn make_if_ours(
        &self,
        made_log: &MadeLog,
        is_fresh: bool,
        what: &str,
        log: &mut impl FnMut(Kept),
        make: impl FnOnce() -> Result<(), String>,
    ) -> Result<Option<bool>, String> {
        let (site_path, target) = (self.site_path, static_file(self.root, self.site_path));
        if let Some(other) = made_log.made_for_another(self.clip, site_path) {
            log(Kept::Said(format!(
                "{what} {site_path}: clip {other} names it too, and media makes it for {other} only"
            )));
            return Ok(None);
        }
        let io = |e: std::io::Error| format!("{}: {e}", target.display());
        let there = target.is_file();
        let whose = if there { made_log.whose(self.clip, site_path, &target).map_err(io)? } else { Whose::Unknown };
        let may_write = (self.unnamed || plain_site_path(site_path)) && !target.exists();
        match whose {
            Whose::Owner => {
                log(Kept::Said(format!(
                    "{what} {site_path} kept: it changed since media made it, so it is yours now \
                     (delete it to have media make it again)"
                )));
                return Ok(None);
            }
            Whose::Unknown if !(self.made_here || may_write) => {
                let media_would = site_path == default_path(what, self.clip);
                if there && (self.unnamed || media_would) {
                    log(Kept::NotMade(site_path.to_string()));
                }
                return Ok(None);
            }
            // Made by a media from before the notes: noted as it is now.
            Whose::Unknown if there => made_log.wrote(self.clip, site_path, &target).map_err(io)?,
            _ => {}
        }
        if there && is_fresh {
            return Ok(Some(false));
        }
        made_log.writing(self.clip, site_path).map_err(io)?;
        make()?;
        made_log.wrote(self.clip, site_path, &target).map_err(io)?;
        Ok(Some(true))
    }
}

/// What [`Target::make_if_ours`] left alone, for the owner.
enum Kept {
    Said(String),
    /// A file media did not make at the site path it would use.
    NotMade(String),
}

/// Where media puts a clip's poster or preview when the clip names none.
fn default_path(what: &str, slug: &str) -> String {
    match what {
        "poster" => format!("/posters/{slug}.jpg"),
        _ => format!("/previews/{slug}.mp4"),
    }
}

/// Sets what this run found and made in the clip's file, into the file as
/// it is now, not as it was before the encodes (`before`, what the values
/// were decided against): the owner may have edited it meanwhile, and every
/// edit stays (a poster or preview named meanwhile, a variant's price or
/// label typed meanwhile). `true` when the file changed.
fn write_back(
    path: &Path,
    before: &str,
    mut values: Vec<(&str, String)>,
    sections: &[Section],
) -> Result<bool, String> {
    let current = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    values.retain(|(key, _)| !(matches!(*key, "poster" | "preview") && value_of(&current, key).is_some()));
    let mut text = set_values(&current, &values);
    for (id, values) in sections {
        let edited_meanwhile = |field: &str| {
            section_value(&current, "variants", id, field) != section_value(before, "variants", id, field)
        };
        let values: Vec<(&str, String)> = values
            .iter()
            .filter(|(field, _)| !(OWNER_FIELDS.contains(field) && edited_meanwhile(field)))
            .cloned()
            .collect();
        if let Some(new) = set_section_values(text.as_deref().unwrap_or(&current), "variants", id, &values) {
            text = Some(new);
        }
    }
    let Some(text) = text else {
        return Ok(false);
    };
    crate::front_matter_edit::write_whole(path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(true)
}

/// A `[[media_variants]]` naming a clip the shop does not have (a typo
/// would make nothing, silently): the message names site.toml's line.
fn unknown_variant_clips(settings: &[VariantSetting], clips: &[ClipFile]) -> Result<(), String> {
    let problems: Vec<String> = settings
        .iter()
        .flat_map(|s| s.clips.iter().map(move |slug| (s, slug)))
        .filter(|(_, slug)| !clips.iter().any(|c| c.slug == **slug))
        .map(|(s, slug)| {
            format!(
                "{}:{}: the [[media_variants]] of height {} names the clip \"{slug}\", which the shop does not have \
                 (a clip's address name is its file name in content/clips/ without .md)",
                crate::config::SITE_CONFIG,
                s.location.line,
                s.height
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// A price as `site-gen media` writes it: `12.50`.
/// The prices of variants `site-gen media` last wrote, by (clip, variant
/// id), as it writes them (`12.50`): a section's price equal to it is
/// media's, not the owner's. Empty when media never ran in the shop.
pub fn variant_prices_written(root: &Path) -> HashMap<(String, String), String> {
    let Some(cache) = fs::read_to_string(root.join(CACHE))
        .ok()
        .and_then(|t| serde_json::from_str::<BTreeMap<String, Remembered>>(&t).ok())
    else {
        return HashMap::new();
    };
    let mut prices = HashMap::new();
    for (slug, remembered) in cache {
        for (id, made) in remembered.variants {
            if let Some(price) = made.written.get("price") {
                prices.insert((slug.clone(), id), price.clone());
            }
        }
    }
    prices
}

/// A price as this command writes it into a clip (`12.50`).
pub(crate) fn price_text(price: Price) -> String {
    format!("{}.{:02}", price.cents / 100, price.cents % 100)
}

/// The value of `field` in the `[[section]]` with id `id` of a clip's
/// front matter, as TOML text in the form this command writes (a price
/// as `12.50`, whichever way it was typed); `None` if absent or unreadable.
fn section_value(text: &str, section: &str, id: &str, field: &str) -> Option<String> {
    let fm = front_matter(text)?;
    let table = fm.get(section)?.as_array()?.iter().find(|t| t.get("id").and_then(|i| i.as_str()) == Some(id))?;
    let value = table.get(field)?;
    match field {
        "price" => Price::parse(value).ok().map(price_text),
        _ => Some(value.to_string()),
    }
}

/// Whether an owner's field keeps the clip's value: `Some(value)` when the
/// clip has one that is neither what `site.toml` gives nor what this command
/// last wrote (`written`, unknown for sections from before it remembered),
/// so the owner typed it; `None` to set the one from `site.toml`.
fn owner_choice<'a>(in_clip: Option<&'a str>, written: Option<&str>, from_settings: &str) -> Option<&'a str> {
    in_clip.filter(|v| *v != from_settings && Some(*v) != written)
}

/// A `[[variants]]` section's values: its id and what to set in it.
type Section = (String, Vec<(&'static str, String)>);

/// Makes (or finds up to date) the lower resolutions the settings ask of
/// this clip, beside its master; returns their `[[variants]]` sections.
#[allow(clippy::too_many_arguments)]
fn variants(
    masters: &Path,
    clip: &ClipFile,
    probe: &Probe,
    sha256: &str,
    before: Option<&Remembered>,
    settings: &Settings,
    memory: &mut Remembered,
    done: &mut Done,
    bar: &ProgressBar,
) -> Result<Vec<Section>, String> {
    if settings.variants.is_empty() {
        return Ok(Vec::new());
    }
    let key = clip.key.as_deref().unwrap_or_default();
    let file_name = clip.file_name.as_deref().ok_or("no `file_name` in its front matter")?;
    // Named as the files are (`media_variants::file_name_ending_as`).
    let file_name = &crate::media_variants::file_name_ending_as(file_name, key).unwrap_or(file_name.to_string());
    let price = clip.price.clone()?;
    // The main file's own id (as the site reads it): a variant may not take it.
    let main_id = clip.variant.clone().unwrap_or_else(|| {
        slug::slugify(Resolution { width: probe.width as u32, height: probe.height as u32 }.label())
    });
    let upright = crate::media_variants::upright(probe.width, probe.height);
    let planned: Vec<PlannedVariant> = crate::media_variants::plan(
        &settings.variants,
        &clip.slug,
        key,
        file_name,
        price,
        (probe.width, probe.height),
        &settings.currency,
    )
    .into_iter()
    .filter(|v| {
        // (It said nothing: the owner asked for a size and none came.)
        if v.id == main_id {
            done.warnings.push(format!(
                "no \"{}\" file made ({}): that id is the main file's own; give this \
                 [[media_variants]] in site.toml another `id` (like id = \"{}-small\") to make it",
                v.id,
                crate::media_variants::size_words(u64::from(v.height), upright),
                v.id
            ));
        }
        v.id != main_id
    })
    .collect();
    let toml_str = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut sections = Vec::new();
    for v in planned {
        let target = masters.join(&v.key);
        let recipe = crate::media_variants::recipe(v.height, upright);
        let made = before.and_then(|b| b.variants.get(&v.id));
        let on_disk = fs::metadata(&target).ok().map(|m| {
            (m.len(), m.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs()))
        });
        let fresh = made.filter(|m| {
            before.is_some_and(|b| b.sha256 == sha256)
                && m.settings == recipe
                && m.key == v.key
                && on_disk == Some((m.size, m.modified))
        });
        // A section or a file of that name that this command did not make is
        // the owner's: never taken over.
        let section_file = section_value(&clip.text, "variants", &v.id, "file");
        if section_file.as_ref().is_some_and(|f| *f != toml_str(&v.key)) {
            return Err(format!(
                "its [[variants]] section \"{}\" names the file {}, not {}, which site-gen media would make: \
                 give that [[media_variants]] (height {}) another `id` in site.toml, or remove the section",
                v.id,
                section_file.unwrap_or_default(),
                v.key,
                v.height
            ));
        }
        // The sha256 the clip sells this variant with (its section's), and
        // the file's own, hashed only when size and time did not vouch for it.
        let sold = section_value(&clip.text, "variants", &v.id, "sha256");
        let on_disk_sha = match (fresh, on_disk) {
            (None, Some(_)) => Some(hash_file(&target).map_err(|e| format!("{}: {e}", target.display()))?.1),
            _ => None,
        };
        if let Some(on_disk_sha) = on_disk_sha.as_deref().filter(|_| made.is_none_or(|m| m.key != v.key)) {
            // Made by an earlier run whose record is gone: the clip's section
            // still names it with its hash.
            if sold != Some(toml_str(on_disk_sha)) {
                return Err(format!(
                    "{} is there already and was not made by site-gen media: move it away, \
                     or give that [[media_variants]] (height {}) another `id` in site.toml",
                    target.display(),
                    v.height
                ));
            }
        }
        let ours = made.filter(|m| m.key == v.key);
        let why_again = match on_disk_sha.as_deref() {
            None => (fresh.is_none()).then_some(Encode::Missing),
            Some(on_disk_sha) => adoptable(AdoptCheck {
                on_disk_sha,
                sold: sold.as_deref(),
                made: ours.map(|m| (m.sha256.as_str(), m.settings == recipe)),
                master_same: before
                    .map_or_else(|| value_of(&clip.text, "sha256").as_deref() == Some(sha256), |b| b.sha256 == sha256),
                height: || self::probe(&target).ok().map(|p| if upright { p.width } else { p.height }),
                wanted_height: u64::from(v.height),
            })
            .err(),
        };
        let record = match (fresh, why_again) {
            (Some(m), _) => m.clone(),
            (None, None) => {
                // The file the clip sells (or the one media made), its record
                // lost or its time changed (a fresh checkout, a restore):
                // taken as it is, never encoded over.
                done.adopted.push(v.id.clone());
                let (size, modified) = on_disk.unwrap_or_default();
                MadeVariant {
                    settings: recipe,
                    key: v.key.clone(),
                    size,
                    modified,
                    sha256: on_disk_sha.unwrap_or_default(),
                    written: ours.map(|m| m.written.clone()).unwrap_or_default(),
                    old_master: false,
                }
            }
            (None, Some(why)) => {
                bar.set_message(format!("variant {}", v.id));
                make_variant(&masters.join(key), &target, v.height, probe)?;
                done.variants.push(v.id.clone());
                let meta = fs::metadata(&target).map_err(|e| format!("{}: {e}", target.display()))?;
                let modified =
                    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
                let (size, sha256) = hash_file(&target).map_err(|e| format!("{}: {e}", target.display()))?;
                // A file the clip already sold, now other bytes: said loudly.
                if let Some(sold) = sold.as_deref().filter(|s| *s != toml_str(&sha256)) {
                    let section_size = section_value(&clip.text, "variants", &v.id, "size").unwrap_or_default();
                    done.warnings.push(resold_warning(&v.id, &target, why, sold, &section_size, &sha256));
                }
                MadeVariant {
                    settings: recipe,
                    key: v.key.clone(),
                    size,
                    modified,
                    sha256,
                    written: made.map(|m| m.written.clone()).unwrap_or_default(),
                    old_master: false,
                }
            }
        };
        let made = self::probe(&target).map_err(|e| format!("its variant {}: {e}", target.display()))?;
        let mut record = record;
        let mut values = Vec::new();
        for (field, from_settings) in OWNER_FIELDS.into_iter().zip([toml_str(&v.label), price_text(v.price)]) {
            let in_clip = section_value(&clip.text, "variants", &v.id, field);
            match owner_choice(in_clip.as_deref(), record.written.get(field).map(String::as_str), &from_settings) {
                Some(by_hand) => done.kept.push(format!(
                    "variant {}: {field} {by_hand} kept, written by hand (site.toml gives {from_settings}; \
                     delete the line to take it)",
                    v.id
                )),
                None => {
                    record.written.insert(field.to_string(), from_settings.clone());
                    values.push((field, from_settings));
                }
            }
        }
        values.extend([
            ("resolution", toml_str(&format!("{}x{}", made.width, made.height))),
            ("file", toml_str(&v.key)),
            ("file_name", toml_str(&v.file_name)),
            ("size", record.size.to_string()),
            ("sha256", toml_str(&record.sha256)),
        ]);
        sections.push((v.id.clone(), values));
        memory.variants.insert(v.id, record);
    }
    // Variants made from the master before this one that this one cannot
    // make (it is no taller than them) but whose sections still sell them:
    // the old footage, under the clip's name. Said on every run until the
    // owner removes the section (its record is kept for that).
    let replaced = before.is_some_and(|b| b.sha256 != sha256);
    // The short side it was made with (its recipe ends `; N lines`, or
    // `; N wide, upright`): not above the new master's, it was left out for
    // another reason (site.toml no longer asks for it), and is the owner's
    // to keep.
    let short = crate::media_variants::short_side(probe.width, probe.height);
    for (id, made) in before.iter().flat_map(|b| &b.variants) {
        if !(replaced || made.old_master)
            || crate::media_variants::recipe_height(&made.settings).is_none_or(|l| l < short)
            || memory.variants.contains_key(id)
            || section_value(&clip.text, "variants", id, "file").as_deref() != Some(&toml_str(&made.key))
        {
            continue;
        }
        done.warnings.push(format!(
            "its [[variants]] section \"{id}\" ({}) was made from the master before this one, which was {}: \
             the new master is {}, so site-gen media cannot make it again, and the clip still sells the \
             old footage as \"{id}\". Remove that section to stop selling it (its buyers' links then stop too: \
             `site-gen build` lists them), or keep it on purpose",
            made.key,
            if upright { "bigger" } else { "taller" },
            crate::media_variants::size_words(short, upright)
        ));
        memory.variants.insert(id.clone(), MadeVariant { old_master: true, ..made.clone() });
    }
    Ok(sections)
}

/// Why a variant whose file is there is encoded again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encode {
    /// No file at its place.
    Missing,
    /// The master is not the one it was made from.
    MasterChanged,
    /// It was made another way (its height, or media's recipe).
    SettingsChanged,
    /// The file has other bytes than the clip sells and media made.
    OtherBytes,
}

impl Encode {
    fn describe(self) -> &'static str {
        match self {
            Encode::Missing => "its file was not there",
            Encode::MasterChanged => "its master changed",
            Encode::SettingsChanged => {
                "the way it is made changed: its height in site.toml, or site-gen's encoder settings"
            }
            Encode::OtherBytes => "the file there had other bytes than the clip sells",
        }
    }
}

/// What decides whether a variant file that is there, with no up-to-date
/// record of it (`.site-gen/media.json` lost, or its time changed), is
/// taken as it is.
struct AdoptCheck<'a, H> {
    /// The file's sha256.
    on_disk_sha: &'a str,
    /// The sha256 the clip's `[[variants]]` section sells it with (TOML text).
    sold: Option<&'a str>,
    /// What media.json remembers of the file media made there: its sha256,
    /// and whether it was made the way it would be now.
    made: Option<(&'a str, bool)>,
    /// Whether the master is the one it was made from: as media.json
    /// remembers it, else as the clip's `sha256` says.
    master_same: bool,
    /// The file's height (probed only when asked: no record to say how it
    /// was made), and the height it is made at now.
    height: H,
    wanted_height: u64,
}

/// `Ok` when the file is the one the clip sells (or the one media made) of
/// the same master, made the same way: kept, never encoded over, since
/// customers bought those bytes. Otherwise why it is encoded again.
fn adoptable<H: FnOnce() -> Option<u64>>(check: AdoptCheck<'_, H>) -> Result<(), Encode> {
    if !check.master_same {
        return Err(Encode::MasterChanged);
    }
    let sold = check.sold.is_some_and(|s| s.trim_matches('"') == check.on_disk_sha);
    let made = check.made.is_some_and(|(sha, _)| sha == check.on_disk_sha);
    if !(sold || made) {
        return Err(Encode::OtherBytes);
    }
    let same_way = match check.made {
        Some((_, same_settings)) => same_settings,
        None => (check.height)() == Some(check.wanted_height),
    };
    if !same_way {
        return Err(Encode::SettingsChanged);
    }
    Ok(())
}

/// What media says when it encoded a variant the clip already sold into
/// other bytes: which file, that its buyers get the new bytes, what to do.
/// What the owner is told when the master's bytes are not those the clip
/// sold (`sold` sha256, `sold_size` bytes).
fn master_changed_warning(master: &Path, sold: &str, sold_size: Option<i64>, now: &str, now_size: u64) -> String {
    let sizes = match sold_size {
        Some(before) if before > 0 && (now_size as i64) < before => {
            format!("{before} bytes before, {now_size} now: a copy cut short?")
        }
        Some(before) => format!("{before} bytes before, {now_size} now"),
        None => format!("{now_size} bytes now"),
    };
    format!(
        "the master {} is not the file the clip sold: its sha256 was \"{sold}\", now \"{now}\" ({sizes}). \
         Its front matter now names this file, and `site-gen push` would upload it for everyone who bought the clip. \
         If that is not meant: put the sold file back at {} (from a backup or the bucket), restore `size` and \
         `sha256` in the clip's front matter (`git checkout` restores both), and run `site-gen media` again",
        master.display(),
        master.display()
    )
}

fn resold_warning(id: &str, target: &Path, why: Encode, sold: &str, sold_size: &str, now: &str) -> String {
    format!(
        "variant {id}: {} was encoded again ({}), and it is not the file the clip sold: its sha256 was {sold}, \
         now \"{now}\". Customers who bought \"{id}\" will download these new bytes once `site-gen push` uploads \
         them (the bucket keeps the sold file until then). If that is not meant: put the sold file back at {} \
         (from git, a backup or the bucket) and `size = {sold_size}` and `sha256 = {sold}` in the clip's \
         [[variants]] section \"{id}\" (`git checkout` restores both), then run `site-gen media` again: a file \
         with the sha256 the clip sells is kept as it is",
        target.display(),
        why.describe(),
        target.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `media` writes while it encodes is known by its name, so that a
    /// build running meanwhile leaves it out; a shop's own dot files
    /// (`.well-known/…`) and names with `part` in them are not.
    #[test]
    fn outputs_being_written_are_known_by_their_name() {
        let written = partial_name(Path::new("static/previews/first-clip.mp4"));
        assert!(is_partial_output(&written), "{written}");
        assert!(is_partial_output(".first-clip.jpg.10446.part.jpg"));
        for kept in [
            "first-clip.mp4",
            ".well-known",
            "security.txt",
            "a.part.mp4",
            ".a.b.part.mp4",
            ".x.12.part",
            "..1.part.mp4",
        ] {
            assert!(!is_partial_output(kept), "{kept}");
        }
    }

    /// A variant file is kept as it is only when it is the file sold (or
    /// made) of this master, made the way it would be now; each other case
    /// names why it is encoded again.
    #[test]
    fn a_variant_file_is_kept_only_as_sold_of_the_same_master_and_settings() {
        let check = |sold: Option<&'static str>, made: Option<(&'static str, bool)>, master_same, height| {
            adoptable(AdoptCheck {
                on_disk_sha: "aa",
                sold,
                made,
                master_same,
                height: move || height,
                wanted_height: 480,
            })
        };
        // No record (a fresh checkout): the clip's sha256 and the file's height.
        assert_eq!(check(Some("\"aa\""), None, true, Some(480)), Ok(()));
        assert_eq!(check(Some("\"aa\""), None, true, Some(360)), Err(Encode::SettingsChanged));
        assert_eq!(check(Some("\"aa\""), None, false, Some(480)), Err(Encode::MasterChanged));
        assert_eq!(check(Some("\"bb\""), None, true, Some(480)), Err(Encode::OtherBytes));
        assert_eq!(check(None, None, true, Some(480)), Err(Encode::OtherBytes));
        // A record whose time no longer matches (a restore): its sha256 and settings.
        assert_eq!(check(None, Some(("aa", true)), true, None), Ok(()));
        assert_eq!(check(Some("\"aa\""), Some(("bb", true)), true, None), Ok(()), "sold, made since");
        assert_eq!(check(Some("\"aa\""), Some(("aa", false)), true, None), Err(Encode::SettingsChanged));
        assert_eq!(check(Some("\"aa\""), Some(("aa", true)), false, None), Err(Encode::MasterChanged));
    }

    #[test]
    fn the_masters_are_in_media_unless_only_sample_media_exists() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        assert_eq!(default_masters(root), Path::new("media"), "a new shop");
        std::fs::create_dir(root.join("sample-media")).unwrap();
        assert_eq!(default_masters(root), Path::new("sample-media"), "clipstore's sample shop");
        std::fs::create_dir(root.join("media")).unwrap();
        assert_eq!(default_masters(root), Path::new("media"), "both: the shop's own");
    }

    #[test]
    fn what_a_run_found_goes_into_the_file_as_it_is_now() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.md");
        // The owner wrote a description and a poster while the encodes ran.
        let edited = "+++\ntitle = \"C\"\nsize = 1\nposter = \"/posters/mine.jpg\"\n\n[[variants]]\nid = \"480p\"\nprice = 11\n+++\nNew words.\n";
        fs::write(&path, edited).unwrap();
        let values = vec![("size", "42".to_string()), ("poster", "\"/posters/c.jpg\"".to_string())];
        // Decided against the text before the run, where the price was 5.00
        // (as site.toml gave it): the owner's 11 typed meanwhile stays.
        let before = "+++\ntitle = \"C\"\nsize = 1\n\n[[variants]]\nid = \"480p\"\nprice = 5.00\n+++\nOld words.\n";
        let sections = vec![("480p".to_string(), vec![("size", "7".to_string()), ("price", "6.00".to_string())])];
        assert!(write_back(&path, before, values.clone(), &sections).unwrap());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("New words.") && text.contains("poster = \"/posters/mine.jpg\""), "{text}");
        assert!(text.contains("size = 42\n") && text.contains("size = 7\n") && text.contains("price = 11"), "{text}");
        assert!(!write_back(&path, before, values.clone(), &sections).unwrap(), "nothing more to change");
        // Not edited meanwhile: site.toml's new price is written.
        let now = fs::read_to_string(&path).unwrap();
        assert!(write_back(&path, &now, values, &sections).unwrap());
        assert!(fs::read_to_string(&path).unwrap().contains("price = 6.00"));
        assert!(!dir.path().join("c.md.part").exists());
    }

    #[test]
    fn a_media_variant_for_a_clip_the_shop_lacks_is_refused_with_its_line() {
        let clip = ClipFile {
            slug: "first-clip".into(),
            path: PathBuf::from("content/clips/first-clip.md"),
            text: String::new(),
            key: None,
            file_name: None,
            price: Err("no `price` in its front matter".into()),
            variant: None,
            poster: None,
            preview: None,
            draft: false,
        };
        let setting = |clips: &[&str]| VariantSetting {
            id: "480p".into(),
            label: "480p".into(),
            height: 480,
            price: crate::media_variants::VariantPrice::Share(500),
            clips: clips.iter().map(|c| c.to_string()).collect(),
            location: crate::diagnostics::Location { line: 12, column: 1, source_line: String::new() },
        };
        assert_eq!(
            unknown_variant_clips(&[setting(&[]), setting(&["first-clip"])], std::slice::from_ref(&clip)),
            Ok(())
        );
        let e = unknown_variant_clips(&[setting(&["frist-clip"])], &[clip]).unwrap_err();
        assert!(
            e.starts_with("content/site.toml:12: the [[media_variants]] of height 480 names the clip \"frist-clip\""),
            "{e}"
        );
    }

    #[test]
    fn only_paths_inside_the_site_are_made() {
        assert!(plain_site_path("/posters/harbour.jpg"));
        for outside in
            ["posters/x.jpg", "/../x.jpg", "/posters/../../x.jpg", "//x.jpg", "/posters/./x.jpg", "/p\\..\\x.jpg"]
        {
            assert!(!plain_site_path(outside), "{outside}");
        }
    }

    #[test]
    fn a_value_written_by_hand_is_kept() {
        // Never written by hand: set from site.toml (also a new price there).
        assert_eq!(owner_choice(None, None, "9.50"), None);
        assert_eq!(owner_choice(Some("9.50"), Some("9.50"), "9.50"), None);
        assert_eq!(owner_choice(Some("9.50"), Some("9.50"), "12.00"), None);
        // Typed by the owner: kept, whatever site.toml now says.
        assert_eq!(owner_choice(Some("11.00"), Some("9.50"), "9.50"), Some("11.00"));
        assert_eq!(owner_choice(Some("11.00"), Some("9.50"), "12.00"), Some("11.00"));
        // A section from before the runs remembered what they wrote.
        assert_eq!(owner_choice(Some("11.00"), None, "9.50"), Some("11.00"));
        assert_eq!(owner_choice(Some("9.50"), None, "9.50"), None);
    }

    #[test]
    fn section_values_are_read_in_the_form_written() {
        let text = "+++\ntitle = \"T\"\nprice = 20\n\n[[variants]]\nid = \"480p\"\nprice = 11\nlabel = \"SD\"\n\n[[variants]]\nid = \"360p\"\nprice = \"7.5\"\n+++\nBody\n";
        assert_eq!(section_value(text, "variants", "480p", "price").as_deref(), Some("11.00"));
        assert_eq!(section_value(text, "variants", "360p", "price").as_deref(), Some("7.50"));
        assert_eq!(section_value(text, "variants", "480p", "label").as_deref(), Some("\"SD\""));
        assert_eq!(section_value(text, "variants", "360p", "label"), None);
        assert_eq!(section_value(text, "variants", "720p", "price"), None);
    }

    #[test]
    fn reads_ffprobe_json() {
        let json = r#"{"streams":[{"codec_type":"audio","codec_name":"aac"},
            {"codec_type":"video","codec_name":"h264","width":1920,"height":1080,"avg_frame_rate":"30000/1001","r_frame_rate":"30000/1001"}],
            "format":{"duration":"12.480000"}}"#;
        let p = parse_probe(json).unwrap();
        assert_eq!(
            p,
            Probe {
                seconds: 12.48,
                width: 1920,
                height: 1080,
                frame_rate: "29.97".into(),
                codec: "h264".into(),
                bit_rate: None
            }
        );
        let json = json.replace("30000/1001", "25/1");
        assert_eq!(parse_probe(&json).unwrap().frame_rate, "25");
        // Stored sideways, shown upright: the size it is shown at, as
        // ffprobe 5 and later say it, and as earlier ones did.
        let shown = |rotation: &str| {
            let p = parse_probe(&json.replace(r#""width":1920"#, &format!(r#"{rotation},"width":1920"#))).unwrap();
            (p.width, p.height)
        };
        assert_eq!(shown(r#""side_data_list":[{"side_data_type":"Display Matrix","rotation":90}]"#), (1080, 1920));
        assert_eq!(shown(r#""side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]"#), (1080, 1920));
        assert_eq!(shown(r#""side_data_list":[{"side_data_type":"Display Matrix","rotation":180}]"#), (1920, 1080));
        assert_eq!(shown(r#""tags":{"rotate":"270"}"#), (1080, 1920));
        assert!(parse_probe(r#"{"streams":[{"codec_type":"audio"}],"format":{"duration":"1"}}"#).is_err());
    }

    #[test]
    fn durations_as_front_matter_writes_them() {
        assert_eq!(duration_text(12.48), "0:12");
        assert_eq!(duration_text(0.2), "0:01");
        assert_eq!(duration_text(3723.0), "1:02:03");
    }

    /// The shop's name as written, drawn by ffmpeg with the preview's own
    /// filter: an apostrophe shows (it was dropped), and `:` `,` `[` `]`
    /// `%` `\\` do not break the filter (a name with `'` and `:` failed
    /// every preview; a review).
    #[test]
    fn the_watermark_is_drawn_as_written() {
        let tmp = tempfile::tempdir().unwrap();
        let frame = |text: &str| watermarked_frame(tmp.path(), text, "640x360");
        assert_ne!(frame("Otter's Shop"), frame("Otters Shop"), "the apostrophe is drawn");
        assert_ne!(frame("100% real"), frame("100 real"), "so is the per cent sign");
        for text in ["Otter's Shop: 100% real, [new]", "a\\b; c='d'", "%{pts}"] {
            frame(text);
        }
        assert_eq!(drawtext_escape("Maren's: 1,2"), "Maren\\\\\\'s\\\\: 1\\,2");
    }

    #[test]
    fn a_long_watermark_fits_the_frame() {
        // Drawn at a ninth of the height, a long shop name ran off both
        // sides, and a portrait preview (202 wide) showed a few letters.
        let tmp = tempfile::tempdir().unwrap();
        for (size, text) in [
            ("640x360", "Nordsee Küste & Hafen Stock Footage"),
            ("202x360", "Saltglass Footage"),
            ("640x360", "WWWWWWWWWWWWWWWWWWWWWWWWWWWW"),
            ("640x360", "Otter"),
        ] {
            let width: usize = size.split('x').next().unwrap().parse().unwrap();
            let pixels = watermarked_frame(tmp.path(), text, size);
            let background = pixels[0];
            let drawn = |x: usize| pixels.chunks(width).any(|row| row[x].abs_diff(background) > 8);
            assert!((width / 3..2 * width / 3).any(drawn), "{text} on {size}: drawn");
            assert!(!(0..3).chain(width - 3..width).any(drawn), "{text} on {size}: reaches an edge");
        }
    }

    /// One frame of grey of `size` with the preview's watermark `text`, one
    /// byte a pixel.
    fn watermarked_frame(dir: &Path, text: &str, size: &str) -> Vec<u8> {
        let out = dir.join("frame.gray");
        let filter = preview_filter(text);
        let input = format!("color=c=gray:s={size}:d=1");
        let args = ["-loglevel", "error", "-y", "-f", "lavfi", "-i", &input, "-vf", &filter];
        let run = std::process::Command::new("ffmpeg")
            .args(args)
            .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray"])
            .arg(&out)
            .output()
            .expect("ffmpeg runs");
        assert!(run.status.success(), "{text}: {}", String::from_utf8_lossy(&run.stderr));
        fs::read(&out).unwrap()
    }
}
