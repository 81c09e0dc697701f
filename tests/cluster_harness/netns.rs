//! Network partitions with Linux network namespaces and nftables (tc netem is not
//! available in this kernel).
//!
//! Each broker runs in a namespace of its own (`rill-<pid>-<k>-n<i>`) whose `eth0` is
//! one end of a veth pair; the other ends sit on a bridge in a hub namespace
//! (`rill-<pid>-<k>-hub`). The test process joins the same bridge through one more veth
//! pair from the root namespace, so it reaches every broker at `10.A.B.i` directly.
//! Cutting a broker off installs nftables rules in its namespace that drop every packet
//! to or from the other brokers (the test process still reaches it, to ask what it
//! thinks); healing deletes them.
//!
//! Namespaces are deleted on drop, and at creation any `rill-<pid>-...` namespace whose
//! process no longer exists (a run killed before its drop) is deleted first. Without
//! root or `ip`/`nft` the setup fails with the command's own error: the test fails, it
//! does not skip.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};

/// The nftables table the partition rules live in.
const TABLE: &str = "rill_partition";

/// A bridge network with one namespace per broker.
#[derive(Debug)]
pub struct Network {
    prefix: String,
    subnet: [u8; 3],
    brokers: usize,
    root_link: String,
}

/// Runs `program args`, failing with its stderr.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{program}` ({e}); install iproute2 and nftables"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Runs `program args` with `stdin` as its input, failing with its stderr.
fn run_with_input(program: &str, args: &[&str], stdin: &str) -> Result<(), String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{program}` ({e}); install nftables"))?;
    child
        .stdin
        .take()
        .expect("stdin piped")
        .write_all(stdin.as_bytes())
        .map_err(|e| format!("write to `{program}`: {e}"))?;
    let output = child
        .wait_with_output()
        .map_err(|e| format!("wait for `{program}`: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}\ninput:\n{stdin}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Deletes namespaces `rill-<pid>-...` left by test processes that no longer run.
fn remove_leftovers() {
    let Ok(output) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix("rill-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run("ip", &["netns", "delete", name]);
        }
    }
}

impl Network {
    /// Builds the hub, `brokers` broker namespaces and the root namespace's link, for
    /// this process's cluster number `cluster`.
    pub fn create(cluster: u32, brokers: usize) -> Result<Network, String> {
        remove_leftovers();
        let pid = std::process::id();
        let network = Network {
            prefix: format!("rill-{pid}-{cluster}"),
            // 10.A.B.0/24: A from the process id, B from the cluster number.
            subnet: [10, 100 + (pid % 100) as u8, (cluster % 256) as u8],
            brokers,
            root_link: format!("rill{}c{}", pid % 100_000, cluster % 100),
        };
        // A half-built network is torn down by its drop.
        network.build()?;
        Ok(network)
    }

    fn build(&self) -> Result<(), String> {
        let hub = self.hub();
        run("ip", &["netns", "add", &hub])?;
        run("ip", &["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        run("ip", &["-n", &hub, "link", "set", "br0", "up"])?;
        for i in 1..=self.brokers {
            let ns = self.namespace(i);
            let port = format!("n{i}");
            let addr = format!("{}/24", self.ip(i));
            run("ip", &["netns", "add", &ns])?;
            run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
            run(
                "ip",
                &[
                    "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                    "netns", &hub,
                ],
            )?;
            run("ip", &["-n", &hub, "link", "set", &port, "master", "br0"])?;
            run("ip", &["-n", &hub, "link", "set", &port, "up"])?;
            run("ip", &["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            run("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
        }
        let root = self.root_link.as_str();
        run(
            "ip",
            &[
                "link", "add", root, "type", "veth", "peer", "name", "uplink", "netns", &hub,
            ],
        )?;
        run(
            "ip",
            &["-n", &hub, "link", "set", "uplink", "master", "br0"],
        )?;
        run("ip", &["-n", &hub, "link", "set", "uplink", "up"])?;
        let root_addr = format!("{}/24", self.test_ip());
        run("ip", &["addr", "add", &root_addr, "dev", root])?;
        run("ip", &["link", "set", root, "up"])
    }

    fn hub(&self) -> String {
        format!("{}-hub", self.prefix)
    }

    /// The namespace of broker `index` (from 1).
    pub fn namespace(&self, index: usize) -> String {
        format!("{}-n{index}", self.prefix)
    }

    /// Broker `index`'s address.
    pub fn ip(&self, index: usize) -> IpAddr {
        let [a, b, c] = self.subnet;
        IpAddr::V4(Ipv4Addr::new(
            a,
            b,
            c,
            u8::try_from(index).expect("few brokers"),
        ))
    }

    /// The test process's address on the bridge.
    pub fn test_ip(&self) -> IpAddr {
        let [a, b, c] = self.subnet;
        IpAddr::V4(Ipv4Addr::new(a, b, c, 254))
    }

    /// Drops every packet between broker `index` and the brokers in `peers`, both ways
    /// (rules in `index`'s namespace); the test process still reaches it.
    pub fn cut(&self, index: usize, peers: &[usize]) -> Result<(), String> {
        let set: Vec<String> = peers.iter().map(|p| self.ip(*p).to_string()).collect();
        let set = set.join(", ");
        let rules = format!(
            "table inet {TABLE} {{\n\
             \tchain input {{ type filter hook input priority 0; policy accept; ip saddr {{ {set} }} drop; }}\n\
             \tchain output {{ type filter hook output priority 0; policy accept; ip daddr {{ {set} }} drop; }}\n\
             }}\n"
        );
        // Replace rather than add: cutting twice leaves one set of rules.
        let _ = self.heal(index);
        run_with_input(
            "ip",
            &["netns", "exec", &self.namespace(index), "nft", "-f", "-"],
            &rules,
        )
    }

    /// Removes the rules [`Network::cut`] installed in broker `index`'s namespace.
    pub fn heal(&self, index: usize) -> Result<(), String> {
        run(
            "ip",
            &[
                "netns",
                "exec",
                &self.namespace(index),
                "nft",
                "delete",
                "table",
                "inet",
                TABLE,
            ],
        )
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = run("ip", &["link", "delete", &self.root_link]);
        for i in 1..=self.brokers {
            let _ = run("ip", &["netns", "delete", &self.namespace(i)]);
        }
        let _ = run("ip", &["netns", "delete", &self.hub()]);
    }
}
