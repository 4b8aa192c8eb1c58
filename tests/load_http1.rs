//! The load generator's HTTP/1.1 client (`benches/common/http1.rs`): a bench target runs
//! without a test harness, so its client is checked here, against a listener that sends
//! the exact bytes of each case (how an answer ends, interim answers, a server that
//! closed an idle connection, answers that are not what was asked for).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[path = "../benches/common/http1.rs"]
mod http1;

use http1::{Connection, Failed, Request, Template};

/// A listener that, for each connection in turn, reads one request per answer of its
/// list and writes that answer (in pieces, to split it across reads), then closes.
async fn serve(connections: Vec<Vec<&'static [u8]>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        for answers in connections {
            let (mut socket, _) = listener.accept().await.expect("accept");
            for answer in answers {
                let mut request = [0_u8; 4096];
                let _ = socket.read(&mut request).await.expect("request");
                for piece in answer.chunks(7) {
                    socket.write_all(piece).await.expect("answer");
                    socket.flush().await.expect("flush");
                }
            }
        }
    });
    address
}

fn get() -> Vec<u8> {
    let request = Request::new("GET", "/x", "127.0.0.1", &[], None);
    let mut wire = Vec::new();
    request.write(&mut wire, &mut Vec::new(), b"1", b"");
    wire
}

async fn one_answer(answer: &'static [u8]) -> Result<(u16, bool), String> {
    let address = serve(vec![vec![answer]]).await;
    let mut connection = Connection::open(&[address]).await.expect("connect");
    match connection.exchange(&get()).await {
        Ok(answer) => Ok((answer.status, answer.closes)),
        Err(Failed::Stale) => Err("stale".into()),
        Err(Failed::Io(error)) => Err(error.to_string()),
    }
}

#[test]
fn a_template_fills_numbers_and_values_in_either_spelling() {
    let mut out = Vec::new();
    Template::new("a{n}b%7Bv%7Dc{v}{n}").write(&mut out, b"7", b"x");
    assert_eq!(out, b"a7bxcx7");
}

#[test]
fn a_request_carries_its_headers_and_its_body_s_length() {
    let request = Request::new(
        "POST",
        "/p/{v}",
        "127.0.0.1:1",
        &["X-N: {n}".into()],
        Some("body {n}"),
    );
    let (mut out, mut scratch) = (Vec::new(), Vec::new());
    request.write(&mut out, &mut scratch, b"12", b"s");
    assert_eq!(
        out,
        b"POST /p/s HTTP/1.1\r\nHost: 127.0.0.1:1\r\nX-N: 12\r\nContent-Length: 7\r\n\r\nbody 12"
    );
}

#[tokio::test]
async fn answers_end_where_their_framing_says() {
    let cases: [(&'static [u8], u16, bool); 6] = [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, false),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
            200, false,
        ),
        // A transfer coding outranks a length.
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            200, false,
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 404, false),
        (b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n", 200, true),
        // Neither a length nor a coding: the answer ends when the server closes.
        (b"HTTP/1.0 200 OK\r\n\r\nto the end", 200, true),
    ];
    for (answer, status, closes) in cases {
        let outcome = one_answer(answer).await;
        let shown = String::from_utf8_lossy(answer);
        assert_eq!(outcome, Ok((status, closes)), "{shown}");
    }
}

#[tokio::test]
async fn answers_that_break_their_framing_are_errors() {
    for answer in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"[..],
        // The piece of 7 bytes that ends the head carries `okEX`: read with it.
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"not http\r\n\r\n",
    ] {
        let outcome = one_answer(answer).await;
        assert!(
            outcome.as_ref().is_err_and(|error| error != "stale"),
            "{}: {outcome:?}",
            String::from_utf8_lossy(answer)
        );
    }
}

#[tokio::test]
async fn a_connection_closed_after_an_answer_is_stale_on_the_next_request() {
    let address = serve(vec![vec![b"HTTP/1.1 204 No Content\r\n\r\n"]]).await;
    let mut connection = Connection::open(&[address]).await.expect("connect");
    let first = connection.exchange(&get()).await;
    assert!(matches!(first, Ok(ref answer) if answer.status == 204 && !answer.closes));
    assert!(matches!(
        connection.exchange(&get()).await,
        Err(Failed::Stale)
    ));
}

#[tokio::test]
async fn a_connection_closed_before_its_first_answer_is_an_error_not_stale() {
    let address = serve(vec![vec![b""]]).await;
    let mut connection = Connection::open(&[address]).await.expect("connect");
    assert!(matches!(
        connection.exchange(&get()).await,
        Err(Failed::Io(_))
    ));
}
