//! Round-trip time estimation and the retransmission timer (RFC 6298).

/// RFC 6298 §2 estimator, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttEstimator {
    srtt: Option<u64>,
    rttvar: u64,
    min_rto: u64,
    max_rto: u64,
    initial_rto: u64,
}

impl RttEstimator {
    /// An estimator with the given bounds (µs).
    pub fn new(initial_rto: u64, min_rto: u64, max_rto: u64) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: 0,
            min_rto,
            max_rto,
            initial_rto,
        }
    }

    /// Feed one sample (RFC 6298 §2.2–§2.3, α = 1/8, β = 1/4).
    pub fn sample(&mut self, rtt: u64) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                self.rttvar = (3 * self.rttvar + srtt.abs_diff(rtt)) / 4;
                self.srtt = Some((7 * srtt + rtt) / 8);
            }
        }
    }

    /// Smoothed RTT, if any sample was taken.
    pub fn srtt(&self) -> Option<u64> {
        self.srtt
    }

    /// The retransmission timeout (RFC 6298 §2.4, clock granularity 1 ms).
    pub fn rto(&self) -> u64 {
        let rto = match self.srtt {
            None => self.initial_rto,
            Some(srtt) => srtt + (4 * self.rttvar).max(1000),
        };
        rto.clamp(self.min_rto, self.max_rto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_rfc6298() {
        let mut e = RttEstimator::new(1_000_000, 200_000, 60_000_000);
        assert_eq!(e.rto(), 1_000_000);
        e.sample(100_000);
        // SRTT = R, RTTVAR = R/2, RTO = SRTT + 4·RTTVAR = 300 ms.
        assert_eq!(e.rto(), 300_000);
        for _ in 0..50 {
            e.sample(20_000);
        }
        // Converges to the floor.
        assert_eq!(e.rto(), 200_000);
        assert!(e.srtt().unwrap() < 25_000);
    }
}
