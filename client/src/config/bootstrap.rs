//! [`BootstrapServers`]: the brokers a client may dial first, as Kafka's
//! `bootstrap.servers`: a comma-separated string (`"a:9420,b:9420"`) or a list.
//!
//! The client tries them in order and moves to the next when one cannot be reached, so
//! a client keeps working while the first address is down.

/// One or more `host:port` addresses, kept as Kafka spells them: comma-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapServers(String);

impl BootstrapServers {
    /// The comma-separated form (`"a:9420,b:9420"`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Each address, trimmed, in the order given (empty entries skipped).
    pub fn addresses(&self) -> Vec<String> {
        self.0
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

impl std::fmt::Display for BootstrapServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for BootstrapServers {
    fn from(addresses: String) -> Self {
        Self(addresses)
    }
}

impl From<&String> for BootstrapServers {
    fn from(addresses: &String) -> Self {
        Self(addresses.clone())
    }
}

impl From<&str> for BootstrapServers {
    fn from(addresses: &str) -> Self {
        Self(addresses.to_owned())
    }
}

impl<S: AsRef<str>> From<Vec<S>> for BootstrapServers {
    fn from(addresses: Vec<S>) -> Self {
        Self::from(addresses.as_slice())
    }
}

impl<S: AsRef<str>> From<&[S]> for BootstrapServers {
    fn from(addresses: &[S]) -> Self {
        let joined: Vec<&str> = addresses.iter().map(AsRef::as_ref).collect();
        Self(joined.join(","))
    }
}

impl<S: AsRef<str>, const N: usize> From<[S; N]> for BootstrapServers {
    fn from(addresses: [S; N]) -> Self {
        Self::from(addresses.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_lists_give_the_same_addresses() {
        let from_str = BootstrapServers::from(" a:1, b:2 ,");
        let from_list = BootstrapServers::from(["a:1", "b:2"]);
        assert_eq!(from_str.addresses(), vec!["a:1", "b:2"]);
        assert_eq!(from_list.addresses(), vec!["a:1", "b:2"]);
        assert_eq!(from_list.as_str(), "a:1,b:2");
        let owned = BootstrapServers::from(vec!["c:3".to_owned()]);
        assert_eq!(owned.addresses(), vec!["c:3"]);
    }
}
