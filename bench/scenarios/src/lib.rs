//! The scenario benchmarks (`trickles-bench`): each scenario
//! runs on veth pairs between network namespaces it creates and removes,
//! measures Trickles on AF_XDP against a baseline taken in the same run,
//! and returns a [`report::Report`] (raw runs, summary, table, plot).

pub mod balance;
pub mod bulk;
pub mod clients;
pub mod closed_loop;
pub mod failover;
pub mod flood;
pub mod friendliness;
pub mod kernel_clients;
pub mod objects;
pub mod process;
pub mod replicas;
pub mod report;
