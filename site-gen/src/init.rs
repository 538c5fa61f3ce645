//! `site-gen init`: writes a small working shop to start from: settings,
//! one clip with its poster, one news post, one page, the Worker's
//! `wrangler.toml`, a `.gitignore` and a README with the next commands.
//! `site-gen build` succeeds on it at once; every value the owner must make
//! their own is marked `CHANGE-ME`, and `site-gen check` lists them
//! (`crate::placeholders`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::guides::guide_in;

/// The repository's Worker configuration, which the new shop's
/// `wrangler.toml` is made from (bindings, routes, cron, comments).
const WORKER_CONFIG: &str = include_str!("../../edge-worker/wrangler.toml");

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} already exists and is not empty; pick a new folder name (init never writes over anything)")]
    NotEmpty(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "--clipstore {given}: {why}\n  help: give the folder of your clipstore checkout, the one with edge-worker/wrangler.toml \
         in it (the shop's wrangler.toml and README point into it); nothing was created"
    )]
    NotClipstore { given: PathBuf, why: String },
}

/// The clipstore checkout at `given`, as an absolute path (the shop's
/// `wrangler.toml` and README are used from the shop's own folder, so a
/// relative path would point elsewhere), once it is one.
pub fn clipstore_checkout(given: &Path) -> Result<PathBuf, InitError> {
    let bad = |why: String| InitError::NotClipstore { given: given.to_path_buf(), why };
    let absolute = fs::canonicalize(given).map_err(|e| bad(e.to_string()))?;
    if !absolute.join("edge-worker/wrangler.toml").is_file() {
        return Err(bad(format!("{} has no edge-worker/wrangler.toml", absolute.display())));
    }
    Ok(absolute)
}

/// What to write the shop with.
pub struct InitOptions<'a> {
    /// The shop's name (a placeholder when not given).
    pub title: Option<&'a str>,
    /// The clipstore checkout whose Worker the shop deploys (its
    /// `edge-worker/`); a placeholder when not known.
    pub clipstore: Option<&'a Path>,
    pub now: DateTime<Utc>,
}

/// Writes the shop into `dir` (created; must not exist or be empty) and
/// returns the files written, relative to `dir`.
pub fn create(dir: &Path, options: &InitOptions) -> Result<Vec<PathBuf>, InitError> {
    if fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(InitError::NotEmpty(dir.to_path_buf()));
    }
    let name = shop_name(dir);
    let files = files(&name, options);
    for (relative, text) in &files {
        let path = dir.join(relative);
        let io = |source| InitError::Io { path: path.clone(), source };
        fs::create_dir_all(path.parent().expect("every file is in the shop's folder")).map_err(io)?;
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| io::Write::write_all(&mut f, text.as_bytes()))
            .map_err(io)?;
    }
    Ok(files.into_iter().map(|(p, _)| PathBuf::from(p)).collect())
}

/// The clipstore checkout this `site-gen` was built in: the one it runs
/// from (`…/target/{debug,release}/site-gen`), else the one it was compiled
/// from while that is still there (`cargo install --path site-gen`, or a
/// `CARGO_TARGET_DIR` elsewhere).
pub fn clipstore_of_current_exe() -> Option<PathBuf> {
    let is_checkout = |d: &Path| d.join("edge-worker/wrangler.toml").is_file();
    let exe = std::env::current_exe().ok()?;
    exe.ancestors().skip(1).find(|d| is_checkout(d)).map(Path::to_path_buf).or_else(|| {
        let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
        is_checkout(built_in).then(|| built_in.to_path_buf())
    })
}

