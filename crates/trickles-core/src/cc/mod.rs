//! Stateless congestion control (paper §2.3–§2.5): TCPCwnd in closed form,
//! the loss view of a SACK proof, and the per-trickle step.

pub mod cwnd;
pub mod loss;
pub mod step;

pub use cwnd::Piece;
pub use loss::LossView;
pub use step::{
    CcConfig, Plan, Slots, StepError, TimeoutPlan, Trickle, answer_syn, restart, step, timeout,
};
