//! `rilld`: the Rill broker.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("rilld: the server is not built yet")
}
