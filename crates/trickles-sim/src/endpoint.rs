//! The interface between the simulator and the protocol code running on a
//! host. The real Trickles engines implement [`Endpoint`]; so does the
//! reference TCP Reno pair in [`crate::reno`].

use crate::time::SimTime;

/// Frames an endpoint wants to transmit from one callback. The simulator
/// drains it after the callback returns and puts every frame, in order, on
/// the host's outgoing link at the callback's `now`.
#[derive(Debug, Default)]
pub struct Tx {
    frames: Vec<Vec<u8>>,
}

impl Tx {
    /// An empty transmit batch.
    pub fn new() -> Tx {
        Tx::default()
    }

    /// Queue a complete Ethernet frame for transmission (copied).
    pub fn send(&mut self, frame: &[u8]) {
        self.frames.push(frame.to_vec());
    }

    /// Queue an owned frame without copying it.
    pub fn send_owned(&mut self, frame: Vec<u8>) {
        self.frames.push(frame);
    }

    /// Number of frames queued so far.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True if nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The queued frames, in send order.
    pub fn frames(&self) -> &[Vec<u8>] {
        &self.frames
    }

    /// Take the queued frames, leaving the batch empty.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Vec<u8>> {
        self.frames.drain(..)
    }
}

/// Protocol code attached to a simulated host.
///
/// All times are simulated. An endpoint must not read a clock or draw
/// randomness of its own (take a seed at construction instead), so that a
/// (scenario, seed) pair reproduces bit for bit.
pub trait Endpoint {
    /// A frame arrived at `now`. Frames to send go to `tx`.
    fn on_frame(&mut self, now: SimTime, frame: &[u8], tx: &mut Tx);
    /// Called at (or after) the time last returned by `next_timer`.
    fn on_timer(&mut self, now: SimTime, tx: &mut Tx);
    /// The earliest time this endpoint wants `on_timer`, if any.
    fn next_timer(&self) -> Option<SimTime>;
    /// Called once at start.
    fn on_start(&mut self, now: SimTime, tx: &mut Tx) {
        let _ = (now, tx);
    }
    /// True when the endpoint has finished its job (e.g. a client got all bytes).
    fn is_done(&self) -> bool {
        false
    }
}

/// Lets a caller keep ownership of an endpoint and lend it to the simulator
/// (`sim.set_endpoint(host, &mut my_endpoint)`), then read its results after
/// the simulator is dropped.
impl<E: Endpoint + ?Sized> Endpoint for &mut E {
    fn on_frame(&mut self, now: SimTime, frame: &[u8], tx: &mut Tx) {
        (**self).on_frame(now, frame, tx);
    }
    fn on_timer(&mut self, now: SimTime, tx: &mut Tx) {
        (**self).on_timer(now, tx);
    }
    fn next_timer(&self) -> Option<SimTime> {
        (**self).next_timer()
    }
    fn on_start(&mut self, now: SimTime, tx: &mut Tx) {
        (**self).on_start(now, tx);
    }
    fn is_done(&self) -> bool {
        (**self).is_done()
    }
}

impl<E: Endpoint + ?Sized> Endpoint for Box<E> {
    fn on_frame(&mut self, now: SimTime, frame: &[u8], tx: &mut Tx) {
        (**self).on_frame(now, frame, tx);
    }
    fn on_timer(&mut self, now: SimTime, tx: &mut Tx) {
        (**self).on_timer(now, tx);
    }
    fn next_timer(&self) -> Option<SimTime> {
        (**self).next_timer()
    }
    fn on_start(&mut self, now: SimTime, tx: &mut Tx) {
        (**self).on_start(now, tx);
    }
    fn is_done(&self) -> bool {
        (**self).is_done()
    }
}
