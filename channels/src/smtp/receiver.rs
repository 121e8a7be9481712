//! [`SmtpReceiver`]: a small plain-text SMTP server for the sandbox and tests. It accepts what
//! lettre (and any ordinary client) sends, rejects recipients at magic domains the way a real
//! server does, and hands each accepted message to a channel.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

/// Longest command or text line accepted, CRLF included (RFC 5321 asks for 512 and 1000; a little
/// slack costs nothing and spares sloppy clients).
const MAX_LINE: usize = 4096;
const MAX_RECIPIENTS: usize = 100;

/// One message as it arrived: the envelope and the raw message (headers and body, dot-unstuffed).
#[derive(Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The reverse path from `MAIL FROM`, without angle brackets; empty for the null sender.
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub data: Vec<u8>,
}

/// Mail is patient data: `Debug` shows sizes and domains only.
impl std::fmt::Debug for ReceivedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let domains: Vec<&str> = self.recipients.iter().map(|r| domain_of(r)).collect();
        f.debug_struct("ReceivedMail")
            .field("envelope_from_domain", &domain_of(&self.envelope_from))
            .field("recipient_domains", &domains)
            .field("data_bytes", &self.data.len())
            .finish()
    }
}

/// A message waiting to be kept. The client hears `250` only once [`MailToKeep::kept`] is
/// called, so whatever the server says it accepted is already stored; refused or dropped, the
/// client hears `451` and keeps the message itself.
#[derive(Debug)]
pub struct MailToKeep {
    pub mail: ReceivedMail,
    answer: oneshot::Sender<bool>,
}

impl MailToKeep {
    pub fn kept(self) {
        let _ = self.answer.send(true);
    }

    pub fn not_kept(self) {
        let _ = self.answer.send(false);
    }
}

/// How the receiver answers.
#[derive(Debug, Clone)]
pub struct ReceiverRules {
    /// Recipients at these domains get `550 5.1.1 mailbox unavailable` (a hard bounce).
    pub reject_domains: Vec<String>,
    /// Recipients at these domains get `451 4.3.0` (a transient failure).
    pub defer_domains: Vec<String>,
    /// Larger messages get `552 5.3.4`.
    pub max_message_bytes: usize,
    /// A client silent this long is told `421` and disconnected.
    pub idle_timeout: Duration,
}

