//! The shop owner's command line: parses the arguments and calls the
//! library's command (`token`'s checks and printing are still here).

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use site_gen::existing_order::{self, Verdict};
use site_gen::minting_key;
use site_gen::purchase_token::{self as pt, MintRequest};
use site_gen::{new, BuildError, BuildOptions, DEFAULT_MANIFEST, DEFAULT_OUT};

/// See the note beside `mimalloc` in Cargo.toml; measured in docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Builds your clip shop into a static website, and helps you run it.
#[derive(Parser)]
#[command(name = "site-gen", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct RootArg {
    /// The shop's folder (the one holding content/ and templates/).
    #[arg(long, default_value = ".", value_name = "DIR")]
    root: PathBuf,
}

impl RootArg {
    /// Whether `--root` holds a shop; else says so (the most common slip: a
    /// command run before `cd my-shop`), and nothing is written there.
    fn is_shop(&self) -> bool {
        // A content/ without its site.toml is a shop with a mistake, which
        // the command itself names.
        let is_shop = self.root.join("content").is_dir();
        if !is_shop {
            eprintln!("error: {}", site_gen::no_shop_in(&self.root));
        }
        is_shop
    }
}

#[derive(Subcommand)]
enum Command {
    /// Build the site into public/ and write the catalog manifest.
    Build {
        #[command(flatten)]
        root: RootArg,
        /// Where to write the site (replaced as a whole when the build
        /// succeeds); a relative DIR is inside the shop's folder (--root).
        /// Default: public/, or .site-gen/preview-drafts with --drafts
        /// (drafts never go where `wrangler deploy` publishes).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Where to write the catalog manifest for the Worker (keep it
        /// outside the site); a relative FILE is inside the shop's folder.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_MANIFEST)]
        manifest: PathBuf,
        /// Also publish drafts and items dated in the future (for previewing).
        #[arg(long)]
        drafts: bool,
        /// Pretend the build happens at this time (RFC 3339 or YYYY-MM-DD).
        #[arg(long, hide = true, value_parser = parse_now)]
        now: Option<DateTime<Utc>>,
    },
    /// Check all content, templates and links without writing anything.
    Check {
        #[command(flatten)]
        root: RootArg,
        /// Also check drafts and items dated in the future.
        #[arg(long)]
        drafts: bool,
        #[arg(long, hide = true, value_parser = parse_now)]
        now: Option<DateTime<Utc>>,
    },
    /// Preview the site: build, serve it on 127.0.0.1, rebuild on every change and reload open pages.
    Serve {
        #[command(flatten)]
        root: RootArg,
        /// The port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 1111)]
        port: u16,
        /// Also show drafts and items dated in the future.
        #[arg(long)]
        drafts: bool,
        /// Where to write the preview site (default: .site-gen/preview in the
        /// shop); a relative DIR is inside the shop's folder (--root).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Start a new news post, clip or page with its front matter filled in.
    New {
        #[command(flatten)]
        root: RootArg,
        /// What to create.
        #[arg(value_enum)]
        kind: new::Kind,
        /// Its title (the file name is made from it).
        title: String,
    },
    /// Fill each clip's front matter from its master (ffprobe: size, sha256,
    /// duration, resolution, frame rate, codec) and make its poster and
    /// watermarked preview (ffmpeg); skips what is up to date.
    Media(site_gen::media::MediaArgs),
    /// Start a new shop in DIR: settings, a clip, a post, a page, the Worker's
    /// wrangler.toml and a README with the next commands (placeholders marked
    /// CHANGE-ME, listed by `site-gen check`).
    Init {
        /// The new shop's folder (must not exist or be empty).
        dir: PathBuf,
        /// The shop's name (else a placeholder).
        #[arg(long)]
        title: Option<String>,
        /// The clipstore checkout whose Worker the shop deploys (default: the
        /// one this site-gen was built in, if any).
        #[arg(long, value_name = "DIR")]
        clipstore: Option<PathBuf>,
    },
    /// Purchase tokens: make signing keys, mint customers' download links, inspect tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Orders and downloads: the Worker's ledger (list, show, reset, revoke, reissue, export).
    ///
    /// Needs the Worker's admin token in $CLIPSTORE_ADMIN_TOKEN (for a local
    /// Worker, ADMIN_TOKEN in the shop's .dev.vars will do: edge-worker/.dev.vars
    /// in the clipstore checkout). Which command answers which customer mail:
    /// docs/support.md in your clipstore checkout.
    Orders(site_gen::orders::OrdersArgs),
    /// Checks the deployed shop through the admin API: the Worker's health,
    /// every catalog clip in the bucket (size and sha256), the deployed
    /// catalog against content/. Exit status 1 when something fails.
    ///
    /// Needs the Worker's admin token in $CLIPSTORE_ADMIN_TOKEN (for a local
    /// Worker, ADMIN_TOKEN in the shop's .dev.vars will do: edge-worker/.dev.vars
    /// in the clipstore checkout).
    Doctor(site_gen::doctor::DoctorArgs),
    /// Uploads the clips the bucket lacks (or holds with other bytes) through
    /// the admin API, and records size and sha256 in their front matter.
    ///
    /// Needs the Worker's admin token in $CLIPSTORE_ADMIN_TOKEN (for a local
    /// Worker, ADMIN_TOKEN in the shop's .dev.vars will do: edge-worker/.dev.vars
    /// in the clipstore checkout).
    Push(site_gen::push::PushArgs),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new random signing key, in the form the Worker's TOKEN_KEYS secret expects.
    Keygen {
        /// The key's id (letters, digits, `.`, `_`, `-`); pick a new one for each key.
        #[arg(long, default_value = "k1")]
        id: String,
    },
    /// Print a customer's download link for an order.
    ///
    /// An order id the shop's Worker already knows (a customer's payment, an earlier link)
    /// is refused unless --replace-order: see `site-gen orders --help` for
    /// resend, reissue and create.
    ///
    /// Signed with the key in $CLIPSTORE_SIGNING_KEY (`site-gen token keygen`
    /// made it; the Worker's TOKEN_KEYS has it), else, for a local Worker, the
    /// first key of TOKEN_KEYS in the shop's .dev.vars (edge-worker/.dev.vars
    /// in the clipstore checkout).
    Mint {
        #[command(flatten)]
        root: RootArg,
        /// The order's id, as the shop knows it (e.g. the payment reference).
        #[arg(long)]
        order: String,
        /// A clip the order covers, by its slug; repeat for several clips.
        /// A clip sold in several files or under licence tiers takes
        /// slug:variant:licence (either part may be left empty:
        /// harbour-at-dawn:hd, harbour-at-dawn::extended).
        #[arg(long = "clip", value_name = "SLUG[:VARIANT[:LICENCE]]", required = true)]
        clips: Vec<String>,
        /// How long the link works: 30d, 12h, 2weeks, ...
        #[arg(long, default_value = "30d")]
        expires: String,
        /// How many times each clip may be downloaded.
        #[arg(long, default_value_t = 5)]
        downloads: u32,
        /// An optional reference of yours (e.g. a customer number), carried in the token.
        #[arg(long, value_name = "REF")]
        customer: Option<String>,
        /// Link base to use instead of download_base_url from site.toml
        /// (e.g. http://127.0.0.1:8787/download for a local Worker).
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// Sign with the local Worker's key from the shop's .dev.vars even
        /// though the link is not for 127.0.0.1 or localhost.
        #[arg(long)]
        local_key: bool,
        /// Yes, replace that order's link: mint even though the shop's Worker
        /// already has an order of this id. Once opened, the new link's
        /// clips, downloads and expiry replace the order's, also for the
        /// links already sent. For a paid order, `site-gen orders resend`,
        /// `reissue` or `create` (a new id) is what you want instead.
        #[arg(long)]
        replace_order: bool,
        /// The Worker to ask whether the order id is taken (default: the
        /// address the link goes to). Asked with $CLIPSTORE_ADMIN_TOKEN, else
        /// ADMIN_TOKEN in the shop's .dev.vars; when it cannot be asked, the
        /// link is minted with a warning that says why.
        #[arg(long, value_name = "URL")]
        worker_url: Option<String>,
        /// Mint as if it were this time (unix seconds); for tests.
        #[arg(long, hide = true)]
        now: Option<u64>,
    },
    /// Show what a token (or a whole download link) says and whether it verifies.
    Inspect {
        #[command(flatten)]
        root: RootArg,
        /// The token, or the customer's download link.
        token: String,
        /// Check validity at this time (unix seconds); for tests.
        #[arg(long, hide = true)]
        now: Option<u64>,
    },
}

fn unix_now() -> u64 {
    Utc::now().timestamp().max(0) as u64
}

fn token_command(command: TokenCommand) -> Result<ExitCode, String> {
    match command {
        TokenCommand::Keygen { id } => {
            let key = pt::generate_key(&id).map_err(|e| e.to_string())?;
            println!("{}", key.to_env_string());
            eprintln!(
                "Keep this secret out of the repository. Give it to the Worker as (part of) its {secret} secret:\n  npx wrangler secret put {secret}    (comma-separate several keys: new,old)\n  (in a shop made by `site-gen init`: \"$W\" secret put {secret} --config wrangler.toml, as its README says)\nand to `site-gen token mint` as {env}. Keep an old key in {secret} until the links it signed have expired.",
                secret = pt::WORKER_SECRET,
                env = pt::SIGNING_KEY_ENV
            );
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Mint {
            root,
            order,
            clips,
            expires,
            downloads,
            customer,
            base_url,
            local_key,
            replace_order,
            worker_url,
            now,
        } => {
            let valid_for = pt::parse_duration(&expires).map_err(|e| e.to_string())?;
            let shop = site_gen::load_shop(&root.root).map_err(|d| d.to_string())?;
            let (key, source) = pt::signing_key_from(&root.root).map_err(|e| e.to_string())?;
            let base = base_url.unwrap_or_else(|| shop.config.download_base_url.clone());
            if !site_gen::placeholders::lines_with_mark(&base).is_empty() {
                return Err(format!(
                    "the link's address {base} is still a placeholder ({}), so the link would lead nowhere: set \
                     download_base_url in content/site.toml to your shop's address followed by /download \
                     (like https://shop.example/download), or pass --base-url",
                    site_gen::placeholders::MARK
                ));
            }
            pt::check_key_for(source, &root.root, &base, local_key).map_err(|e| e.to_string())?;
            let request = MintRequest {
                order_id: order,
                clips,
                valid_for,
                downloads,
                customer_ref: customer,
                now_unix: now.unwrap_or_else(unix_now),
            };
            let (token, claims) = pt::mint(&shop, &key, &request).map_err(|e| e.to_string())?;
            // An order the Worker knows would be taken over by this link.
            let worker = existing_order::worker_for_link(worker_url.as_deref(), &base);
            let answered = replace_order
                || match existing_order::check(&root.root, &worker, &claims.order_id) {
                    Verdict::New => true,
                    Verdict::Known(refusal) => return Err(refusal),
                    Verdict::Unchecked(warning) => {
                        eprintln!(
                            "warning: {warning} (nor could it check that the Worker verifies key {}: a link signed \
                             with a key it lacks is refused when opened)",
                            key.key_id()
                        );
                        false
                    }
                };
            // A key the Worker lacks signs a link it refuses. Not asked again
            // when the Worker did not answer just now (its warning is out).
            if answered {
                if let Some(warning) = minting_key::check(&root.root, &worker, &key, &source.describe(&root.root))? {
                    eprintln!("warning: {warning}");
                }
                for slug in existing_order::not_deployed(&worker, &claims.clips) {
                    eprintln!(
                        "warning: the shop at {worker} does not sell clip {slug} yet (its page /clips/{slug}/ is not \
                         there): the link answers \"no such clip\" until you build and deploy (the shop's README \
                         says how); send it after that"
                    );
                }
            }
            println!("{}", pt::download_url(&base, &token));
            for missing in pt::missing_from_last_build(&root.root.join(DEFAULT_MANIFEST), &claims) {
                eprintln!("warning: {missing}");
            }
            eprintln!(
                "Order {}: {} ({} download{} each), valid until {}, signed with key {} from {}",
                claims.order_id,
                claims.items_text(),
                claims.downloads,
                if claims.downloads == 1 { "" } else { "s" },
                pt::show_time(claims.expires_at),
                claims.key_id,
                source.describe(&root.root)
            );
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Inspect { root, token, now } => {
            let token = pt::token_from_input(&token);
            let claims = match clipstore_core::token::decode_unverified(token) {
                Ok(claims) => claims,
                // Cut short in its signature (a link copied in part): the
                // payload still says which order it is.
                Err(e) => match clipstore_core::token::decode_unverified_payload(token) {
                    Ok(claims) => {
                        print_claims(&claims);
                        println!("verifies:     no [{}]: {e}", e.code());
                        println!(
                            "              The link was cut short after its order. Send the customer a working one: `site-gen orders resend {}`.",
                            claims.order_id
                        );
                        return Ok(ExitCode::FAILURE);
                    }
                    Err(_) => return Err(e.to_string()),
                },
            };
            print_claims(&claims);
            let (ring, source) = match pt::keyring(&root.root) {
                Ok(r) => r,
                Err(e) => {
                    // A deployed shop's keys are the Worker's secret alone:
                    // what the owner can ask instead (stop 51's note).
                    println!("verifies:     unknown here ({e})");
                    println!(
                        "              Only the Worker has its keys: `site-gen orders show {}` says whether the order still downloads (revoked, expired, downloads left), and a link whose signature is wrong says \"not valid\" when opened.",
                        claims.order_id
                    );
                    return Ok(ExitCode::from(2));
                }
            };
            match pt::check(token, &ring, now.unwrap_or_else(unix_now)) {
                Ok(_) => {
                    println!("verifies:     yes (keys from {source})");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("verifies:     no [{}]: {e} (keys from {source})", e.code());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

/// What `token inspect` shows of a token's claims, verified or not.
fn print_claims(claims: &clipstore_core::Claims) {
    println!("order:        {}", claims.order_id);
    println!("clips:        {}", claims.items_text());
    println!("downloads:    {} per clip", claims.downloads);
    println!("issued:       {}", pt::show_time(claims.issued_at));
    println!("expires:      {}", pt::show_time(claims.expires_at));
    println!("key id:       {}", claims.key_id);
    if let Some(r) = &claims.customer_ref {
        println!("customer ref: {r}");
    }
}

fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    site_gen::front_matter::parse_date(s).ok_or_else(|| format!("not a date: {s}"))
}

/// Resolves a relative `--out`/`--manifest` against `--root`.
fn under(root: &std::path::Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        root.join(p)
    }
}

/// Asks Linux for no transparent huge pages in this process. mimalloc's
/// arenas would otherwise fault in 2 MiB pages, each zeroed whole by the
/// kernel however little of it is used: at 10,000 + 5,000 that zeroing was
/// about a third of a build's system time, and a tenth of its peak RSS
/// (docs/benchmarks.md, issue 16). Small pages are zeroed as they are touched.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    no_huge_pages();
    let cli = Cli::parse();
    match cli.command {
        Command::Build { root, .. } | Command::Check { root, .. } | Command::Serve { root, .. } if !root.is_shop() => {
            ExitCode::FAILURE
        }
        Command::Build { root, out, manifest, drafts, now } => {
            let root = root.root;
            let options = BuildOptions {
                out: match out {
                    Some(out) => under(&root, out),
                    None if drafts => site_gen::deployed_folder::drafts_default(&root),
                    None => root.join(DEFAULT_OUT),
                },
                manifest: under(&root, manifest),
                root,
                drafts,
                now: now.unwrap_or_else(Utc::now),
            };
            match site_gen::build(&options) {
                Ok(s) => {
                    // What was rendered, when pages were kept: an owner who
                    // wonders why a build was quick, or why a page did not change.
                    let kept = match s.pages_kept {
                        0 => String::new(),
                        kept => format!(
                            " ({} rendered; {kept} unchanged since the last build, taken from it)",
                            s.pages.saturating_sub(kept)
                        ),
                    };
                    println!(
                        "Built {} pages ({} clips, {} news posts, {} tags) and copied {} static files into {} in {:.2} s{kept}",
                        s.pages,
                        s.clips,
                        s.posts,
                        s.tags,
                        s.static_files,
                        options.out.display(),
                        s.elapsed.as_secs_f64()
                    );
                    if let Some(text) = s.left_out_text() {
                        println!("{text}");
                    }
                    if let Some(text) = s.gone_text() {
                        eprintln!("{text}");
                    }
                    if let Some(text) = s.catalog_changed_text(&options.root, &options.manifest) {
                        println!("{text}");
                    }
                    for warning in &s.warnings {
                        eprint!("{warning}");
                    }
                    let unfilled = site_gen::placeholders::in_settings(&options.root);
                    if unfilled > 0 {
                        eprintln!(
                            "warning: content/site.toml still has {unfilled} placeholder(s) ({}), shown on every page: \
                             fill them before you deploy; `site-gen check` lists them and any others",
                            site_gen::placeholders::MARK
                        );
                    }
                    if options.drafts {
                        println!(
                            "A preview with drafts, not for deploying: {} was left as it was, so the Worker never \
                             sells a draft; `site-gen serve --drafts` shows it",
                            options.manifest.display()
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(BuildError::Content(d)) => {
                    eprintln!("{d}");
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check { root, drafts, now } => {
            match site_gen::check(&root.root, drafts, now.unwrap_or_else(Utc::now)) {
                Ok(s) => {
                    let placeholders = site_gen::placeholders::scan(&root.root);
                    if !placeholders.is_empty() {
                        for d in placeholders.iter() {
                            eprintln!("{d}");
                        }
                        // What the shop would sell wrongly, and what it
                        // leaves out (a slip in a year), are said too, not
                        // only once the placeholders are filled: a new
                        // shop's wrangler.toml keeps one until the owner
                        // has a Cloudflare account.
                        if let Some(text) = s.left_out_text() {
                            eprintln!("{text}");
                        }
                        if let Some(text) = s.gone_text() {
                            eprintln!("{text}");
                        }
                        for warning in &s.warnings {
                            eprint!("{warning}");
                        }
                        eprintln!(
                            "{} placeholder(s) left to fill (marked {}): the shop builds, but fill them before you publish.",
                            placeholders.len(),
                            site_gen::placeholders::MARK
                        );
                        return ExitCode::FAILURE;
                    }
                    println!(
                    "All good: {} clips, {} news posts, {} pages rendered and every internal link resolves ({:.2} s)",
                    s.clips,
                    s.posts,
                    s.pages,
                    s.elapsed.as_secs_f64()
                );
                    if let Some(text) = s.left_out_text() {
                        println!("{text}");
                    }
                    if let Some(text) = s.gone_text() {
                        eprintln!("{text}");
                    }
                    for warning in &s.warnings {
                        eprint!("{warning}");
                    }
                    ExitCode::SUCCESS
                }
                Err(d) => {
                    eprintln!(
                        "{}",
                        d.to_string().replace("nothing was written.", "nothing was written (check only checks).")
                    );
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve { root, port, drafts, out } => {
            match site_gen::serve::run(site_gen::serve::ServeOptions { root: root.root, port, drafts, out }) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::New { root, kind, title } => match new::create(&root.root, kind, &title, Utc::now()) {
            Ok(path) => {
                println!(
                    "Created {}; replace its {} lines with your own text, then run `site-gen build`.",
                    path.display(),
                    site_gen::placeholders::MARK
                );
                if matches!(kind, new::Kind::Page) {
                    println!("A page is on the site (and in its menu) from the next build.");
                }
                if matches!(kind, new::Kind::Post) {
                    println!(
                        "It is a draft (left out of the site) until you delete its `draft = true` line; \
                         `site-gen serve --drafts` shows it while you write."
                    );
                }
                if matches!(kind, new::Kind::Clip) {
                    println!(
                        "It is a draft (left out of the site) until you delete its `draft = true` line. Put its video \
                         where its `file` line says, under media/ (or your --masters folder), and run \
                         `site-gen media`: it fills in the size, running time and details, and makes the poster."
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Media(args) => match site_gen::media::run(&args) {
            Ok(0) => ExitCode::SUCCESS,
            Ok(failed) => {
                eprintln!("{failed} clip(s) could not be done; the others are.");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Init { dir, title, clipstore } => {
            let clipstore = match clipstore.as_deref().map(site_gen::init::clipstore_checkout).transpose() {
                Ok(given) => given.or_else(site_gen::init::clipstore_of_current_exe),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let options = site_gen::init::InitOptions {
                title: title.as_deref(),
                clipstore: clipstore.as_deref(),
                now: Utc::now(),
            };
            match site_gen::init::create(&dir, &options) {
                Ok(files) => {
                    println!("Created a new shop in {} ({} files). Next:", dir.display(), files.len());
                    println!("  cd {}", site_gen::init::shell_quoted_if_needed(&dir.display().to_string()));
                    println!("  site-gen serve     # see it at http://127.0.0.1:1111 while you edit");
                    println!("  site-gen check     # lists the placeholders (CHANGE-ME) left to fill");
                    println!("README.md has the rest, up to publishing.");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Token(command) => token_command(command).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }),
        Command::Orders(args) => site_gen::orders::run(args).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }),
        Command::Push(args) => site_gen::push::run(args).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }),
        Command::Doctor(args) => site_gen::doctor::run(args).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }),
    }
}
