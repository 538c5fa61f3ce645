//! S3 presigned URLs (AWS Signature Version 4, query-string authentication)
//! of an object's `GET` or `HEAD`, for the secondary origin.
//!
//! Written here, over the `hmac` and `sha2` the module already carries,
//! instead of through `rusty-s3`: that crate signs `url::Url`s and formats
//! times with `jiff`, which together cost the Worker about 40 KB of gzipped
//! WebAssembly (docs/benchmarks.md, "Worker size") for the few lines of
//! protocol below. The tests check every URL against `rusty-s3` itself
//! (a dev-dependency) and against AWS's documented example; the secondary
//! e2e tests have a SigV4-checking S3 server (`s3s-fs`) accept them.
//!
//! What is signed: the method, the object's path, the `X-Amz-*` query
//! parameters and the `host` header; the payload is `UNSIGNED-PAYLOAD`, and
//! the `Range` and `If-Match` headers ride along unsigned, as S3 allows.

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use crate::monitor::hex;

/// What SigV4 leaves unencoded in a query value: the unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// The same in a path, where `/` separates segments.
const PATH: &AsciiSet = &QUERY_VALUE.remove(b'/');

/// The store's address, checked: `http[s]://host[:port]` with the host
/// lower-cased and the scheme's default port left out, as S3 expects the
/// signed `host` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https` or `http`.
    pub scheme: &'static str,
    /// Host name or IP literal (`[::1]` in brackets), lower-case.
    pub host: String,
    /// A port other than the scheme's default.
    pub port: Option<u16>,
}

/// Why an endpoint is not a store's address (shown with the setting's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointError {
    /// Not `http://` or `https://` followed by a host.
    NotAUrl,
    /// A path other than `/`, a query, a fragment or a user name.
    MoreThanAnAddress,
}

impl Endpoint {
    /// Parses `scheme://host[:port][/]`. Host names are ASCII (a Unicode
    /// domain is written in its `xn--` form); IPv6 literals are bracketed.
    pub fn parse(text: &str) -> Result<Endpoint, EndpointError> {
        let (scheme, rest) = text.split_once("://").ok_or(EndpointError::NotAUrl)?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "https" => "https",
            "http" => "http",
            _ => return Err(EndpointError::NotAUrl),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, after) = rest.split_at(end);
        if !(after.is_empty() || after == "/") || authority.contains('@') {
            return Err(EndpointError::MoreThanAnAddress);
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (inside, after) = v6.split_once(']').ok_or(EndpointError::NotAUrl)?;
                if inside.is_empty() || !inside.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
                    return Err(EndpointError::NotAUrl);
                }
                let port = match after {
                    "" => None,
                    _ => Some(after.strip_prefix(':').ok_or(EndpointError::NotAUrl)?),
                };
                (format!("[{inside}]"), port)
            }
            None => {
                let (host, port) = match authority.split_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (authority, None),
                };
                let labels_ok = host.split('.').all(|label| {
                    !label.is_empty()
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
                if !labels_ok {
                    return Err(EndpointError::NotAUrl);
                }
                (host.to_string(), port)
            }
        };
        let port = match port {
            None => None,
            Some(digits) if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) => {
                Some(digits.parse::<u16>().map_err(|_| EndpointError::NotAUrl)?)
            }
            Some(_) => return Err(EndpointError::NotAUrl),
        };
        let default_port = if scheme == "https" { 443 } else { 80 };
        Ok(Endpoint { scheme, host: host.to_ascii_lowercase(), port: port.filter(|p| *p != default_port) })
    }

    /// Whether the host is this machine (plain `http` is allowed only there).
    pub fn is_loopback(&self) -> bool {
        matches!(self.host.as_str(), "127.0.0.1" | "localhost" | "[::1]")
    }

    /// Whether the host is an IP literal (which a bucket name cannot prefix).
    pub fn is_ip(&self) -> bool {
        self.host.starts_with('[') || self.host.split('.').all(|l| l.chars().all(|c| c.is_ascii_digit()))
    }
}

/// Signs URLs of one bucket's objects with one key pair.
#[derive(Clone)]
pub struct Presigner {
    /// `scheme://host[:port]` of every URL.
    origin: String,
    /// The signed `host` header: `host[:port]`.
    host: String,
    /// `/bucket` (path style) or empty (virtual-hosted style).
    bucket_path: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
}