impl Default for ReceiverRules {
    /// The sandbox's magic domains: `bounce.test` bounces, `defer.test` is deferred.
    fn default() -> Self {
        Self {
            reject_domains: vec!["bounce.test".into()],
            defer_domains: vec!["defer.test".into()],
            max_message_bytes: 10 * 1024 * 1024,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// A running receiver. Dropping it stops accepting and ends every open session.
#[derive(Debug)]
pub struct SmtpReceiver {
    local_addr: SocketAddr,
    /// Never sent on: dropping it is the shutdown signal every task watches.
    _shutdown: watch::Sender<()>,
}

impl SmtpReceiver {
    /// Binds `bind` (port 0 picks a free port) and serves until the handle is dropped. Accepted
    /// messages arrive on the returned channel, and are answered `250` once they are in it;
    /// while it is full, sessions wait at end of DATA.
    pub async fn start(
        bind: SocketAddr,
        rules: ReceiverRules,
    ) -> io::Result<(SmtpReceiver, mpsc::Receiver<ReceivedMail>)> {
        let (receiver, mut to_keep) = Self::start_keeping(bind, rules).await?;
        let (mail_tx, mail_rx) = mpsc::channel(256);
        tokio::spawn(async move {
            while let Some(MailToKeep { mail, answer }) = to_keep.recv().await {
                let _ = answer.send(mail_tx.send(mail).await.is_ok());
            }
        });
        Ok((receiver, mail_rx))
    }

    /// Like [`SmtpReceiver::start`], but each message is answered only when its collector says
    /// it was kept: a server that answers `250` before its store has the message can lose mail
    /// the client believes delivered.
    pub async fn start_keeping(
        bind: SocketAddr,
        rules: ReceiverRules,
    ) -> io::Result<(SmtpReceiver, mpsc::Receiver<MailToKeep>)> {
        let listener = TcpListener::bind(bind).await?;
        let local_addr = listener.local_addr()?;
        let (shutdown, watch) = watch::channel(());
        let (mail_tx, mail_rx) = mpsc::channel(256);
        tokio::spawn(accept_loop(listener, rules, mail_tx, watch));
        Ok((
            SmtpReceiver {
                local_addr,
                _shutdown: shutdown,
            },
            mail_rx,
        ))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

async fn accept_loop(
    listener: TcpListener,
    rules: ReceiverRules,
    mail: mpsc::Sender<MailToKeep>,
    mut shutdown: watch::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let session = Session::new(rules.clone(), mail.clone());
                    let mut shutdown = shutdown.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = shutdown.changed() => {}
                            result = session.run(stream) => {
                                if let Err(err) = result {
                                    tracing::debug!(%peer, %err, "smtp session ended with an error");
                                }
                            }
                        }
                    });
                }
                // Out of file descriptors and the like: pause instead of spinning.
                Err(err) => {
                    tracing::warn!(%err, "smtp receiver could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, domain)| domain)
}

/// The address inside `<…>` after `FROM:` / `TO:`, ignoring ESMTP parameters after it.
fn path_argument<'a>(argument: &'a str, keyword: &str) -> Option<&'a str> {
    let rest = argument.get(..keyword.len())?;
    if !rest.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = argument[keyword.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(&inner[..end])
}

enum Line {
    Complete,
    TooLong,
    Closed,
}

/// Reads one line (with its line ending) into `buf`, refusing to buffer more than [`MAX_LINE`].
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, buf: &mut Vec<u8>) -> io::Result<Line> {
    buf.clear();
    let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX);
    let read = (&mut *reader).take(limit).read_until(b'\n', buf).await?;
    if read == 0 {
        Ok(Line::Closed)
    } else if buf.ends_with(b"\n") {
        Ok(Line::Complete)
    } else if read >= MAX_LINE {
        Ok(Line::TooLong)
    } else {
        // EOF in the middle of a line.
        Ok(Line::Closed)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum DataError {
    TooLarge,
    LineTooLong,
    Closed,
    Idle,
}

/// Reads message content after `354` up to the lone `.` line, undoing dot-stuffing (RFC 5321
/// §4.5.2: a line starting with `.` was sent with one more `.`). Keeps reading past the size
/// limit, so the client's `.` still ends the transaction and the session stays in step. The idle
/// limit applies per line, so a large message on a slow link is not cut off.
async fn read_data<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max_bytes: usize,
    idle: Duration,
) -> io::Result<Result<Vec<u8>, DataError>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    let mut too_large = false;
    loop {
        let Ok(read) = tokio::time::timeout(idle, read_line(reader, &mut line)).await else {
            return Ok(Err(DataError::Idle));
        };
        match read? {
            Line::Complete => {}
            Line::TooLong => return Ok(Err(DataError::LineTooLong)),
            Line::Closed => return Ok(Err(DataError::Closed)),
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(if too_large {
                Err(DataError::TooLarge)
            } else {
                Ok(data)
            });
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + unstuffed.len() > max_bytes {
            too_large = true;
            data.clear();
        } else if !too_large {
            data.extend_from_slice(unstuffed);
        }
    }
}

struct Session {
    rules: ReceiverRules,
    mail: mpsc::Sender<MailToKeep>,
    from: Option<String>,
    recipients: Vec<String>,
}

impl Session {
    fn new(rules: ReceiverRules, mail: mpsc::Sender<MailToKeep>) -> Self {
        Self {
            rules,
            mail,
            from: None,
            recipients: Vec::new(),
        }
    }

    fn reset(&mut self) {
        self.from = None;
        self.recipients.clear();
    }

    fn matches(domains: &[String], address: &str) -> bool {
        let domain = domain_of(address);
        domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }

