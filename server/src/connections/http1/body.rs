//! Request bodies: decoded from the connection's buffer by its task, handed to the handler
//! through a channel of one chunk (the handler's reading paces the socket's).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http_body::Frame;
use tokio::sync::{mpsc, oneshot};

use super::head::Framing;

/// Longest chunk-size line with its extensions, and all trailer lines together.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILERS: usize = 16 * 1024;

/// The handler's end of a request body.
pub(super) struct RequestBody {
    pub rx: mpsc::Receiver<io::Result<Bytes>>,
    /// Fired at the first read: the connection starts reading the body then (and sends
    /// `100 Continue` when the client asked for it).
    pub wanted: Option<oneshot::Sender<()>>,
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(w) = self.wanted.take() {
            let _ = w.send(());
        }
        self.rx.poll_recv(cx).map(|c| c.map(|r| r.map(Frame::data)))
    }
}

/// What one step of decoding gave.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    Data(Bytes),
    /// The buffer holds no more of the body; read more.
    NeedMore,
    /// The body is complete.
    Done,
}

/// Decodes a body out of the connection's read buffer.
#[derive(Debug)]
pub(super) enum Decoder {
    Length(u64),
    Chunked(Chunked),
    Done,
}

#[derive(Debug)]
pub(super) enum Chunked {
    /// Reading the size's hex digits.
    Size {
        size: u64,
        digits: u8,
        line: usize,
    },
    /// Whitespace after the size's digits: only more of it, an extension or the line's end
    /// may follow (`5 junk` is refused, not read as 5).
    SizeWs {
        size: u64,
        line: usize,
    },
    /// Skipping extensions up to the line's end.
    Extension {
        size: u64,
        line: usize,
    },
    SizeLf {
        size: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart {
        seen: usize,
    },
    TrailerLine {
        seen: usize,
    },
    /// A trailer line's CR: only LF may follow. Every line of the chunked coding ends in CRLF;
    /// a bare LF accepted here but not by a proxy in front would let the two disagree on
    /// where the body ends (request smuggling).
    TrailerLf {
        seen: usize,
    },
    EndLf,
}

impl Decoder {
    pub(super) fn new(framing: Framing) -> Self {
        match framing {
            Framing::Empty => Self::Done,
            Framing::Length(n) => Self::Length(n),
            Framing::Chunked => Self::Chunked(Chunked::Size {
                size: 0,
                digits: 0,
                line: 0,
            }),
        }
    }

    pub(super) fn is_done(&self) -> bool {
        matches!(self, Self::Done | Self::Length(0))
    }

    /// Takes the next piece of the body out of `buf`.
    pub(super) fn step(&mut self, buf: &mut BytesMut) -> Result<Step, &'static str> {
        loop {
            match self {
                Self::Done | Self::Length(0) => {
                    *self = Self::Done;
                    return Ok(Step::Done);
                }
                Self::Length(left) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                    *left -= take as u64;
                    return Ok(Step::Data(buf.split_to(take).freeze()));
                }
                Self::Chunked(state) => {
                    if let Chunked::Data(left) = state {
                        if buf.is_empty() {
                            return Ok(Step::NeedMore);
                        }
                        let take = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                        *left -= take as u64;
                        if *left == 0 {
                            *state = Chunked::DataCr;
                        }
                        return Ok(Step::Data(buf.split_to(take).freeze()));
                    }
                    let Some(&b) = buf.first() else {
                        return Ok(Step::NeedMore);
                    };
                    buf.advance(1);
                    if let Some(next) = chunked_byte(state, b)? {
                        *state = next;
                    }
                    if matches!(state, Chunked::EndLf) && b == b'\n' {
                        *self = Self::Done;
                    }
                }
            }
        }
    }
}

