//! How arrival times were taken: the value types shared by the client, which stamps every
//! socket read (`client::rx`), and the metrics, which report on those stamps
//! (`metrics::health`). They live here, below both, so neither depends on the other.

use serde::{Deserialize, Serialize};

/// Where arrival times come from (`--rx-timestamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RxTimestamp {
    /// The kernel's receive timestamp of the newest segment a read returned (Linux), falling
    /// back to the read's return time where the kernel gave none.
    #[default]
    Kernel,
    /// The time the socket read returned in the client.
    User,
}

/// Socket read lag: how long received bytes waited in the kernel before the client's read
/// returned them (read return − the kernel's receive stamp), per read, ms. Percentiles come
/// from a log-linear histogram (within 12.5 %); `max` is exact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadLag {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    /// Reads the kernel stamped (the lag is over these) and reads it did not.
    pub stamped_reads: u64,
    pub unstamped_reads: u64,
    /// Token events that reached the client in one read with a later event of their stream
    /// when that read was late (lag > 1 ms), all but the newest of each group: they carry the
    /// newest segment's stamp, an upper bound of their arrival. The verdict counts them
    /// against all token events.
    #[serde(default)]
    pub late_shared_stamps: u64,
}
