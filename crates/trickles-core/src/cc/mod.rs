//! Stateless congestion control (paper §2.3–§2.5).

pub mod cwnd;

pub use cwnd::Piece;