impl Presigner {
    /// `virtual_host`: `bucket.host/key` instead of `host/bucket/key`.
    /// The bucket name must already be valid (S3's naming rules).
    pub fn new(
        endpoint: &Endpoint,
        bucket: &str,
        virtual_host: bool,
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Presigner {
        let host_name = if virtual_host { format!("{bucket}.{}", endpoint.host) } else { endpoint.host.clone() };
        let host = match endpoint.port {
            Some(port) => format!("{host_name}:{port}"),
            None => host_name,
        };
        Presigner {
            origin: format!("{}://{host}", endpoint.scheme),
            host,
            bucket_path: if virtual_host { String::new() } else { format!("/{bucket}") },
            region: region.to_string(),
            access_key_id: access_key_id.to_string(),
            secret_access_key: secret_access_key.to_string(),
        }
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The URL of `method` (`GET` or `HEAD`) on object `key`, signed at
    /// `now_secs` (unix seconds) and valid for `expires_secs` after it.
    pub fn presign(&self, method: &str, key: &str, now_secs: u64, expires_secs: u64) -> String {
        let (date, time) = amz_date(now_secs);
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let path = format!("{}/{}", self.bucket_path, utf8_percent_encode(key, PATH));
        // Sorted by name, as the canonical request wants them.
        let query = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date={date}T{time}Z&X-Amz-Expires={expires_secs}&X-Amz-SignedHeaders=host",
            utf8_percent_encode(&format!("{}/{scope}", self.access_key_id), QUERY_VALUE),
        );
        let canonical_request = format!("{method}\n{path}\n{query}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD", self.host);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{date}T{time}Z\n{scope}\n{}",
            hex(&Sha256::digest(canonical_request.as_bytes()))
        );
        let mut key = hmac(format!("AWS4{}", self.secret_access_key).as_bytes(), date.as_bytes());
        for part in [self.region.as_str(), "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
        format!("{}{path}?{query}&X-Amz-Signature={signature}", self.origin)
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `(YYYYMMDD, HHMMSS)` in UTC of unix seconds
/// ([`clipstore_core::display::civil_date`]).
fn amz_date(secs: u64) -> (String, String) {
    let (year, month, day) = clipstore_core::display::civil_date(secs);
    let second_of_day = secs % 86_400;
    (
        format!("{year:04}{month:02}{day:02}"),
        format!("{:02}{:02}{:02}", second_of_day / 3_600, second_of_day / 60 % 60, second_of_day % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusty_s3::actions::{GetObject, HeadObject, S3Action};
    use rusty_s3::{Bucket, Credentials, UrlStyle};
    use std::time::Duration;

    const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn aws_documented_presigned_example() {
        // AWS's SigV4 query-string example (examplebucket/test.txt, 2013-05-24).
        let endpoint = Endpoint::parse("https://s3.amazonaws.com").unwrap();
        let signer = Presigner::new(&endpoint, "examplebucket", true, "us-east-1", KEY, SECRET);
        assert_eq!(
            signer.presign("GET", "test.txt", 1_369_353_600, 86_400),
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    /// A small deterministic generator (no `rand` in the tree for this).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.next() as usize % from.len()]
        }
    }

    #[test]
    fn every_url_is_the_one_rusty_s3_signs() {
        let endpoints = [
            "https://s3.eu-central-003.backblazeb2.com",
            "https://S3.Example.COM:443/",
            "https://s3.example.com:8443",
            "http://127.0.0.1:9000",
            "http://localhost:80",
            "http://[::1]:9000/",
        ];
        let keys = [
            "clips/harbour.mp4",
            "clips/Harbour at Dawn (4K).mov",
            "clips/café/ünïcode ✓.mp4",
            "a+b=c&d?e#f%g'h*i~j!k$l,m;n:o@p[q]r{s}t|u^v`w\"x<y>z\\.mp4",
            "/leading/slash.mp4",
            "clips//double.mp4",
        ];
        let buckets = ["saltglass-clips", "a.b.c", "bkt"];
        let regions = ["us-east-1", "eu-central-003", "auto"];
        let secrets = [SECRET, "K005abc/def+ghi==jklmnopqrstu", "~!@#$%^&*()_+`-={}|[]\\:\";'<>?,./abcdef"];
        let mut rng = Lcg(42);
        for round in 0..600 {
            let endpoint_text = rng.pick(&endpoints);
            let endpoint = Endpoint::parse(endpoint_text).unwrap();
            let virtual_host = round % 2 == 1 && !endpoint.is_ip();
            let (bucket, region, secret, key) =
                (rng.pick(&buckets), rng.pick(&regions), rng.pick(&secrets), rng.pick(&keys));
            // From 1970 to beyond 2100, across leap days and years.
            let now = rng.next() % 4_200_000_000 + if round % 7 == 0 { 951_782_400 } else { 0 };
            let expires = [1, 300, 86_400, 604_800][round % 4];
            let head = round % 3 == 0;

            let ours = Presigner::new(&endpoint, bucket, virtual_host, region, KEY, secret).presign(
                if head { "HEAD" } else { "GET" },
                key,
                now,
                expires,
            );

            let style = if virtual_host { UrlStyle::VirtualHost } else { UrlStyle::Path };
            let theirs_bucket =
                Bucket::new(endpoint_text.parse().unwrap(), style, bucket.to_string(), region.to_string()).unwrap();
            let credentials = Credentials::new(KEY, secret);
            let time = jiff::Timestamp::from_second(now as i64).unwrap();
            let duration = Duration::from_secs(expires);
            let theirs: String = if head {
                HeadObject::new(&theirs_bucket, Some(&credentials), key).sign_with_time(duration, &time).into()
            } else {
                GetObject::new(&theirs_bucket, Some(&credentials), key).sign_with_time(duration, &time).into()
            };
            assert_eq!(ours, theirs, "{endpoint_text} {bucket} {region} {key} at {now}");
        }
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(amz_date(0), ("19700101".into(), "000000".into()));
        assert_eq!(amz_date(951_782_400), ("20000229".into(), "000000".into()));
        assert_eq!(amz_date(4_107_542_399), ("21000228".into(), "235959".into()));
        assert_eq!(amz_date(4_107_542_400), ("21000301".into(), "000000".into()));
        assert_eq!(amz_date(1_796_244_245), ("20261202".into(), "204405".into()));
    }

    #[test]
    fn endpoints() {
        let parsed = |t: &str| Endpoint::parse(t).map(|e| (e.scheme, e.host, e.port));
        assert_eq!(parsed("https://S3.Example.com"), Ok(("https", "s3.example.com".into(), None)));
        assert_eq!(parsed("https://s3.example.com:443/"), Ok(("https", "s3.example.com".into(), None)));
        assert_eq!(parsed("http://127.0.0.1:9000"), Ok(("http", "127.0.0.1".into(), Some(9000))));
        assert_eq!(parsed("http://[::1]:80"), Ok(("http", "[::1]".into(), None)));
        assert_eq!(parsed("HTTPS://s3.example.com:8443/"), Ok(("https", "s3.example.com".into(), Some(8443))));
        for not_a_url in [
            "s3.example.com",
            "ftp://s3.example.com",
            "https://",
            "https://s3 example.com",
            "https://s3.example.com:",
            "https://s3.example.com:99999",
            "https://s3.example.com:+1",
            "https://-s3.example.com",
            "https://s3..example.com",
            "https://[::1",
            "https://[nope]",
            "https://s3.exämple.com",
        ] {
            assert_eq!(Endpoint::parse(not_a_url), Err(EndpointError::NotAUrl), "{not_a_url}");
        }
        for more in [
            "https://s3.example.com/bucket",
            "https://s3.example.com?x=1",
            "https://s3.example.com/#x",
            "https://user@s3.example.com",
            "https://user:pw@s3.example.com",
        ] {
            assert_eq!(Endpoint::parse(more), Err(EndpointError::MoreThanAnAddress), "{more}");
        }
        assert!(Endpoint::parse("http://localhost:9000").unwrap().is_loopback());
        assert!(!Endpoint::parse("http://127.0.0.2:9000").unwrap().is_loopback());
        assert!(Endpoint::parse("http://10.1.2.3").unwrap().is_ip());
        assert!(!Endpoint::parse("https://s3.example.com").unwrap().is_ip());
    }
}
