//! The examples' HTTP/1 head handling, with no I/O: what `http_server` answers to the bytes a
//! connection has sent so far, and how `wget` checks a response head line by line.
//!
//! Kept pure so the fuzz targets (`fuzz/fuzz_targets/http_head.rs`) include this very file with
//! `#[path]`, as the examples do; it needs `crate::http_date` next to it.

// Each example uses half of this.
#![allow(dead_code)]

use crate::http_date;

/// The longest request head the server accepts.
pub const MAX_HEAD: usize = 8 * 1024;
/// The longest request body the server accepts (and discards); a longer one gets `413` and a
/// close at once, before any of it is read.
pub const MAX_BODY: usize = 1024 * 1024;
/// The most headers a request may have.
pub const MAX_REQUEST_HEADERS: usize = 64;
/// The body of every `200` response.
pub const BODY: &str = "Hello, world!";

/// The longest response header line `wget` accepts, `\r\n` included.
pub const MAX_LINE: usize = 8 * 1024;
/// The most header lines `wget` accepts after the status line.
pub const MAX_RESPONSE_HEADERS: usize = 100;

/// What a batch of input asks for, once its complete requests are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    /// Input bytes used up (heads and bodies).
    pub consumed: usize,
    /// Body bytes of the last request still to come (to be skipped).
    pub skip: usize,
    /// Close once the responses are written.
    pub close: bool,
}

/// Answers every complete request at the front of `input` into `output`.
pub fn answer(input: &[u8], output: &mut Vec<u8>) -> Batch {
    http_date::with_now(|date| answer_at(input, output, date))
}

/// [`answer`] with a given `Date` header value.
pub fn answer_at(input: &[u8], output: &mut Vec<u8>, date: &str) -> Batch {
    let mut batch = Batch {
        consumed: 0,
        skip: 0,
        close: false,
    };
    while batch.consumed < input.len() {
        let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let rest = &input[batch.consumed..];
        let head_len = match request.parse(rest) {
            Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
            Ok(httparse::Status::Partial) if rest.len() < MAX_HEAD => break,
            // Too long, malformed, or too many headers.
            _ => return bad_request(batch, output, date, 400, "Bad Request"),
        };
        let Some(body_len) = body_length(request.headers).filter(|_| has_one_host(&request)) else {
            return bad_request(batch, output, date, 400, "Bad Request");
        };
        if body_len > MAX_BODY {
            return bad_request(batch, output, date, 413, "Content Too Large");
        }
        // The `Connection` lines together are one list (RFC 9110 §5.3): a `close` on any
        // of them counts, and the server must then answer no later request (RFC 9112 §9.6).
        let has = |token: &str| {
            named(request.headers, "connection").any(|h| {
                h.value
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
            })
        };
        batch.close = match request.version {
            Some(1) => has("close"),
            _ => !has("keep-alive"),
        };
        write_hello(
            output,
            date,
            request.method == Some("HEAD"),
            request.version,
            batch.close,
        );
        let body_here = body_len.min(rest.len() - head_len);
        batch.consumed += head_len + body_here;
        batch.skip = body_len - body_here;
        if batch.close || batch.skip > 0 {
            break;
        }
    }
    batch
}

/// An HTTP/1.1 request must have exactly one `Host`, with a valid value (RFC 9112 §3.2): with
/// none, two or a malformed one, which site is meant is a guess, and a proxy in front may guess
/// otherwise. HTTP/1.0 needs none (but may not have two, or a malformed one, either).
fn has_one_host(request: &httparse::Request) -> bool {
    let mut hosts = named(request.headers, "host");
    match (hosts.next(), hosts.next()) {
        (None, _) => request.version != Some(1),
        (Some(host), None) => valid_host(host.value),
        _ => false,
    }
}

/// `host[:port]` (RFC 9112 §3.2, RFC 3986 §3.2.2): a name (letters, digits and
/// `-._~!$&'()*+,;=%`, possibly empty) or an IPv4 address, or an IP literal in brackets; then
/// optionally `:` and digits. As nginx, refuses what cannot name a host: spaces, `/`, `@`, ...
fn valid_host(value: &[u8]) -> bool {
    let name_char = |b: &u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(b);
    let port = match value.strip_prefix(b"[") {
        Some(literal) => {
            let Some(end) = literal.iter().position(|&b| b == b']') else {
                return false;
            };
            let address = &literal[..end];
            if address.is_empty() || !address.iter().all(|b| name_char(b) || *b == b':') {
                return false;
            }
            &literal[end + 1..]
        }
        None => {
            let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
            if !value[..end].iter().all(name_char) {
                return false;
            }
            &value[end..]
        }
    };
    match port.strip_prefix(b":") {
        Some(digits) => digits.iter().all(u8::is_ascii_digit),
        None => port.is_empty(),
    }
}

