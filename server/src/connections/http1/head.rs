//! Request heads in, response heads out.

use std::cell::RefCell;
use std::time::SystemTime;

use poem::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use poem::http::{request, Method, StatusCode, Uri, Version};

/// Most header lines a request may have (hyper's default too); more get 431.
pub(super) const MAX_HEADERS: usize = 100;

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head, with what the connection needs to know about it.
pub(super) struct Head {
    pub parts: request::Parts,
    pub framing: Framing,
    /// The client may send another request on this connection after this one.
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before it sends the body.
    pub expect_continue: bool,
}

/// Why a head was refused; the connection answers with the status and closes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// Not a well-formed HTTP/1 request (400).
    Malformed(&'static str),
    /// More than [`MAX_HEADERS`] header lines (431).
    TooManyHeaders,
    /// A transfer coding other than `chunked` last (501).
    UnsupportedCoding,
}

impl Refused {
    pub(super) fn status(&self) -> StatusCode {
        match self {
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::TooManyHeaders => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UnsupportedCoding => StatusCode::NOT_IMPLEMENTED,
        }
    }
}

/// Parses a head from the start of `buf`: `Ok(None)` while it is incomplete, else the head
/// and its length in bytes. Names and values are copied out of `buf`, so the read buffer is
/// not kept alive by a request that lives long (a stream).
pub(super) fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, Refused> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refused::TooManyHeaders),
        Err(_) => return Err(Refused::Malformed("malformed request head")),
    };
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
        .map_err(|_| Refused::Malformed("bad method"))?;
    let uri: Uri = req
        .path
        .unwrap_or_default()
        .parse()
        .map_err(|_| Refused::Malformed("bad request target"))?;
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| Refused::Malformed("bad header name"))?;
        let value =
            HeaderValue::from_bytes(h.value).map_err(|_| Refused::Malformed("bad header value"))?;
        headers.append(name, value);
    }
    check_host(&headers, version)?;
    let framing = framing(&headers, version)?;
    let keep_alive = keep_alive(&headers, version);
    let expect_continue = version == Version::HTTP_11
        && headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (mut parts, ()) = poem::http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = version;
    parts.headers = headers;
    Ok(Some((
        Head {
            parts,
            framing,
            keep_alive,
            expect_continue,
        },
        len,
    )))
}

/// Whether `buf` holds a blank line (the end of a head) that ends after byte `from`: only the
/// bytes that arrived since the last look (and the three before, which may start it) are read.
pub(super) fn ends_within(buf: &[u8], from: usize) -> bool {
    let start = from.saturating_sub(3).min(buf.len());
    let tail = &buf[start..];
    tail.iter().enumerate().any(|(i, b)| {
        *b == b'\n' && (tail.get(i + 1) == Some(&b'\n') || tail.get(i + 1..i + 3) == Some(b"\r\n"))
    })
}

/// RFC 9112 §3.2: an HTTP/1.1 request names exactly one `Host`, any request at most one, in
/// visible ASCII. Two would let a proxy in front and this server route by different ones, and
/// the DNS-rebinding guard reads the first.
fn check_host(headers: &HeaderMap, version: Version) -> Result<(), Refused> {
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if version == Version::HTTP_11 => Err(Refused::Malformed("no host header")),
        (_, Some(_)) => Err(Refused::Malformed("more than one host header")),
        (Some(h), None) if h.to_str().is_err() => Err(Refused::Malformed("bad host header")),
        _ => Ok(()),
    }
}

/// RFC 9112 §6.3, strictly: a request with both `Transfer-Encoding` and `Content-Length`, or
/// with lengths that disagree, is refused rather than guessed at (request smuggling).
fn framing(headers: &HeaderMap, version: Version) -> Result<Framing, Refused> {
    let mut codings = headers.get_all(header::TRANSFER_ENCODING).iter().peekable();
    if codings.peek().is_some() {
        if version == Version::HTTP_10 {
            return Err(Refused::Malformed(
                "transfer-encoding in an HTTP/1.0 request",
            ));
        }
        if headers.contains_key(header::CONTENT_LENGTH) {
            return Err(Refused::Malformed(
                "both transfer-encoding and content-length",
            ));
        }
        let mut last = None;
        let mut count = 0usize;
        for v in codings {
            let v = v
                .to_str()
                .map_err(|_| Refused::Malformed("bad transfer-encoding"))?;
            for c in v.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                if last.is_some_and(|l: &str| l.eq_ignore_ascii_case("chunked")) {
                    // Chunked must be applied last, and once.
                    return Err(Refused::Malformed(
                        "chunked is not the last transfer coding",
                    ));
                }
                last = Some(c);
                count += 1;
            }
        }
        // Chunked alone: a coding before it (`gzip, chunked`) would reach the handler still
        // encoded, so it is refused like any coding this server cannot undo.
        return match last {
            Some(c) if count == 1 && c.eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
            _ => Err(Refused::UnsupportedCoding),
        };
    }
    let mut length = None;
    for v in headers.get_all(header::CONTENT_LENGTH) {
        for part in v.as_bytes().split(|b| *b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(Refused::Malformed("bad content-length"));
            }
            let n: u64 = std::str::from_utf8(part)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(Refused::Malformed("bad content-length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(Refused::Malformed("content-lengths disagree"));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        None | Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
    })
}