/// One control byte of the chunked coding; `Some` is the next state.
fn chunked_byte(state: &mut Chunked, b: u8) -> Result<Option<Chunked>, &'static str> {
    Ok(Some(match *state {
        Chunked::Size { size, digits, line } => {
            if line >= MAX_CHUNK_LINE {
                return Err("chunk size line too long");
            }
            match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    if digits >= 15 {
                        return Err("chunk size too large");
                    }
                    let d = u64::from((b as char).to_digit(16).unwrap_or(0));
                    Chunked::Size {
                        size: size * 16 + d,
                        digits: digits + 1,
                        line: line + 1,
                    }
                }
                _ if digits == 0 => return Err("chunk size missing"),
                b';' => Chunked::Extension {
                    size,
                    line: line + 1,
                },
                b' ' | b'\t' => Chunked::SizeWs {
                    size,
                    line: line + 1,
                },
                b'\r' => Chunked::SizeLf { size },
                _ => return Err("bad chunk size"),
            }
        }
        Chunked::SizeWs { size, line } => {
            if line >= MAX_CHUNK_LINE {
                return Err("chunk size line too long");
            }
            match b {
                b' ' | b'\t' => Chunked::SizeWs {
                    size,
                    line: line + 1,
                },
                b';' => Chunked::Extension {
                    size,
                    line: line + 1,
                },
                b'\r' => Chunked::SizeLf { size },
                _ => return Err("bad chunk size"),
            }
        }
        Chunked::Extension { size, line } => {
            if line >= MAX_CHUNK_LINE {
                return Err("chunk extension too long");
            }
            match b {
                b'\r' => Chunked::SizeLf { size },
                b'\n' => return Err("bare LF in chunk line"),
                _ => Chunked::Extension {
                    size,
                    line: line + 1,
                },
            }
        }
        Chunked::SizeLf { size } => match b {
            b'\n' if size == 0 => Chunked::TrailerStart { seen: 0 },
            b'\n' => Chunked::Data(size),
            _ => return Err("bad chunk line end"),
        },
        Chunked::Data(_) => return Ok(None),
        Chunked::DataCr => match b {
            b'\r' => Chunked::DataLf,
            _ => return Err("chunk data longer than its size"),
        },
        Chunked::DataLf => match b {
            b'\n' => Chunked::Size {
                size: 0,
                digits: 0,
                line: 0,
            },
            _ => return Err("bad chunk data end"),
        },
        Chunked::TrailerStart { seen } => match b {
            b'\r' => Chunked::EndLf,
            b'\n' => return Err("bare LF in trailers"),
            _ => Chunked::TrailerLine { seen: seen + 1 },
        },
        Chunked::TrailerLine { seen } => {
            if seen >= MAX_TRAILERS {
                return Err("trailers too long");
            }
            match b {
                b'\r' => Chunked::TrailerLf { seen: seen + 1 },
                b'\n' => return Err("bare LF in trailers"),
                _ => Chunked::TrailerLine { seen: seen + 1 },
            }
        }
        Chunked::TrailerLf { seen } => match b {
            b'\n' => Chunked::TrailerStart { seen: seen + 1 },
            _ => return Err("bare CR in trailers"),
        },
        Chunked::EndLf => match b {
            b'\n' => Chunked::EndLf,
            _ => return Err("bad end of chunked body"),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` fed in pieces of `step` bytes; the body, or the error.
    fn decode(framing: Framing, wire: &[u8], step: usize) -> Result<(Vec<u8>, usize), String> {
        let mut d = Decoder::new(framing);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            match d.step(&mut buf).map_err(str::to_string)? {
                Step::Data(b) => out.extend_from_slice(&b),
                Step::Done => return Ok((out, buf.len() + wire.len() - fed)),
                Step::NeedMore => {
                    if fed == wire.len() {
                        return Err("incomplete".into());
                    }
                    let n = step.min(wire.len() - fed);
                    buf.extend_from_slice(&wire[fed..fed + n]);
                    fed += n;
                }
            }
        }
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_read_sizes() {
        let wire = b"5;ext=1\r\nhello\r\nB\r\n, chunked!!\r\n0\r\nx-trailer: 1\r\n\r\nGET /next";
        for step in [1, 2, 3, 7, 100] {
            let (body, left) = decode(Framing::Chunked, wire, step).unwrap();
            assert_eq!(body, b"hello, chunked!!", "step {step}");
            // What follows the body stays for the next request.
            assert_eq!(left, b"GET /next".len(), "step {step}");
        }
        let (body, _) = decode(Framing::Chunked, b"0\r\n\r\n", 1).unwrap();
        assert!(body.is_empty());
        // Whitespace before an extension or the line's end is allowed (RFC 9112's BWS).
        let (body, _) = decode(Framing::Chunked, b"2 \t;a=b\r\nhi\r\n0 \r\n\r\n", 1).unwrap();
        assert_eq!(body, b"hi");
    }

    #[test]
    fn bad_chunked_bodies_are_errors() {
        for bad in [
            &b"\r\n"[..],
            b"g\r\n",
            b"5\r\nhello!\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"fffffffffffffffff\r\n",
            b"0\r\n\r\x00",
            // Junk after the size's whitespace is not an extension.
            b"5 junk\r\nhello\r\n0\r\n\r\n",
            // Trailer lines end in CRLF like every other line: a bare LF (or CR) would let a
            // proxy in front and this server disagree on where the body ends.
            b"0\r\n\nGET /admin HTTP/1.1\r\n\r\n",
            b"0\r\nx-trailer: 1\n\r\n",
            b"0\r\nx-trailer: 1\r\r\n\r\n",
        ] {
            assert!(decode(Framing::Chunked, bad, 1).is_err(), "{bad:?}");
        }
        let long_line = [b"1;".as_slice(), &[b'x'; MAX_CHUNK_LINE]].concat();
        assert!(decode(Framing::Chunked, &long_line, 64)
            .unwrap_err()
            .contains("too long"));
        let mut trailers = b"0\r\n".to_vec();
        trailers.extend(std::iter::repeat_n(b'x', MAX_TRAILERS + 1));
        assert!(decode(Framing::Chunked, &trailers, 512)
            .unwrap_err()
            .contains("too long"));
    }

    /// Random bytes, fed in random pieces, end in data, an error or a wish for more: never a
    /// panic, and never more data out than came in.
    #[test]
    fn arbitrary_chunked_input_never_panics() {
        let alphabet = b"0123456789abcdefABCDEFxz;= \t\r\n";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..5_000 {
            let len = (next() % 64) as usize;
            let wire: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let step = 1 + (next() % 8) as usize;
            if let Ok((body, _)) = decode(Framing::Chunked, &wire, step) {
                assert!(body.len() <= wire.len());
            }
        }
    }

    #[test]
    fn length_bodies_stop_at_their_length() {
        let (body, left) = decode(Framing::Length(5), b"helloGET", 3).unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(left, 3);
        assert_eq!(
            decode(Framing::Length(5), b"hel", 3).unwrap_err(),
            "incomplete"
        );
    }
}