    async fn run(mut self, stream: TcpStream) -> io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        let mut line = Vec::new();
        write
            .write_all(b"220 medrelay-sandbox ESMTP ready\r\n")
            .await?;
        loop {
            let read =
                tokio::time::timeout(self.rules.idle_timeout, read_line(&mut reader, &mut line));
            let reply = match read.await {
                Err(_) => Reply::Close(IDLE),
                Ok(read) => match read? {
                    Line::Complete => self.command(&line, &mut reader, &mut write).await?,
                    Line::TooLong => Reply::Close(LINE_TOO_LONG),
                    Line::Closed => Reply::Gone,
                },
            };
            match reply {
                Reply::Go(text) => write.write_all(&text).await?,
                Reply::Close(text) => return write.write_all(text).await,
                Reply::Gone => return Ok(()),
            }
        }
    }

    /// Answers one command line.
    async fn command<R, W>(
        &mut self,
        line: &[u8],
        reader: &mut R,
        write: &mut W,
    ) -> io::Result<Reply>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, argument) = text.split_once(' ').unwrap_or((text, ""));
        let reply = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                self.reset();
                let size = self.rules.max_message_bytes;
                return Ok(Reply::Go(Cow::Owned(
                    format!("250-medrelay-sandbox\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE {size}\r\n")
                        .into_bytes(),
                )));
            }
            "HELO" => {
                self.reset();
                b"250 medrelay-sandbox\r\n"
            }
            "MAIL" => self.mail_from(argument),
            "RCPT" => self.rcpt_to(argument),
            "DATA" => return self.data(reader, write).await,
            "RSET" => {
                self.reset();
                b"250 2.0.0 ok\r\n"
            }
            "NOOP" => b"250 2.0.0 ok\r\n",
            "VRFY" => b"252 2.5.0 cannot verify, will try delivery\r\n",
            "QUIT" => return Ok(Reply::Close(b"221 2.0.0 bye\r\n")),
            _ => b"502 5.5.2 command not implemented\r\n",
        };
        Ok(Reply::Go(Cow::Borrowed(reply)))
    }

    fn mail_from(&mut self, argument: &str) -> &'static [u8] {
        match (&self.from, path_argument(argument, "FROM:")) {
            (Some(_), _) => b"503 5.5.1 nested MAIL command\r\n",
            (None, None) => b"501 5.5.4 syntax: MAIL FROM:<address>\r\n",
            (None, Some(path)) => {
                self.from = Some(path.to_owned());
                b"250 2.1.0 ok\r\n"
            }
        }
    }

    /// Takes a recipient, or refuses it as a real server would: the magic domains bounce or
    /// defer, and past [`MAX_RECIPIENTS`] there is no room.
    fn rcpt_to(&mut self, argument: &str) -> &'static [u8] {
        match (&self.from, path_argument(argument, "TO:")) {
            (None, _) => b"503 5.5.1 need MAIL before RCPT\r\n",
            (Some(_), None) => b"501 5.5.4 syntax: RCPT TO:<address>\r\n",
            (Some(_), Some(path)) if Self::matches(&self.rules.reject_domains, path) => {
                b"550 5.1.1 mailbox unavailable\r\n"
            }
            (Some(_), Some(path)) if Self::matches(&self.rules.defer_domains, path) => {
                b"451 4.3.0 mailbox temporarily unavailable, try again later\r\n"
            }
            (Some(_), Some(_)) if self.recipients.len() >= MAX_RECIPIENTS => {
                b"452 4.5.3 too many recipients\r\n"
            }
            (Some(_), Some(path)) => {
                self.recipients.push(path.to_owned());
                b"250 2.1.5 ok\r\n"
            }
        }
    }

    /// Reads the message after `354` and answers `250` only once it is kept.
    async fn data<R, W>(&mut self, reader: &mut R, write: &mut W) -> io::Result<Reply>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        if self.from.is_none() || self.recipients.is_empty() {
            return Ok(Reply::Go(Cow::Borrowed(
                b"503 5.5.1 need MAIL and RCPT before DATA\r\n",
            )));
        }
        write
            .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
            .await?;
        let data = read_data(
            reader,
            self.rules.max_message_bytes,
            self.rules.idle_timeout,
        );
        let reply: &[u8] = match data.await? {
            Ok(data) => self.keep(data).await,
            Err(DataError::TooLarge) => b"552 5.3.4 message too big\r\n",
            Err(DataError::LineTooLong) => return Ok(Reply::Close(LINE_TOO_LONG)),
            Err(DataError::Idle) => return Ok(Reply::Close(IDLE)),
            Err(DataError::Closed) => return Ok(Reply::Gone),
        };
        self.reset();
        Ok(Reply::Go(Cow::Borrowed(reply)))
    }

    async fn keep(&mut self, data: Vec<u8>) -> &'static [u8] {
        let mail = ReceivedMail {
            envelope_from: self.from.take().unwrap_or_default(),
            recipients: std::mem::take(&mut self.recipients),
            data,
        };
        let (answer, kept) = oneshot::channel();
        let queued = self.mail.send(MailToKeep { mail, answer }).await;
        // Not kept, or nobody collects mail any more: say so rather than lose it.
        match (queued, kept.await) {
            (Ok(()), Ok(true)) => b"250 2.0.0 ok: queued\r\n",
            _ => b"451 4.3.0 mail store unavailable\r\n",
        }
    }
}

