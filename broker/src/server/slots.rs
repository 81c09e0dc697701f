//! Connection slots: the broker-wide connection limit and the per-client-IP limit.
//!
//! The accept loop takes a [`Slot`] for every connection before serving it; dropping the
//! slot (when the connection ends) gives it back. The per-IP limit keeps one host from
//! taking every slot: an IPv4 address is one host, and so is an IPv6 /64 (one host is
//! routinely given a whole /64, so counting single IPv6 addresses would limit nothing).
//! The table of client hosts holds only those with an open connection, so it never has
//! more entries than the broker has connections.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Why a connection was refused a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `max_connections` connections are open.
    Total,
    /// `max_connections_per_ip` connections from this client IP are open.
    PerIp,
}

/// Open connections, in total and per client IP, against their limits.
#[derive(Debug)]
pub struct ConnectionSlots {
    max_total: usize,
    max_per_ip: usize,
    open: Mutex<OpenConnections>,
}

#[derive(Debug, Default)]
struct OpenConnections {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One taken slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<ConnectionSlots>,
    ip: IpAddr,
}

impl ConnectionSlots {
    /// Slots for `max_total` connections, at most `max_per_ip` from one client IP.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<ConnectionSlots> {
        Arc::new(ConnectionSlots {
            max_total,
            max_per_ip,
            open: Mutex::new(OpenConnections::default()),
        })
    }

    /// Takes a slot for a connection from `ip`, or says which limit refuses it.
    pub fn try_take(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refused> {
        let ip = client_host(ip);
        let mut open = self.lock();
        if open.total >= self.max_total {
            return Err(Refused::Total);
        }
        let from_ip = open.per_ip.entry(ip).or_insert(0);
        if *from_ip >= self.max_per_ip {
            return Err(Refused::PerIp);
        }
        *from_ip += 1;
        open.total += 1;
        Ok(Slot {
            slots: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// Client IPs with at least one connection open now.
    pub fn client_ips(&self) -> usize {
        self.lock().per_ip.len()
    }

    fn lock(&self) -> MutexGuard<'_, OpenConnections> {
        // The counts stay consistent under a panic elsewhere: each update is complete
        // before the guard drops.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn give_back(&self, ip: IpAddr) {
        let mut open = self.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(from_ip) = open.per_ip.get_mut(&ip) {
            *from_ip = from_ip.saturating_sub(1);
            if *from_ip == 0 {
                open.per_ip.remove(&ip);
            }
        }
    }
}

/// The key a client's connections are counted under: its IPv4 address (IPv4-mapped IPv6
/// included), or the /64 prefix of its IPv6 address.
fn client_host(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.give_back(self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn per_ip_limit_refuses_one_host_but_not_others() {
        let slots = ConnectionSlots::new(10, 2);
        let a1 = slots.try_take(ip(1)).unwrap();
        let _a2 = slots.try_take(ip(1)).unwrap();
        assert_eq!(slots.try_take(ip(1)).unwrap_err(), Refused::PerIp);
        let _b = slots.try_take(ip(2)).unwrap();
        drop(a1);
        let _a3 = slots.try_take(ip(1)).unwrap();
        assert_eq!(slots.open(), 3);
    }

    #[test]
    fn total_limit_refuses_everyone_and_frees_on_drop() {
        let slots = ConnectionSlots::new(2, 5);
        let a = slots.try_take(ip(1)).unwrap();
        let _b = slots.try_take(ip(2)).unwrap();
        assert_eq!(slots.try_take(ip(3)).unwrap_err(), Refused::Total);
        drop(a);
        let _c = slots.try_take(ip(3)).unwrap();
        assert_eq!(slots.client_ips(), 2);
    }

    #[test]
    fn the_ip_table_forgets_hosts_without_connections() {
        let slots = ConnectionSlots::new(10, 10);
        for last in 1..=5 {
            drop(slots.try_take(ip(last)).unwrap());
        }
        assert_eq!(slots.client_ips(), 0);
        assert_eq!(slots.open(), 0);
    }

    #[test]
    fn addresses_of_one_ipv6_slash_64_count_as_one_host() {
        let slots = ConnectionSlots::new(10, 2);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _a = slots.try_take(a).unwrap();
        let _b = slots.try_take(b).unwrap();
        let c: IpAddr = "2001:db8:1:2:1:2:3:4".parse().unwrap();
        assert_eq!(slots.try_take(c).unwrap_err(), Refused::PerIp);
        let _other = slots.try_take(other).unwrap();
        assert_eq!(slots.client_ips(), 2);
    }

    #[test]
    fn an_ipv4_mapped_ipv6_peer_counts_as_its_ipv4_address() {
        let slots = ConnectionSlots::new(10, 1);
        let _v4 = slots.try_take(ip(9)).unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.9".parse().unwrap();
        assert_eq!(slots.try_take(mapped).unwrap_err(), Refused::PerIp);
    }
}
