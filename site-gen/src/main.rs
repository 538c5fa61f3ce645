//! The shop owner's command line. Thin: every command calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use site_gen::{new, BuildError, BuildOptions, DEFAULT_MANIFEST, DEFAULT_OUT};

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

#[derive(Subcommand)]
enum Command {
    /// Build the site into public/ and write the catalog manifest.
    Build {
        #[command(flatten)]
        root: RootArg,
        /// Where to write the site (replaced as a whole when the build succeeds).
        #[arg(long, value_name = "DIR", default_value = DEFAULT_OUT)]
        out: PathBuf,
        /// Where to write the catalog manifest for the Worker (keep it outside the site).
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Build {
            root,
            out,
            manifest,
            drafts,
            now,
        } => {
            let root = root.root;
            let options = BuildOptions {
                out: under(&root, out),
                manifest: under(&root, manifest),
                root,
                drafts,
                now: now.unwrap_or_else(Utc::now),
            };
            match site_gen::build(&options) {
                Ok(s) => {
                    println!(
                        "Built {} pages ({} clips, {} news posts, {} tags) and copied {} static files into {} in {:.2} s",
                        s.pages,
                        s.clips,
                        s.posts,
                        s.tags,
                        s.static_files,
                        options.out.display(),
                        s.elapsed.as_secs_f64()
                    );
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
                    println!(
                    "All good: {} clips, {} news posts, {} pages rendered and every internal link resolves ({:.2} s)",
                    s.clips,
                    s.posts,
                    s.pages,
                    s.elapsed.as_secs_f64()
                );
                    ExitCode::SUCCESS
                }
                Err(d) => {
                    eprintln!(
                        "{}",
                        d.to_string().replace(
                            "nothing was written.",
                            "nothing was written (check only checks)."
                        )
                    );
                    ExitCode::FAILURE
                }
            }
        }
        Command::New { root, kind, title } => {
            match new::create(&root.root, kind, &title, Utc::now()) {
                Ok(path) => {
                    println!(
                        "Created {}; edit it, then run `site-gen build`.",
                        path.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
