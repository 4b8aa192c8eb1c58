//! The load generator's HTTP/1.1: one keep-alive connection per client, requests written
//! from a template into a buffer the connection reuses, answers read with `httparse`.
//!
//! The load generator shares the machine's cores with the server and the database it
//! measures, so what it costs per request is taken from them: a general client (reqwest:
//! a URL parsed, a header map cloned and the credentials encoded per request, a pool and
//! its channels) cost some 27 µs of CPU a request on the 2-vCPU host of BENCHMARKS.md, a
//! tenth of a durable callback's whole budget; this costs a few.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Text with the places where a request's number (`{n}`) and value (`{v}`) go, also
/// percent-encoded (`%7Bn%7D`), as the URL parser leaves them.
pub struct Template {
    parts: Vec<Part>,
}

enum Part {
    Text(Vec<u8>),
    Number,
    Value,
}

/// Each place, and whether it holds the number (else the value).
const PLACES: [(&str, bool); 4] = [
    ("{n}", true),
    ("%7Bn%7D", true),
    ("{v}", false),
    ("%7Bv%7D", false),
];

impl Template {
    pub fn new(mut text: &str) -> Self {
        let mut parts = Vec::new();
        while let Some((at, place, number)) = PLACES
            .iter()
            .filter_map(|&(place, number)| text.find(place).map(|at| (at, place, number)))
            .min_by_key(|(at, _, _)| *at)
        {
            if at > 0 {
                parts.push(Part::Text(text.as_bytes()[..at].to_vec()));
            }
            parts.push(if number { Part::Number } else { Part::Value });
            text = &text[at + place.len()..];
        }
        if !text.is_empty() {
            parts.push(Part::Text(text.as_bytes().to_vec()));
        }
        Self { parts }
    }

    pub fn write(&self, out: &mut Vec<u8>, number: &[u8], value: &[u8]) {
        for part in &self.parts {
            out.extend_from_slice(match part {
                Part::Text(text) => text,
                Part::Number => number,
                Part::Value => value,
            });
        }
    }
}

/// One request, as it goes on the wire: the request line and headers up to the length,
/// and the body.
pub struct Request {
    head: Template,
    body: Option<Template>,
}

impl Request {
    /// `headers` are `Name: value` lines without their line ends; the `Host` header comes
    /// from `host`.
    pub fn new(
        method: &str,
        target: &str,
        host: &str,
        headers: &[String],
        body: Option<&str>,
    ) -> Self {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
        for header in headers {
            head.push_str(header);
            head.push_str("\r\n");
        }
        if body.is_none() {
            head.push_str("\r\n");
        }
        Self {
            head: Template::new(&head),
            body: body.map(Template::new),
        }
    }

    /// Writes request `number` (with `value`) into `out`, using `scratch` for the body.
    pub fn write(&self, out: &mut Vec<u8>, scratch: &mut Vec<u8>, number: &[u8], value: &[u8]) {
        out.clear();
        self.head.write(out, number, value);
        if let Some(body) = &self.body {
            scratch.clear();
            body.write(scratch, number, value);
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(scratch.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(scratch);
        }
    }
}

/// A keep-alive connection and its buffers.
pub struct Connection {
    stream: TcpStream,
    read: Vec<u8>,
}

/// What came back: the status, and whether the server closes the connection after it.
pub struct Answer {
    pub status: u16,
    pub closes: bool,
}

/// Larger answers are refused: the load generator measures callbacks and echoes.
const MAX_ANSWER: usize = 16 << 20;

impl Connection {
    pub async fn open(address: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            read: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sends `request` and reads the whole answer, its body included.
    pub async fn exchange(&mut self, request: &[u8]) -> std::io::Result<Answer> {
        self.stream.write_all(request).await?;
        self.read.clear();
        let (status, closes, head_len, framing) = loop {
            if let Some(head) = parse_head(&self.read)? {
                break head;
            }
            self.fill().await?;
        };
        match framing {
            Framing::Length(length) => {
                let end = head_len
                    .checked_add(length)
                    .filter(|end| *end <= MAX_ANSWER)
                    .ok_or_else(|| invalid("answer too large"))?;
                while self.read.len() < end {
                    self.fill().await?;
                }
            }
            Framing::Chunked => self.read_chunks(head_len).await?,
            Framing::UntilClose => while self.fill().await.is_ok() {},
        }
        let closes = closes || matches!(framing, Framing::UntilClose);
        Ok(Answer { status, closes })
    }

    /// Reads more of the answer; the end of the stream is an error.
    async fn fill(&mut self) -> std::io::Result<()> {
        if self.read.len() >= MAX_ANSWER {
            return Err(invalid("answer too large"));
        }
        self.read.reserve(8 * 1024);
        if self.stream.read_buf(&mut self.read).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    async fn read_chunks(&mut self, mut at: usize) -> std::io::Result<()> {
        loop {
            let (start, size) = loop {
                match httparse::parse_chunk_size(&self.read[at..]) {
                    Ok(httparse::Status::Complete((start, size))) => break (start, size),
                    Ok(httparse::Status::Partial) => self.fill().await?,
                    Err(_) => return Err(invalid("bad chunk size")),
                }
            };
            let size = usize::try_from(size).map_err(|_| invalid("chunk too large"))?;
            // The chunk and its line end; the last chunk is followed by an empty line
            // (trailers are not expected).
            at = at
                .checked_add(start + size + 2)
                .filter(|end| *end <= MAX_ANSWER)
                .ok_or_else(|| invalid("answer too large"))?;
            while self.read.len() < at {
                self.fill().await?;
            }
            if size == 0 {
                return Ok(());
            }
        }
    }
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// The status, whether the connection closes, the head's length and how the body ends;
/// `None` while the head is incomplete.
fn parse_head(bytes: &[u8]) -> std::io::Result<Option<(u16, bool, usize, Framing)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(invalid(&format!("bad answer: {error}"))),
    };
    let status = response.code.unwrap_or(0);
    let mut closes = false;
    let mut framing = if matches!(status, 100..=199 | 204 | 304) {
        Framing::Length(0)
    } else {
        Framing::UntilClose
    };
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .ok_or_else(|| invalid("bad content-length"))?;
            framing = Framing::Length(length);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            framing = Framing::Chunked;
        } else if header.name.eq_ignore_ascii_case("connection") {
            closes = header.value.eq_ignore_ascii_case(b"close");
        }
    }
    Ok(Some((status, closes, head_len, framing)))
}

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string())
}
