//! A ready-made event loop over the minisocket API for applications that
//! map a request to a byte stream (the paper's stateless web server, §3
//! and §4.1–§4.3).
//!
//! The application describes a stream by a few bytes of data that ride in
//! the output continuation, and regenerates any byte range of it on
//! demand; requests longer than one packet are read through input
//! continuations (paper §4.2). [`StreamServer`] turns each minisocket
//! event into those calls.

use super::minisocket::{EventKind, MAX_APP_DATA, Minisocket, UcontSpec};
use super::{Server, ServerConfig, ServerStats};
use crate::crypto::{AppKey, KeyRing, ServerKeys};
use crate::time::Instant;

/// What the application says about a new stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// Length of the output stream in bytes.
    pub len: u64,
    /// Bytes of application data written (at most [`MAX_APP_DATA`]).
    pub app_data_len: usize,
}

/// The application's answer to request bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// The request is complete: here is its output.
    Output(Output),
    /// More input is needed. `consumed` bytes of input (counted from the
    /// first byte of the request) are accounted for by the `digest_len`
    /// bytes written to `app_data`; the client sends the rest from there.
    NeedInput {
        /// Request bytes consumed so far.
        consumed: u64,
        /// Bytes of digest written.
        digest_len: usize,
    },
}

/// The application refused a request (bad request, missing object,
/// changed object); the packet is dropped and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppRefusal;

/// A stateless stream application.
pub trait Application {
    /// The first request bytes (those the SYN carried). Write the opaque
    /// data of the output continuation (or the input digest) into
    /// `app_data`.
    fn open(
        &mut self,
        request: &[u8],
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Result<Opened, AppRefusal>;

    /// More request bytes: `input` starts at byte `consumed` of the
    /// request, and `digest` is what [`Opened::NeedInput`] recorded about
    /// the bytes before it. Applications whose requests always fit in one
    /// packet keep the default, which refuses.
    fn more_input(
        &mut self,
        digest: &[u8],
        consumed: u64,
        input: &[u8],
        app_data: &mut [u8; MAX_APP_DATA],
    ) -> Result<Opened, AppRefusal> {
        let _ = (digest, consumed, input, app_data);
        Err(AppRefusal)
    }

    /// Fill `buf` with the output bytes starting at `offset` of the stream
    /// described by `app_data`.
    fn fill(&mut self, app_data: &[u8], offset: u64, buf: &mut [u8]) -> Result<(), AppRefusal>;
}

/// The server engine driving an [`Application`].
#[derive(Debug)]
pub struct StreamServer<A> {
    server: Server,
    app: A,
}

impl<A: Application> StreamServer<A> {
    /// A server with its keys and application.
    pub fn new(
        cfg: ServerConfig,
        keys: KeyRing<ServerKeys>,
        app_keys: KeyRing<AppKey>,
        app: A,
    ) -> StreamServer<A> {
        StreamServer {
            server: Server::new(cfg, keys, app_keys),
            app,
        }
    }

    /// The engine.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The engine, mutably (key rotation, extract/install).
    pub fn server_mut(&mut self) -> &mut Server {
        &mut self.server
    }

    /// Counters.
    pub fn stats(&self) -> &ServerStats {
        self.server.stats()
    }

    /// Bytes of memory the engine holds (the application's own memory is
    /// not counted).
    pub fn memory_bytes(&self) -> usize {
        self.server.memory_bytes()
    }

    /// The application.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// Handle one received frame; answers go to `tx`.
    pub fn handle(&mut self, now: Instant, frame: &[u8], tx: &mut dyn FnMut(&[u8])) {
        for msk in self.server.handle(now, frame, tx) {
            self.serve(now, msk, tx);
        }
    }

    /// Answer one event (from `handle`, a detached event, or one
    /// installed from another replica).
    pub fn serve(&mut self, now: Instant, mut msk: Minisocket<'_>, tx: &mut dyn FnMut(&[u8])) {
        let mut app_data = [0u8; MAX_APP_DATA];
        let opened = match msk.kind() {
            EventKind::Close => return,
            EventKind::Open => self.app.open(msk.input(), &mut app_data),
            EventKind::Request if msk.awaiting_output() => match msk.input_cont() {
                Some(ic) => {
                    self.app
                        .more_input(ic.app_data(), ic.valid_start(), msk.input(), &mut app_data)
                }
                None => Err(AppRefusal),
            },
            EventKind::Request => {
                // The output has started: regenerate the requested bytes
                // from the client's output continuation.
                let Some(out) = msk.output() else {
                    self.server.refuse(msk);
                    return;
                };
                self.send_stream(now, msk, out.app_data(), tx);
                return;
            }
        };
        match opened {
            Ok(Opened::Output(o)) => {
                let data = &app_data[..o.app_data_len.min(MAX_APP_DATA)];
                let Some(spec) = UcontSpec::output(0, o.len, data) else {
                    self.server.refuse(msk);
                    return;
                };
                msk.set_output(spec);
                self.send_stream(now, msk, data, tx);
            }
            Ok(Opened::NeedInput {
                consumed,
                digest_len,
            }) => match UcontSpec::input(consumed, &app_data[..digest_len.min(MAX_APP_DATA)]) {
                Some(spec) => {
                    let _ = self.server.ask_input(now, msk, spec, tx);
                }
                None => self.server.refuse(msk),
            },
            Err(AppRefusal) => self.server.refuse(msk),
        }
    }
}

impl<A: Application> StreamServer<A> {
    /// Answer `msk` with the bytes the application regenerates from the
    /// stream described by `app_data`, written straight into each frame. A
    /// failure is counted by the engine (`send_errors`).
    fn send_stream(
        &mut self,
        now: Instant,
        msk: Minisocket<'_>,
        app_data: &[u8],
        tx: &mut dyn FnMut(&[u8]),
    ) {
        let app = &mut self.app;
        let _ = self.server.send_with(
            now,
            msk,
            &mut |seg, buf| app.fill(app_data, seg.offset, buf),
            tx,
        );
    }
}
