//! The load generator's HTTP/1.1: one keep-alive connection per client, requests written
//! from a template into a buffer the connection reuses, answers read with `httparse`.
//!
//! The load generator shares the machine's cores with the server and the database it
//! measures, so what it costs per request is taken from them: a general client (reqwest:
//! a URL parsed, a header map cloned and the credentials encoded per request, a pool and
//! its channels) cost 26–33 µs of CPU a durable callback on the 2-vCPU host of
//! BENCHMARKS.md, a tenth of the callback's whole budget; this costs 6–7.
//!
//! Values go into the request as they are: they must be valid where they go (the serial
//! numbers of `callback_setup` are URL-safe). No request is pipelined, so an answer's
//! every byte belongs to the request just sent.

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
            out.extend_from_slice(itoa::Buffer::new().format(scratch.len()).as_bytes());
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(scratch);
        }
    }
}

/// A keep-alive connection and its buffers.
pub struct Connection {
    stream: TcpStream,
    read: Vec<u8>,
    /// It answered before: failing before the first byte of the next answer, it was
    /// closed by the server while idle.
    answered_before: bool,
}

/// What came back: the status, and whether the server closes the connection after it.
pub struct Answer {
    pub status: u16,
    pub closes: bool,
}

/// Why an exchange failed.
pub enum Failed {
    /// The connection had answered before and broke before any byte of this answer (the
    /// server closed it while idle, as hyper's pool would have noticed): the request may
    /// go again on a new connection.
    Stale,
    Io(std::io::Error),
}

/// Larger answers are refused: the load generator measures callbacks and echoes.
const MAX_ANSWER: usize = 16 << 20;

impl Connection {
    /// Connects to the first of `addresses` that accepts.
    pub async fn open(addresses: &[SocketAddr]) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addresses).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            read: Vec::with_capacity(16 * 1024),
            answered_before: false,
        })
    }

    /// Sends `request` and reads the whole answer, its body included.
    pub async fn exchange(&mut self, request: &[u8]) -> Result<Answer, Failed> {
        self.read.clear();
        let answer = self.send_and_read(request).await;
        match answer {
            Ok(answer) => {
                self.answered_before = true;
                Ok(answer)
            }
            Err(_) if self.answered_before && self.read.is_empty() => Err(Failed::Stale),
            Err(error) => Err(Failed::Io(error)),
        }
    }

    async fn send_and_read(&mut self, request: &[u8]) -> std::io::Result<Answer> {
        self.stream.write_all(request).await?;
        let head = self.read_final_head().await?;
        let end = match head.framing {
            Framing::Length(length) => {
                let end = head
                    .length
                    .checked_add(length)
                    .filter(|end| *end <= MAX_ANSWER)
                    .ok_or_else(|| invalid("answer too large"))?;
                while self.read.len() < end {
                    self.fill().await?;
                }
                end
            }
            Framing::Chunked => self.read_chunks(head.length).await?,
            Framing::UntilClose => self.read_to_close().await?,
        };
        if self.read.len() > end {
            return Err(invalid("bytes after the answer (none was asked for)"));
        }
        let closes = head.closes || matches!(head.framing, Framing::UntilClose);
        Ok(Answer {
            status: head.status,
            closes,
        })
    }

    /// The answer's head, past any interim (1xx) answers, which are dropped from the
    /// buffer; `length` is then the head's.
    async fn read_final_head(&mut self) -> std::io::Result<Head> {
        loop {
            match parse_head(&self.read)? {
                Some(head) if (100..200).contains(&head.status) && head.status != 101 => {
                    self.read.drain(..head.length);
                }
                Some(head) => return Ok(head),
                None => self.fill().await?,
            }
        }
    }

    /// Reads more of the answer; the end of the stream is an error.
    async fn fill(&mut self) -> std::io::Result<()> {
        if self.fill_or_end().await? {
            Ok(())
        } else {
            Err(std::io::ErrorKind::UnexpectedEof.into())
        }
    }

    /// Reads more of the answer: false at the end of the stream.
    async fn fill_or_end(&mut self) -> std::io::Result<bool> {
        if self.read.len() >= MAX_ANSWER {
            return Err(invalid("answer too large"));
        }
        self.read.reserve(8 * 1024);
        Ok(self.stream.read_buf(&mut self.read).await? > 0)
    }

    async fn read_to_close(&mut self) -> std::io::Result<usize> {
        while self.fill_or_end().await? {}
        Ok(self.read.len())
    }

    /// Reads a chunked body starting at `at`; returns where the answer ends.
    async fn read_chunks(&mut self, mut at: usize) -> std::io::Result<usize> {
        loop {
            let (start, size) = loop {
                match httparse::parse_chunk_size(&self.read[at..]) {
                    Ok(httparse::Status::Complete((start, size))) => break (start, size),
                    Ok(httparse::Status::Partial) => self.fill().await?,
                    Err(_) => return Err(invalid("bad chunk size")),
                }
            };
            at += start;
            if size == 0 {
                return self.read_trailers(at).await;
            }
            let size = usize::try_from(size).map_err(|_| invalid("chunk too large"))?;
            let data_end = at
                .checked_add(size)
                .filter(|end| *end <= MAX_ANSWER)
                .ok_or_else(|| invalid("answer too large"))?;
            while self.read.len() < data_end + 2 {
                self.fill().await?;
            }
            if &self.read[data_end..data_end + 2] != b"\r\n" {
                return Err(invalid("a chunk does not end with CRLF"));
            }
            at = data_end + 2;
        }
    }

    /// Reads the trailer section after the last chunk, up to its empty line.
    async fn read_trailers(&mut self, at: usize) -> std::io::Result<usize> {
        loop {
            let mut trailers = [httparse::EMPTY_HEADER; 16];
            match httparse::parse_headers(&self.read[at..], &mut trailers) {
                Ok(httparse::Status::Complete((length, _))) => return Ok(at + length),
                Ok(httparse::Status::Partial) => self.fill().await?,
                Err(_) => return Err(invalid("bad trailers")),
            }
        }
    }
}

/// An answer's head: its status, whether the connection closes after it, its length and
/// how its body ends.
struct Head {
    status: u16,
    closes: bool,
    length: usize,
    framing: Framing,
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// The head at the start of `bytes`; `None` while it is incomplete.
fn parse_head(bytes: &[u8]) -> std::io::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(bytes) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(invalid(&format!("bad answer: {error}"))),
    };
    let status = response.code.unwrap_or(0);
    // HTTP/1.0 closes unless it says otherwise.
    let mut closes = response.version == Some(0);
    let (mut content_length, mut transfer_encoding) = (None, None);
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).map_err(|_| invalid("bad header"))?;
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = value
                .trim()
                .parse()
                .map_err(|_| invalid("bad content-length"))?;
            content_length = Some(length);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = Some(value);
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    closes = true;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    closes = false;
                }
            }
        }
    }
    let framing = if matches!(status, 100..=199 | 204 | 304) {
        Framing::Length(0)
    } else if let Some(codings) = transfer_encoding {
        // A transfer coding outranks a length; one that does not end in `chunked` is
        // read to the end of the stream.
        let last = codings.rsplit(',').next().unwrap_or("").trim();
        if last.eq_ignore_ascii_case("chunked") {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else {
        content_length.map_or(Framing::UntilClose, Framing::Length)
    };
    Ok(Some(Head {
        status,
        closes,
        length,
        framing,
    }))
}

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string())
}