/// A name for Cloudflare (the Worker, the bucket, the database): the
/// folder's name in lower case, letters, digits and dashes.
fn shop_name(dir: &Path) -> String {
    let folder = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name = slug::slugify(folder);
    if name.is_empty() {
        "my-shop".into()
    } else {
        name.chars().take(40).collect::<String>().trim_end_matches('-').to_string()
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn files(name: &str, options: &InitOptions) -> Vec<(&'static str, String)> {
    let date = options.now.format("%Y-%m-%d");
    let title = options.title.map_or_else(|| toml_string("CHANGE-ME Clip Shop"), toml_string);
    let clipstore =
        options.clipstore.map_or_else(|| "CHANGE-ME/path/to/clipstore".to_string(), |p| p.display().to_string());
    let content_guide = guide_in(options.clipstore, "content.md");
    vec![
        (
            "content/site.toml",
            format!(
                "# The shop's settings (the guide: {content_guide}).\n\
                 # Replace every placeholder marked below; `site-gen check` lists those left.\n\
                 title = {title}\n\
                 base_url = \"https://change-me.example\"                 # CHANGE-ME: the shop's address\n\
                 description = \"CHANGE-ME: one sentence about your footage, for search engines and the footer.\"\n\
                 language = \"en\"\n\
                 currency = \"EUR\"                                         # three letters: EUR, USD, GBP, …\n\
                 contact_email = \"change-me@change-me.example\"            # CHANGE-ME: where customers write to\n\
                 items_per_page = 12\n\
                 download_base_url = \"https://change-me.example/download\" # CHANGE-ME: the shop's address + /download\n"
            ),
        ),
        (
            "content/clips/first-clip.md",
            format!(
                "+++\n\
                 title = \"CHANGE-ME: the clip's title\"\n\
                 date = {date}\n\
                 price = 20.00                          # CHANGE-ME: in the shop's currency\n\
                 duration = \"0:10\"                      # CHANGE-ME: minutes:seconds\n\
                 resolution = \"1920x1080\"               # CHANGE-ME: width x height\n\
                 file = \"clips/first-clip.mp4\"          # its key in the R2 bucket (`site-gen push` uploads it)\n\
                 file_name = \"CHANGE-ME First Clip (1080p).mp4\"  # what the customer's download is called\n\
                 size = 1                               # CHANGE-ME: the file's exact size in bytes\n\
                 poster = \"/posters/first-clip.svg\"     # CHANGE-ME: a still of the clip, under static/posters/\n\
                 tags = [\"change-me\"]\n\
                 +++\n\
                 CHANGE-ME: say what is in the shot, how it was filmed, and what it suits.\n"
            ),
        ),
        (
            "content/news/welcome.md",
            format!(
                "+++\n\
                 title = \"The shop is open\"\n\
                 date = {date}\n\
                 tags = []\n\
                 +++\n\
                 CHANGE-ME: the first paragraph is the summary shown in lists.\n\
                 \n\
                 <!-- more -->\n\
                 \n\
                 The rest of the post. See [the clips](/clips/) or read [about the shop](/about/).\n"
            ),
        ),
        (
            "content/pages/about.md",
            "+++\n\
             title = \"About\"\n\
             weight = 10\n\
             description = \"CHANGE-ME: who films the clips.\"\n\
             +++\n\
             CHANGE-ME: who you are, where you film, and how customers can reach you.\n"
                .to_string(),
        ),
        (
            // The order mail and the licence certificate link to /terms/.
            "content/pages/terms.md",
            "+++\n\
             title = \"Licence terms\"\n\
             weight = 20\n\
             description = \"CHANGE-ME: what a customer may do with a clip they bought.\"\n\
             +++\n\
             CHANGE-ME: the licence every clip is sold under: where the clips may be used, for how long, \
             and what is not allowed. The order e-mail and each licence certificate link here.\n"
                .to_string(),
        ),
        (
            "static/posters/first-clip.svg",
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1280 720\" width=\"1280\" height=\"720\">\
             <rect width=\"1280\" height=\"720\" fill=\"#2b3a42\"/>\
             <text x=\"640\" y=\"370\" fill=\"#e8eef1\" font-family=\"sans-serif\" font-size=\"48\" text-anchor=\"middle\">\
             Put a still of the clip here</text></svg>\n"
                .to_string(),
        ),
        ("wrangler.toml", wrangler_toml(name, &clipstore)),
        (
            ".gitignore",
            "public/\n.public.prev/\ncatalog-manifest.json\n.dev.vars\n.wrangler/\n.worker-build/\nmedia/\n.site-gen/\n"
                .to_string(),
        ),
        ("README.md", readme(name, &clipstore)),
    ]
}

/// The repository's `edge-worker/wrangler.toml`, pointed at this shop: its
/// names, its `public/`, and the checkout's Worker build and migrations.
fn wrangler_toml(name: &str, clipstore: &str) -> String {
    let worker = format!("{clipstore}/edge-worker");
    let deploy_guide = guide_in(Some(Path::new(clipstore)), "deploy.md");
    let mut out = format!(
        "# The shop's Worker (the guide: {deploy_guide}). `wrangler deploy --config wrangler.toml`\n\
         # (README.md, step 5) first builds it with this shop's catalog into .worker-build/ ([build] below).\n\
         # After `wrangler d1 create {name}`, put the database_id it prints below.\n"
    );
    // The repository's own header (how to build from edge-worker/) is
    // replaced by the one above; its other comments hold here too.
    let body = WORKER_CONFIG.lines().skip_while(|l| l.starts_with('#'));
    // Only the Worker's own `name` (before the first table) is the shop's;
    // a binding's (`[[ratelimits]]`) stays.
    let mut top_level = true;
    for line in body {
        top_level &= !line.starts_with('[');
        let line = line.replace("`wrangler d1 create clipstore`", &format!("`wrangler d1 create {name}`"));
        // The sample shop's names in commented-out examples: the owner
        // would copy them.
        let line = line
            .replace("Saltglass Footage <shop@mail.saltglass.example>", "Your Shop <shop@YOUR-VERIFIED-DOMAIN>")
            .replace("\"saltglass-clips\"", &format!("\"{name}-clips-copy\""));
        let line = match line.split(" = ").next().unwrap_or_default() {
            "name" if top_level => format!("name = {}", toml_string(name)),
            // The shop's own build ([build] below), never the checkout's
            // `edge-worker/build/`, which holds whatever was built last
            // (the sample shop's, another shop's).
            "main" => "main = \".worker-build/index.js\"".to_string(),
            "directory" => "directory = \"public\"".to_string(),
            "bucket_name" => format!("bucket_name = {}", toml_string(&format!("{name}-clips"))),
            "database_name" => format!("database_name = {}", toml_string(name)),
            "database_id" => {
                "database_id = \"00000000-0000-0000-0000-000000000000\" # CHANGE-ME: from `wrangler d1 create`"
                    .to_string()
            }
            "migrations_dir" => format!("migrations_dir = {}", toml_string(&format!("{worker}/migrations"))),
            // Each shop's own, so that two shops in one Cloudflare account
            // do not share their counters: a number made from its name.
            "namespace_id" => format!("namespace_id = \"{}\"", rate_limit_namespace(name)),
            _ => line,
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&build_section(name, clipstore));
    out
}

/// The `[build]` section of a shop's wrangler.toml (with its comment): each
/// `wrangler deploy` and `wrangler dev` builds the Worker of the checkout
/// `clipstore` with this shop's catalog into `.worker-build/`.
fn build_section(name: &str, clipstore: &str) -> String {
    // Wrangler runs it in the folder it was started in: anywhere else it
    // would build another folder's catalog and deploy this folder's stale
    // build. `name` is a slug (`shop_name`), so the line is literal.
    let build = format!(
        "if ! grep -qx 'name = \"{name}\"' wrangler.toml 2>/dev/null; then echo 'run wrangler in the folder of the shop {name}, with --config wrangler.toml' >&2; exit 1; fi; \
         CLIPSTORE_MANIFEST=\"$PWD/catalog-manifest.json\" bash {} --out-dir \"$PWD/.worker-build\"",
        shell_quoted(&format!("{clipstore}/scripts/build-worker.sh"))
    );
    format!(
        "\n# Every `wrangler deploy` (and `wrangler dev`) builds the Worker first, with this shop's\n\
         # catalog-manifest.json (written by `site-gen build`), into .worker-build/ here.\n\
         # A `wrangler dev` running here builds and reloads after each `site-gen build`.\n\
         [build]\n\
         command = {}\n\
         watch_dir = {WATCH_DIR}\n",
        toml_string(&build)
    )
}

/// The warning for a shop whose wrangler.toml an older `site-gen init`
/// wrote: `main` in the clipstore checkout's `edge-worker/build/` and no
/// `[build]`. Its `wrangler deploy` ships whatever was built there last:
/// after an update the old Worker, or the sample shop's if the tests or
/// `run-local.sh` ran since (every clip "no such clip"). Says what to change
/// (the upgrade review). None for any other wrangler.toml.
pub fn older_wrangler_toml(root: &Path) -> Option<String> {
    let config = std::fs::read_to_string(root.join("wrangler.toml")).ok()?;
    let table: toml::Table = config.parse().ok()?;
    if table.contains_key("build") {
        return None;
    }
    let main = table.get("main")?.as_str()?;
    let checkout = main.strip_suffix("/edge-worker/build/index.js")?;
    let name = table.get("name")?.as_str()?;
    // The checkout it named may be gone since: the one this site-gen is from.
    let current = clipstore_of_current_exe().map(|c| c.display().to_string());
    let clipstore = match current {
        Some(c) if !Path::new(checkout).join("scripts/build-worker.sh").is_file() => c,
        _ => checkout.to_string(),
    };
    Some(format!(
        "warning: {}: `main = {}` deploys whatever was last built in the clipstore checkout (an older Worker after \
         an update, or the sample shop's after its tests), not a Worker built with this shop's catalog.\n  \
         = help: as `site-gen init` writes it now: change that line to `main = \".worker-build/index.js\"`, add \
         `.worker-build/` to .gitignore, and add at the end of wrangler.toml:\n{}",
        root.join("wrangler.toml").display(),
        toml_string(main),
        build_section(name, &clipstore)
    ))
}

/// What a shop's `wrangler dev` watches: what `site-gen build` writes (the
/// site, swapped in whole, and the catalog the Worker embeds). Watching
/// `content/` rebuilt the Worker as `media` or `push` edited front matter,
/// before the build that makes the catalog, and never after it: a clip
/// added stayed "no such clip" (the deployer review).
pub const WATCH_DIR: &str = r#"["public", "catalog-manifest.json"]"#;

/// `text` quoted for a POSIX shell.
fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r#"'\''"#))
}

/// `text` as is where a shell takes it so (a path of letters, digits and
/// `/._-`), else quoted: a command printed for the owner to paste.
pub fn shell_quoted_if_needed(text: &str) -> String {
    let plain = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c));
    if plain {
        text.to_string()
    } else {
        shell_quoted(text)
    }
}

