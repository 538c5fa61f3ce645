//! A loopback HTTP/1.1 server for the end-to-end tests' stand-ins (the
//! Worker's admin API, an S3 secondary origin): it reads each request whole
//! and hands it to the test's handler, one request per connection.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

/// One request as the client sent it.
pub struct Request {
    pub method: String,
    /// The request target: path and query, still percent-encoded.
    pub target: String,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of header `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// `METHOD target`, as the tests match and log requests.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.target)
    }

    /// Whether the `authorization` header carries bearer token `token`.
    pub fn has_bearer(&self, token: &str) -> bool {
        self.header("authorization") == Some(&format!("Bearer {token}"))
    }

    /// The body as JSON (panics when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// What the stand-in answers.
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// An empty answer with `status`.
    pub fn empty(status: u16) -> Self {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// `value` as an `application/json` body.
    pub fn json(status: u16, value: serde_json::Value) -> Self {
        Response::empty(status).header("content-type", "application/json").body(value.to_string())
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// Serves every connection to a fresh loopback port with `handler`, on a
/// thread of its own; returns `http://127.0.0.1:<port>`. A `content-length`
/// the handler set stands (a `HEAD` answer's), otherwise it is the body's.
pub fn serve(mut handler: impl FnMut(Request) -> Response + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let Some(request) = read_request(&mut BufReader::new(stream.try_clone().unwrap())) else { continue };
            let answer = handler(request);
            let mut head = format!("HTTP/1.1 {} {}\r\n", answer.status, reason(answer.status));
            for (k, v) in &answer.headers {
                head += &format!("{k}: {v}\r\n");
            }
            if !answer.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
                head += &format!("content-length: {}\r\n", answer.body.len());
            }
            head += "connection: close\r\n\r\n";
            // A client that hung up early is the client's business.
            let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&answer.body));
        }
    });
    base
}

fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().expect("a numeric content-length"));
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { method, target, headers, body })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        _ => "Status",
    }
}