/// The length of the body a request head announces, or `None` if where the request ends is
/// ambiguous: a proxy in front might then read the body's bytes as a request of its own
/// (request smuggling), so the request is refused and the connection closed, as nginx does.
///
/// Ambiguous: any `Transfer-Encoding` (this server decodes no transfer coding, so it cannot
/// find such a body's end, with or without a `Content-Length` beside it), two `Content-Length`s
/// that differ (identical ones are one length, RFC 9112 §6.3), or one that is not plain digits
/// (`+5`, `-0`, `0x5`, `5, 5`, empty, or too large).
fn body_length(headers: &[httparse::Header]) -> Option<usize> {
    if named(headers, "transfer-encoding").next().is_some() {
        return None;
    }
    let mut length = None;
    for header in named(headers, "content-length") {
        let digits = header.value.trim_ascii();
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        // Only ASCII digits: valid UTF-8, and `parse` sees no sign.
        let n: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
        if length.is_some_and(|first| first != n) {
            return None;
        }
        length = Some(n);
    }
    Some(length.unwrap_or(0))
}

/// The headers called `name` (any case).
fn named<'h, 'b>(
    headers: &'h [httparse::Header<'b>],
    name: &'h str,
) -> impl Iterator<Item = &'h httparse::Header<'b>> {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
}

fn write_hello(
    output: &mut Vec<u8>,
    date: &str,
    head_only: bool,
    version: Option<u8>,
    close: bool,
) {
    let connection = match (close, version) {
        (true, _) => "Connection: close\r\n",
        (false, Some(0)) => "Connection: keep-alive\r\n",
        (false, _) => "",
    };
    output.extend_from_slice(
        format!(
            "HTTP/1.1 200 OK\r\nServer: coring\r\nDate: {date}\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\n{connection}\r\n",
            BODY.len()
        )
        .as_bytes(),
    );
    if !head_only {
        output.extend_from_slice(BODY.as_bytes());
    }
}

/// An error response, after the responses already in `output`; then the connection closes.
fn bad_request(
    mut batch: Batch,
    output: &mut Vec<u8>,
    date: &str,
    code: u16,
    reason: &str,
) -> Batch {
    output.extend_from_slice(&response_at(date, code, reason));
    batch.close = true;
    batch
}

/// A response without a body that closes the connection.
pub fn response(code: u16, reason: &str) -> Vec<u8> {
    http_date::with_now(|date| response_at(date, code, reason))
}

fn response_at(date: &str, code: u16, reason: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {reason}\r\nServer: coring\r\nDate: {date}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// A response head as `wget` reads it: one line at a time, status line first.
#[derive(Debug, Default)]
pub struct ResponseHead {
    /// The lines so far, without their line endings.
    pub lines: Vec<String>,
}

impl ResponseHead {
    /// Takes the next line, `\n` included. `Ok(true)`: it was the blank line that ends the head.
    ///
    /// # Errors
    ///
    /// Why the line cannot be in a response head: not an HTTP response (the first line is not
    /// a status line, or is blank), or too many header lines.
    pub fn line(&mut self, line: &[u8]) -> Result<bool, String> {
        if line == b"\r\n" || line == b"\n" {
            // Before any status line, nothing said this is HTTP (RFC 9112 lets only a server
            // skip blank lines, before a request).
            return match self.lines.is_empty() {
                true => Err("not an HTTP response: a blank line before the status line".into()),
                false => Ok(true),
            };
        }
        if self.lines.is_empty() {
            check_status_line(line)?;
        } else if self.lines.len() > MAX_RESPONSE_HEADERS {
            return Err(format!("more than {MAX_RESPONSE_HEADERS} header lines"));
        }
        self.lines
            .push(printable(String::from_utf8_lossy(line).trim_end()));
        Ok(false)
    }
}

/// `text` with control characters (but tab) escaped as `\u{..}`: a header is printed to a
/// terminal, and a server must not be able to send it escape sequences.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// The status line must be `HTTP/1.x CODE REASON` (as `httparse` reads it).
fn check_status_line(line: &[u8]) -> Result<(), String> {
    let mut no_headers = [];
    match httparse::Response::new(&mut no_headers).parse(line) {
        // Partial: a valid status line, and (of course) no blank line after it yet.
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "not an HTTP response ({e}): {:?}",
            String::from_utf8_lossy(&line[..line.len().min(60)])
        )),
    }
}