/// A rate limit namespace for the shop `name` (Cloudflare's
/// `namespace_id`: a whole number unique in the account): 1000 to 999,999,
/// from the sha256 of the name.
fn rate_limit_namespace(name: &str) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    1000 + u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 999_000
}

fn readme(name: &str, clipstore: &str) -> String {
    let content_guide = guide_in(Some(Path::new(clipstore)), "content.md");
    let deploy_guide = guide_in(Some(Path::new(clipstore)), "deploy.md");
    let support_guide = guide_in(Some(Path::new(clipstore)), "support.md");
    // Quoted: a checkout's path may have spaces (or quotes) in it.
    let wrangler = shell_quoted(&format!("{clipstore}/edge-worker/node_modules/.bin/wrangler"));
    let setup = shell_quoted(&format!("{clipstore}/scripts/setup-tools.sh"));
    let env = shell_quoted(&format!("{clipstore}/scripts/worker-env.sh"));
    let install = shell_quoted(&format!("{clipstore}/site-gen"));
    format!(
        "# {name}\n\
         \n\
         A clip shop made with clipstore's `site-gen init`. Everything the shop shows is\n\
         in `content/` (settings in `content/site.toml`, clips in `content/clips/`, news\n\
         in `content/news/`, pages in `content/pages/`) and `static/` (posters, previews,\n\
         images). The guide to every field: {content_guide}.\n\
         \n\
         `site-gen` is the program of the clipstore checkout; `cargo install --locked --path {install}`\n\
         puts it on your PATH (run it again after you update clipstore, as below).\n\
         \n\
         The next five commands, run in this folder:\n\
         \n\
         1. `site-gen serve`: see the shop at http://127.0.0.1:1111 while you edit; each\n\
            save shows at once.\n\
         2. `site-gen check`: lists every placeholder left (marked CHANGE-ME) and any\n\
            mistake, with its file and line.\n\
         3. `site-gen media --masters media`: put each clip's video at `media/<its file>`\n\
            (the first clip's: `media/clips/first-clip.mp4`) and this fills in its size,\n\
            sha256, duration, resolution, frame rate and codec, and makes a watermarked\n\
            preview. It makes a clip's poster too, from the video, when its `poster`\n\
            line names `/posters/<clip>.jpg`: the first clip's names this shop's\n\
            placeholder drawing, which media leaves alone; change that line to\n\
            `/posters/first-clip.jpg` and run media again for a still of the video.\n\
            `site-gen new clip \"Harbour at Dawn\"` adds a clip.\n\
         4. `site-gen build`: writes the site to `public/` and the catalog the Worker\n\
            needs to `catalog-manifest.json`.\n\
         5. Publish, once you have a Cloudflare account. The shop's Worker, bucket and\n\
            database are named `{name}` in `wrangler.toml`, so every wrangler command\n\
            runs in this folder with `--config wrangler.toml` (the wrangler of\n\
            clipstore: run `bash {setup}` once to install it; the first line below,\n\
            in each new terminal, puts the Node.js it needs on PATH):\n\
         \n\
            ```sh\n\
            . {env}\n\
            W={wrangler}\n\
            \"$W\" login\n\
            \"$W\" r2 bucket create {name}-clips\n\
            \"$W\" d1 create {name}      # copy only the database_id it prints into wrangler.toml's DB block\n\
            \"$W\" d1 migrations apply DB --remote --config wrangler.toml\n\
            site-gen token keygen --id k1                        # prints k1:…: keep it secret\n\
            \"$W\" secret put TOKEN_KEYS --config wrangler.toml    # paste k1:…\n\
            openssl rand -hex 24                                 # the admin token: keep it secret\n\
            \"$W\" secret put ADMIN_TOKEN --config wrangler.toml   # paste it\n\
            \"$W\" deploy --config wrangler.toml   # builds the Worker with this shop's catalog, prints its address\n\
            ```\n\
         \n\
            Put that address (https://{name}.….workers.dev, or your own domain once it points there) into\n\
            `content/site.toml`: `base_url`, and `download_base_url` with `/download` after\n\
            it. Then `site-gen build` and `\"$W\" deploy --config wrangler.toml` again (until then the\n\
            Worker mails customers links to change-me.example: `site-gen doctor` fails on it), and:\n\
         \n\
            ```sh\n\
            export CLIPSTORE_SIGNING_KEY=k1:… CLIPSTORE_ADMIN_TOKEN=…  # for token mint, orders, push\n\
            site-gen push --worker-url https://YOUR-SHOP --media media\n\
            ```\n\
         \n\
            Payments, e-mail to customers and alerts are secrets too, set the same way (what\n\
            each is and where to get it: {deploy_guide}, step 3 and the guides it names).\n\
            TOKEN_KEYS and ADMIN_TOKEN are set above: do not make them again (a new TOKEN_KEYS\n\
            stops every link already sent).\n\
         \n\
            ```sh\n\
            \"$W\" secret put STRIPE_WEBHOOK_SECRET --config wrangler.toml   # whsec_…: Stripe's webhook endpoint\n\
            \"$W\" secret put STRIPE_API_KEY --config wrangler.toml          # rk_live_…: a restricted key for the cart\n\
            \"$W\" secret put RESEND_API_KEY --config wrangler.toml          # re_…: mails customers their links\n\
            \"$W\" secret put ALERT_WEBHOOK_URL --config wrangler.toml       # https://hooks.slack.com/…: alerts for you\n\
            ```\n\
         \n\
            and `MAIL_FROM` in `[vars]` of `wrangler.toml` (the line is there to fill in), then\n\
            `\"$W\" deploy --config wrangler.toml`. `site-gen doctor` says what is still missing.\n\
         \n\
         After you add a clip or change a clip, a price or a licence: `site-gen media --masters media`,\n\
         `site-gen build`, `site-gen push --worker-url https://YOUR-SHOP --media media`, then\n\
         `\"$W\" deploy --config wrangler.toml` (`site-gen build` says when the catalog changed: until\n\
         the Worker is deployed again, checkout and downloads go by the old one). News and pages\n\
         need the same `site-gen build` and `\"$W\" deploy --config wrangler.toml`. After you change the\n\
         shop's name (`title`, or `watermark`, in `content/site.toml`): `site-gen media --masters media`\n\
         makes the previews again with it.\n\
         \n\
         Customers' mails (no e-mail came, downloads used up, the wrong file bought, a refund,\n\
         an invoice) and the `site-gen orders` command that settles each: {support_guide}.\n\
         \n\
         After you update clipstore: `cargo install --locked --path {install}` again, then apply the\n\
         database changes it brings before you deploy, or its Worker cannot record orders\n\
         (its checkout stays closed, and `site-gen doctor` says why, until they are applied):\n\
         \n\
         ```sh\n\
         \"$W\" d1 migrations apply DB --remote --config wrangler.toml\n\
         \"$W\" deploy --config wrangler.toml\n\
         ```\n\
         \n\
         ## Try it locally\n\
         \n\
         The shop's Worker runs on this machine too, with a local bucket and database, before\n\
         (or without) a Cloudflare account: a download link that works, end to end.\n\
         \n\
         ```sh\n\
         . {env}\n\
         W={wrangler}\n\
         printf 'TOKEN_KEYS=%s\\nADMIN_TOKEN=%s\\n' \"$(site-gen token keygen --id local)\" \"$(openssl rand -hex 24)\" > .dev.vars\n\
         site-gen build\n\
         \"$W\" d1 migrations apply DB --local --config wrangler.toml\n\
         \"$W\" dev --config wrangler.toml --ip 127.0.0.1 --port 8787   # leave it running; in another terminal:\n\
         site-gen push --worker-url http://127.0.0.1:8787 --media media\n\
         site-gen token mint --order TEST-1 --clip first-clip --base-url http://127.0.0.1:8787/download\n\
         ```\n\
         \n\
         `.dev.vars` holds the local Worker's secrets (git ignores it); `push`, `token mint`,\n\
         `orders` and `doctor` read them for a Worker at 127.0.0.1. Its keys are not the shop's:\n\
         the published shop gets its own (step 5). While `wrangler dev` runs, each `site-gen build`\n\
         reaches it by itself: it builds the Worker with the new catalog and serves the new site\n\
         (no deploy for the local one).\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> InitOptions<'static> {
        InitOptions { title: None, clipstore: None, now: "2026-12-02T10:00:00Z".parse().unwrap() }
    }

    #[test]
    fn writes_a_shop_and_never_over_anything() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("My Shop");
        let written = create(&dir, &options()).unwrap();
        assert!(written.contains(&PathBuf::from("content/site.toml")));
        assert!(dir.join("static/posters/first-clip.svg").is_file());
        assert!(matches!(create(&dir, &options()), Err(InitError::NotEmpty(_))));
        // An empty folder is fine.
        let empty = tmp.path().join("empty");
        fs::create_dir(&empty).unwrap();
        create(&empty, &options()).unwrap();
    }

    #[test]
    fn wrangler_toml_keeps_the_workers_bindings_and_points_at_the_shop() {
        let toml = wrangler_toml("my-shop", "/src/clipstore");
        let parsed: toml::Table = toml::from_str(&toml).unwrap();
        assert_eq!(parsed["name"].as_str(), Some("my-shop"));
        assert_eq!(parsed["main"].as_str(), Some(".worker-build/index.js"), "the shop's own build");
        let command = parsed["build"]["command"].as_str().unwrap();
        assert!(command.starts_with("if ! grep -qx 'name = \"my-shop\"' wrangler.toml 2>/dev/null; then"), "{command}");
        assert!(
            command.ends_with(
                "CLIPSTORE_MANIFEST=\"$PWD/catalog-manifest.json\" bash '/src/clipstore/scripts/build-worker.sh' \
                 --out-dir \"$PWD/.worker-build\""
            ),
            "{command}"
        );
        let quoted = wrangler_toml("my-shop", "/src/Joe's clipstore");
        let quoted: toml::Table = toml::from_str(&quoted).unwrap();
        assert!(quoted["build"]["command"].as_str().unwrap().contains(r#"bash '/src/Joe'\''s clipstore/scripts/"#));
        assert_eq!(parsed["assets"]["directory"].as_str(), Some("public"));
        assert_eq!(parsed["assets"]["binding"].as_str(), Some("ASSETS"));
        assert_eq!(parsed["r2_buckets"][0]["binding"].as_str(), Some("CLIPS"));
        assert_eq!(parsed["r2_buckets"][0]["bucket_name"].as_str(), Some("my-shop-clips"));
        assert_eq!(parsed["d1_databases"][0]["database_name"].as_str(), Some("my-shop"));
        assert_eq!(parsed["ratelimits"][0]["name"].as_str(), Some("CHECKOUT_LIMITER"));
        let namespace = |toml: &str| -> u32 {
            let parsed: toml::Table = toml::from_str(toml).unwrap();
            parsed["ratelimits"][0]["namespace_id"].as_str().unwrap().parse().unwrap()
        };
        let (mine, other) = (namespace(&toml), namespace(&wrangler_toml("other-shop", "/src/clipstore")));
        assert!((1000..1_000_000).contains(&mine) && mine != other, "each shop its own: {mine}, {other}");
        assert_eq!(parsed["d1_databases"][0]["migrations_dir"].as_str(), Some("/src/clipstore/edge-worker/migrations"));
        let original: toml::Table = toml::from_str(WORKER_CONFIG).unwrap();
        assert_eq!(parsed["triggers"], original["triggers"]);
        assert_eq!(parsed["assets"]["run_worker_first"], original["assets"]["run_worker_first"]);
        // No comment of the repository's that would mislead in a shop.
        assert!(!toml.contains("../scripts/build-worker.sh") && !toml.contains("npm run deploy"), "{toml}");
        assert!(!toml.contains("d1 create clipstore") && toml.contains("`wrangler d1 create my-shop`"), "{toml}");
        assert!(!toml.contains("edge-worker/build/"), "{toml}");
        assert!(!toml.to_lowercase().contains("saltglass"), "no sample shop's name: {toml}");
        assert!(toml.contains("# MAIL_FROM = \"Your Shop <shop@YOUR-VERIFIED-DOMAIN>\""), "{toml}");
    }

    /// Publishing by the README's commands configures the shop's own Worker,
    /// bucket and database (its `wrangler.toml`), never the repository's.
    #[test]
    fn the_readme_publishes_the_shop_by_its_own_names() {
        let readme = readme("my-shop", "/src/clipstore");
        let toml: toml::Table = toml::from_str(&wrangler_toml("my-shop", "/src/clipstore")).unwrap();
        let bucket = toml["r2_buckets"][0]["bucket_name"].as_str().unwrap();
        let database = toml["d1_databases"][0]["database_name"].as_str().unwrap();
        assert!(readme.contains(&format!("\"$W\" r2 bucket create {bucket}\n")), "{readme}");
        assert!(readme.contains(&format!("\"$W\" d1 create {database} ")), "{readme}");
        assert!(readme.contains("W='/src/clipstore/edge-worker/node_modules/.bin/wrangler'\n"), "{readme}");
        let spaced = super::readme("my-shop", "/home/jo/My Shops/clip'store");
        assert!(
            spaced.contains(r#"W='/home/jo/My Shops/clip'\''store/edge-worker/node_modules/.bin/wrangler'"#),
            "{spaced}"
        );
        assert!(!readme.lines().any(|l| l.trim_start().starts_with("$W")), "every use quoted: {readme}");
        for line in readme.lines().filter(|l| l.trim_start().starts_with("\"$W\" ")) {
            let needs_config = ["secret put", "migrations apply", "deploy"].iter().any(|c| line.contains(c));
            assert!(!needs_config || line.contains("--config wrangler.toml"), "{line}");
        }
        for secret in ["TOKEN_KEYS", "ADMIN_TOKEN"] {
            assert!(readme.contains(&format!("secret put {secret} --config wrangler.toml")), "{secret}");
        }
    }

    #[test]
    fn a_clipstore_checkout_is_made_absolute_and_checked() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let found = clipstore_checkout(&repo.join("site-gen/..")).unwrap();
        assert!(found.is_absolute() && found.join("edge-worker/wrangler.toml").is_file());
        assert!(!found.to_string_lossy().contains(".."), "{}", found.display());
        let tmp = tempfile::tempdir().unwrap();
        let err = clipstore_checkout(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("has no edge-worker/wrangler.toml") && err.contains("nothing was created"), "{err}");
        assert!(clipstore_checkout(&tmp.path().join("missing")).is_err());
    }

    #[test]
    fn the_shop_name_comes_from_the_folder() {
        assert_eq!(shop_name(Path::new("/x/My Shop!")), "my-shop");
        assert_eq!(shop_name(Path::new("/x/---")), "my-shop");
    }

    /// The `cd` printed after `init` pastes into a shell as one argument.
    #[test]
    fn a_printed_path_is_quoted_only_when_a_shell_needs_it() {
        assert_eq!(shell_quoted_if_needed("/home/anna/harbour-films"), "/home/anna/harbour-films");
        assert_eq!(shell_quoted_if_needed("Anna's Shöp 2026"), r#"'Anna'\''s Shöp 2026'"#);
        assert_eq!(shell_quoted_if_needed("my shop"), "'my shop'");
        assert_eq!(shell_quoted_if_needed("$HOME"), "'$HOME'");
    }
}