fn keep_alive(headers: &HeaderMap, version: Version) -> bool {
    let mut close = false;
    let mut keep = false;
    for v in headers.get_all(header::CONNECTION) {
        for token in v.as_bytes().split(|b| *b == b',') {
            let token = token.trim_ascii();
            close |= token.eq_ignore_ascii_case(b"close");
            keep |= token.eq_ignore_ascii_case(b"keep-alive");
        }
    }
    !close && (version == Version::HTTP_11 || keep)
}

/// How the response's body goes out, decided from the request and the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Out {
    /// Nothing after the head (`HEAD`, 1xx, 204, 304).
    Nothing,
    /// Exactly this many bytes (a `Content-Length` is sent).
    Length(u64),
    /// Chunks.
    Chunked,
    /// Raw bytes until the connection closes (an HTTP/1.0 client and no length known).
    UntilClose,
}

/// Writes the response head into `out` and says how the body must follow. `length` is the
/// body's exact size when known; `keep_alive` is whether the connection stays open after.
pub(super) fn encode(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    method: &Method,
    version: Version,
    length: Option<u64>,
    keep_alive: &mut bool,
) -> Out {
    let bodiless = method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    // A length the application set itself stands; otherwise one is added when known.
    let stated = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let framing = if bodiless {
        Out::Nothing
    } else if let Some(n) = stated.or(length) {
        Out::Length(n)
    } else if version == Version::HTTP_11 {
        Out::Chunked
    } else {
        *keep_alive = false;
        Out::UntilClose
    };
    if headers
        .get(header::CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
    {
        *keep_alive = false;
    }
    out.extend_from_slice(if version == Version::HTTP_10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        // Framing is ours to state; the application's transfer-encoding and connection
        // headers would contradict it.
        if name == header::TRANSFER_ENCODING || name == header::CONNECTION {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !headers.contains_key(header::DATE) {
        out.extend_from_slice(b"date: ");
        with_date(|d| out.extend_from_slice(d));
        out.extend_from_slice(b"\r\n");
    }
    // A HEAD answer states the length its GET would have; 1xx, 204 and 304 state none.
    let announced = match framing {
        Out::Length(n) => Some(n),
        Out::Nothing if method == Method::HEAD => length,
        _ => None,
    };
    match announced {
        Some(n) if stated.is_none() => {
            use std::io::Write as _;
            let _ = write!(out, "content-length: {n}\r\n");
        }
        _ => {}
    }
    if framing == Out::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if !*keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    framing
}

thread_local! {
    /// The `Date` header's text, formatted once per second per worker thread.
    static DATE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

fn with_date(f: impl FnOnce(&[u8])) {
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs || d.1.is_empty() {
            *d = (secs, httpdate::fmt_http_date(now));
        }
        f(d.1.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text`, giving an HTTP/1.1 head without a `Host` one (what every test but the
    /// host ones means).
    fn head(text: &str) -> Result<Option<(Head, usize)>, Refused> {
        let lacks_host = !text.to_ascii_lowercase().contains("\nhost:");
        match text.split_once("HTTP/1.1\r\n") {
            Some((line, rest)) if lacks_host => {
                parse(format!("{line}HTTP/1.1\r\nhost: a\r\n{rest}").as_bytes())
            }
            _ => parse(text.as_bytes()),
        }
    }

    #[test]
    fn host_is_required_once() {
        for bad in [
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(Refused::Malformed(_))),
                "{bad:?}"
            );
        }
        let bytes = b"GET / HTTP/1.1\r\nHost: \xff\r\n\r\n";
        assert!(matches!(parse(bytes), Err(Refused::Malformed(_))));
        assert!(parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
        assert!(parse(b"GET / HTTP/1.1\r\nHost:\r\n\r\n").unwrap().is_some());
    }

    #[test]
    fn a_complete_head_is_parsed_and_a_partial_one_waits() {
        let text = "POST /e/mcp?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
        let (h, len) = head(text).unwrap().unwrap();
        assert_eq!(len, text.len() - 5);
        assert_eq!(h.parts.method, Method::POST);
        assert_eq!(h.parts.uri.path(), "/e/mcp");
        assert_eq!(h.parts.uri.query(), Some("x=1"));
        assert_eq!(h.parts.headers["host"], "a");
        assert_eq!(h.framing, Framing::Length(5));
        assert!(h.keep_alive && !h.expect_continue);
        assert!(head("GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
    }

    #[test]
    fn the_end_of_a_head_is_found_across_reads() {
        let head = b"GET / HTTP/1.1\r\nhost: a\r\n\r\n";
        // Fed a byte at a time, the end shows exactly when its last byte is in.
        for n in 1..=head.len() {
            let ends = ends_within(&head[..n], n - 1);
            assert_eq!(ends, n == head.len(), "{n}");
        }
        assert!(ends_within(b"GET / HTTP/1.0\n\n", 15));
        assert!(!ends_within(b"GET / HTTP/1.1\r\nhost: a\r\n", 0));
    }

    /// Whatever a client sends, parsing answers without panicking, and a head it accepts has
    /// a length within the input (a small deterministic generator, no extra crates).
    #[test]
    fn arbitrary_heads_never_panic() {
        let pieces: [&[u8]; 14] = [
            b"GET ",
            b"POST ",
            b"/x?y=1 ",
            b"HTTP/1.1",
            b"HTTP/1.0",
            b"\r\n",
            b"\n",
            b"content-length: 12",
            b"transfer-encoding: chunked",
            b"a: b",
            b":",
            b" ",
            b"\0",
            b"\xff",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut input = Vec::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut r = seed;
            for _ in 0..(r % 12) {
                input.extend_from_slice(pieces[(r % 14) as usize]);
                r = r.rotate_right(5) ^ 0x9e37_79b9;
            }
            if let Ok(Some((_, len))) = parse(&input) {
                assert!(len <= input.len());
            }
        }
    }

    #[test]
    fn framing_is_strict() {
        let chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(head(chunked).unwrap().unwrap().0.framing, Framing::Chunked);
        // A coding under chunked would reach the handler still encoded.
        assert!(matches!(
            head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Err(Refused::UnsupportedCoding)
        ));
        for bad in [
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3x\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /\u{1} HTTP/1.1\r\n\r\n",
        ] {
            assert!(matches!(head(bad), Err(Refused::Malformed(_))), "{bad:?}");
        }
        assert!(matches!(
            head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Err(Refused::UnsupportedCoding)
        ));
        let same = "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n";
        assert_eq!(head(same).unwrap().unwrap().0.framing, Framing::Length(3));
        let zero = "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(head(zero).unwrap().unwrap().0.framing, Framing::Empty);
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut text = String::from("GET / HTTP/1.1\r\n");
        for i in 0..=MAX_HEADERS {
            text.push_str(&format!("x-{i}: y\r\n"));
        }
        text.push_str("\r\n");
        let refused = head(&text).err().unwrap();
        assert_eq!(
            refused.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }

    #[test]
    fn keep_alive_follows_the_version_and_the_connection_header() {
        let ka = |t: &str| head(t).unwrap().unwrap().0.keep_alive;
        assert!(ka("GET / HTTP/1.1\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        let e = head("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert!(e.unwrap().unwrap().0.expect_continue);
    }

    #[test]
    fn response_heads_state_their_framing() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let mut out = Vec::new();
        let mut ka = true;
        let f = encode(
            &mut out,
            StatusCode::OK,
            &headers,
            &Method::GET,
            Version::HTTP_11,
            Some(2),
            &mut ka,
        );
        assert_eq!(f, Out::Length(2));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ndate: "));
        assert!(text.ends_with("content-length: 2\r\n\r\n"), "{text}");
        assert!(ka);

        let mut out = Vec::new();
        let f = encode(
            &mut out,
            StatusCode::OK,
            &headers,
            &Method::GET,
            Version::HTTP_11,
            None,
            &mut ka,
        );
        assert_eq!(f, Out::Chunked);
        assert!(String::from_utf8(out)
            .unwrap()
            .ends_with("transfer-encoding: chunked\r\n\r\n"));

        let mut out = Vec::new();
        let f = encode(
            &mut out,
            StatusCode::OK,
            &headers,
            &Method::GET,
            Version::HTTP_10,
            None,
            &mut ka,
        );
        assert_eq!(f, Out::UntilClose);
        assert!(!ka);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.0 200 OK\r\n"));
        assert!(text.ends_with("connection: close\r\n\r\n"));

        let mut ka = true;
        let mut out = Vec::new();
        let f = encode(
            &mut out,
            StatusCode::NO_CONTENT,
            &HeaderMap::new(),
            &Method::POST,
            Version::HTTP_11,
            Some(0),
            &mut ka,
        );
        assert_eq!(f, Out::Nothing);
        assert!(!String::from_utf8(out).unwrap().contains("content-length"));
    }
}