const IDLE: &[u8] = b"421 4.4.2 idle too long, closing\r\n";
const LINE_TOO_LONG: &[u8] = b"500 5.5.6 line too long, closing\r\n";

/// What the session answers a command with.
enum Reply {
    /// Answer, then read the next command.
    Go(Cow<'static, [u8]>),
    /// Answer, then close the connection.
    Close(&'static [u8]),
    /// The client went away: close without a word.
    Gone,
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn data_of(raw: &[u8], max: usize) -> Result<Vec<u8>, DataError> {
        let mut reader = raw;
        read_data(&mut reader, max, Duration::from_secs(5))
            .await
            .expect("reading from memory cannot fail")
    }

    #[tokio::test]
    async fn dot_stuffed_lines_lose_one_leading_dot_and_a_lone_dot_ends_the_data() {
        let raw = b"Subject: x\r\n\r\n..hidden dot\r\n..\r\n...\r\nlast\r\n.\r\nNOOP\r\n";
        let data = data_of(raw, 1024).await.expect("the data is complete");
        assert_eq!(
            data,
            b"Subject: x\r\n\r\n.hidden dot\r\n.\r\n..\r\nlast\r\n".to_vec()
        );
    }

    #[tokio::test]
    async fn a_lone_dot_needs_its_own_line_to_end_the_data() {
        let data = data_of(b"a.\r\n.b\r\n .\r\n.\r\n", 1024)
            .await
            .expect("the data is complete");
        assert_eq!(data, b"a.\r\nb\r\n .\r\n".to_vec());
    }

    #[tokio::test]
    async fn data_over_the_size_limit_is_refused_once_the_client_finishes() {
        assert_eq!(
            data_of(b"0123456789\r\n.\r\n", 5).await,
            Err(DataError::TooLarge)
        );
    }

    #[tokio::test]
    async fn data_cut_off_before_the_dot_is_not_a_message() {
        assert_eq!(
            data_of(b"half a message\r\n", 1024).await,
            Err(DataError::Closed)
        );
    }

    #[tokio::test]
    async fn endless_lines_are_refused_instead_of_buffered() {
        let long = vec![b'x'; MAX_LINE * 2];
        assert_eq!(
            data_of(&long, usize::MAX).await,
            Err(DataError::LineTooLong)
        );
    }

    #[test]
    fn paths_are_read_from_inside_the_angle_brackets() {
        assert_eq!(
            path_argument("FROM:<a@b.example> BODY=8BITMIME", "FROM:"),
            Some("a@b.example")
        );
        assert_eq!(path_argument("from: <>", "FROM:"), Some(""));
        assert_eq!(path_argument("TO:a@b.example", "TO:"), None);
        assert_eq!(path_argument("TO:<a@b.example>", "FROM:"), None);
    }
}
