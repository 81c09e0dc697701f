//! Addresses for brokers on loopback: each broker of each test cluster gets a loopback
//! address of its own (`127.A.B.N`, all of 127/8 is loopback on Linux) and three ports
//! the kernel picked free on that address. Nothing else binds those addresses, so the
//! ports stay free between picking them and the broker binding them, and again when the
//! broker restarts on the same ones.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

/// The clusters this process started so far (each gets its own `127.A.B.0/24`).
static CLUSTERS: AtomicU32 = AtomicU32::new(0);

/// A number for the next cluster of this process, unique within it.
pub fn next_cluster_number() -> u32 {
    CLUSTERS.fetch_add(1, Ordering::Relaxed)
}

/// Where one broker listens: the native protocol, HTTP (/metrics) and the
/// inter-broker (Raft) listener share one IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeAddrs {
    /// The broker's own address.
    pub ip: IpAddr,
    /// Native protocol port (`--listen`).
    pub native_port: u16,
    /// HTTP port (`--http-listen`).
    pub http_port: u16,
    /// Inter-broker port (its `--cluster` entry).
    pub raft_port: u16,
    /// Kafka-protocol port (`--kafka-listen`, when the cluster has it).
    pub kafka_port: u16,
}

impl NodeAddrs {
    /// The native listener, what clients bootstrap from.
    pub fn native(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.native_port)
    }

    /// The HTTP listener.
    pub fn http(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.http_port)
    }

    /// The inter-broker listener.
    pub fn raft(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.raft_port)
    }

    /// The Kafka-protocol listener.
    pub fn kafka(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.kafka_port)
    }
}

/// `127.A.B.N` for broker `index` (from 1) of this process's cluster `cluster`: `A`
/// from the process id, `B` from the cluster number, so concurrent test processes and
/// clusters do not share addresses.
pub fn loopback_ip(cluster: u32, index: usize) -> IpAddr {
    let a = 1 + (std::process::id() % 250) as u8;
    let b = (cluster % 256) as u8;
    let n = u8::try_from(index).expect("fewer than 255 brokers");
    IpAddr::V4(Ipv4Addr::new(127, a, b, n))
}

/// Four distinct free ports on `ip`, bound together so the kernel cannot hand out the
/// same one twice, then released for the broker.
pub fn loopback_addrs(ip: IpAddr) -> NodeAddrs {
    let bind = || {
        TcpListener::bind(SocketAddr::new(ip, 0))
            .unwrap_or_else(|e| panic!("cannot bind a free port on {ip}: {e}"))
    };
    let (native, http, raft, kafka) = (bind(), bind(), bind(), bind());
    let port = |l: &TcpListener| l.local_addr().expect("bound").port();
    NodeAddrs {
        ip,
        native_port: port(&native),
        http_port: port(&http),
        raft_port: port(&raft),
        kafka_port: port(&kafka),
    }
}

/// Fixed ports on `ip`: inside a network namespace of its own, a broker owns every port.
pub fn namespace_addrs(ip: IpAddr) -> NodeAddrs {
    NodeAddrs {
        ip,
        native_port: 9420,
        http_port: 9640,
        raft_port: 9430,
        kafka_port: 9092,
    }
}
