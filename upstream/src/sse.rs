//! An incremental `text/event-stream` reader: bytes in, whole events out, each capped.

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Event {
    /// `event:` (empty for the default `message`).
    pub(crate) name: String,
    /// The `data:` lines, joined by `\n`.
    pub(crate) data: String,
}

/// Splits a byte stream into events. An event larger than the cap is an error: an upstream
/// must not make us buffer without bound.
pub(crate) struct Reader {
    buf: Vec<u8>,
    max_event: usize,
}

impl Reader {
    pub(crate) fn new(max_event: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_event,
        }
    }

    /// Adds `chunk`; returns the events it completed.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<Event>, String> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some((end, sep)) = boundary(&self.buf) {
            let raw: Vec<u8> = self.buf.drain(..end + sep).collect();
            if let Some(e) = parse(&raw[..end]) {
                out.push(e);
            }
        }
        if self.buf.len() > self.max_event {
            return Err(format!("an event is larger than {} bytes", self.max_event));
        }
        Ok(out)
    }
}

/// Where the first blank line is: its offset and the separator's length.
fn boundary(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < buf.len() {
        match (buf[i], buf[i + 1]) {
            (b'\n', b'\n') => return Some((i, 2)),
            (b'\r', b'\r') => return Some((i, 2)),
            (b'\r', b'\n') if buf.get(i + 2..i + 4) == Some(b"\r\n") => return Some((i, 4)),
            _ => i += 1,
        }
    }
    None
}

fn parse(raw: &[u8]) -> Option<Event> {
    let text = String::from_utf8_lossy(raw);
    let mut e = Event::default();
    let mut has_data = false;
    for line in text.split(['\n', '\r']).filter(|l| !l.is_empty()) {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => e.name = value.to_string(),
            "data" => {
                if has_data {
                    e.data.push('\n');
                }
                e.data.push_str(value);
                has_data = true;
            }
            _ => {}
        }
    }
    has_data.then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_separators() {
        let mut r = Reader::new(1024);
        assert!(r.push(b"event: endpoint\ndata: /m?s=1").unwrap().is_empty());
        let got = r
            .push(b"\n\n: keepalive\n\ndata: {\"a\":\ndata: 1}\r\n\r\nid: 3\ndata: x\r\r")
            .unwrap();
        assert_eq!(
            got,
            vec![
                Event {
                    name: "endpoint".into(),
                    data: "/m?s=1".into()
                },
                Event {
                    name: String::new(),
                    data: "{\"a\":\n1}".into()
                },
                Event {
                    name: String::new(),
                    data: "x".into()
                },
            ]
        );
        let mut small = Reader::new(8);
        assert!(small.push(b"data: 0123456789").is_err());
    }
}
